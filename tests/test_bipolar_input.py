"""A BipolarQuant on the raw input is the input quantizer: every quantizer of the graph is bipolar.

The streamlined graph takes the +-1 codes sign(x) (x >= 0 -> +1), the hardware
graph takes bits (1 = +1), so the first MVTU runs in XNOR mode. Brevitas forward
on float inputs == golden model on those bits, for the class and the last
layer's integers; the MLP also goes through RTL simulation.
"""
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn as nn
from golden_checks import assert_golden_equals_brevitas, brevitas_scores
from qonnx.core.datatype import DataType
from qonnx.core.onnx_exec import execute_onnx

from flows.build.steps import step_streamline
from flows.build.inputs import Inputs
from flows.errors import UnsupportedNodeError
from flows.frontend.export import export_qonnx
from flows.build.fold import auto_fold
from flows.sim.golden import run_golden
from flows.frontend.lower import lower_to_hw, score_node, to_hw_layout, without_label_select
from flows.backends.rtlgen import generate_rtl
from flows.sim.rtlsim import simulate
from flows.frontend.streamline import INPUT_NAME, streamline
from models.layers import binary_act
from models.zoo.binarydensenet import DenseBlock
from models.zoo.blocks import classifier, conv_sign, linear_sign, pooled_head

MLP_SHAPE = (1, 4, 4)
CONV_SHAPE = (2, 8, 8)


def _randomise(model: nn.Module, x: np.ndarray, seed: int) -> None:
    """Gains and biases as test_compile_zoo draws them; BN statistics measured on x.

    Statistics drawn blind leave most outputs of a small layer constant; measured
    ones put the thresholds where the accumulators are.
    """
    g = torch.Generator().manual_seed(seed)
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    with torch.no_grad():
        for m in model.modules():
            for name, std in (("gain", 1.0), ("bias", 0.3)):
                p = getattr(m, name, None)
                if isinstance(p, nn.Parameter) and m not in bns:
                    p.copy_(torch.randn(p.shape, generator=g) * std)
        for m in bns:
            m.momentum = None  # one training pass sets the running statistics to the batch's
        model.train()(torch.as_tensor(x))
        for m in bns:
            m.weight.copy_(torch.randn(m.weight.shape, generator=g))
            m.bias.copy_(torch.randn(m.bias.shape, generator=g))
    model.eval()


def _mlp(batchnorm: bool) -> nn.Sequential:
    return nn.Sequential(nn.Flatten(), binary_act(), linear_sign(16, 12, batchnorm), linear_sign(12, 9, batchnorm),
                         classifier(9, 5))


def _convnet(batchnorm: bool, pad_value: float) -> nn.Sequential:
    return nn.Sequential(
        binary_act(),
        conv_sign(2, 5, 3, batchnorm, padding=1, pad_value=pad_value),
        nn.MaxPool2d(2),
        conv_sign(5, 7, 3, batchnorm, padding=1, pad_value=-pad_value),
        pooled_head(7, 4, 4),
    )


def _inputs(shape: tuple[int, ...], n: int, seed: int) -> np.ndarray:
    """Float inputs with exact zeros among them: sign(0) is +1, the edge a threshold could get wrong."""
    x = np.random.default_rng(seed).standard_normal((n, *shape)).astype(np.float32)
    x[np.random.default_rng(seed + 1).random(x.shape) < 0.1] = 0.0
    return x


def _compile(model: nn.Module, x: np.ndarray):
    _randomise(model, x, 1)
    streamlined = streamline(export_qonnx(model, x.shape[1:]))
    return streamlined, lower_to_hw(streamlined)


def _first_mvtu_is_xnor(hw) -> bool:
    first = hw.get_nodes_by_op_type("MVTU")[0]
    return next(a.i for a in first.attribute if a.name == "binaryXnorMode") == 1


@pytest.mark.parametrize("batchnorm", [False, True])
def test_mlp_golden_equals_brevitas(batchnorm):
    torch.manual_seed(0)
    model = _mlp(batchnorm)
    x = _inputs(MLP_SHAPE, 256, 2)
    streamlined, hw = _compile(model, x)
    assert streamlined.get_tensor_datatype(INPUT_NAME) == DataType["BIPOLAR"]
    assert hw.get_tensor_datatype(INPUT_NAME) == DataType["BINARY"]
    assert _first_mvtu_is_xnor(hw)
    scores = brevitas_scores(model, x)
    assert_golden_equals_brevitas(hw, (x >= 0).astype(np.int64), scores)
    # The streamlined graph takes sign(x) as +-1 and computes the QONNX graph's real scores.
    signs = np.where(x >= 0, 1.0, -1.0).astype(np.float32)
    out = np.concatenate([execute_onnx(streamlined, {INPUT_NAME: s[None]})[streamlined.graph.output[0].name]
                          for s in signs[:16]])
    assert np.array_equal(out, scores[:16])


@pytest.mark.parametrize("batchnorm", [False, True])
@pytest.mark.parametrize("pad_value", [-1.0, 1.0])
def test_convnet_golden_equals_brevitas(batchnorm, pad_value):
    torch.manual_seed(0)
    model = _convnet(batchnorm, pad_value)
    x = _inputs(CONV_SHAPE, 128, 3)
    _, hw = _compile(model, x)
    assert _first_mvtu_is_xnor(hw)
    # The first window generator pads the input bits with the code of the pad value.
    swg = hw.get_nodes_by_op_type("SlidingWindow")[0]
    assert next(a.i for a in swg.attribute if a.name == "PadValue") == int(pad_value > 0)
    assert_golden_equals_brevitas(hw, (x >= 0).astype(np.int64), brevitas_scores(model, x))


@pytest.mark.parametrize("batchnorm", [False, True])
def test_dense_block_concatenates_the_input_bits(batchnorm):
    """The input stream and a layer's thresholded output share one encoding, so they concatenate."""
    torch.manual_seed(0)
    model = nn.Sequential(binary_act(), DenseBlock(2, 3, 2, batchnorm, 1.0), nn.MaxPool2d(2), pooled_head(8, 3, 4))
    x = _inputs(CONV_SHAPE, 128, 5)
    _, hw = _compile(model, x)
    concat = hw.get_nodes_by_op_type("StreamConcat")[0]
    assert concat.input[0] == INPUT_NAME
    assert_golden_equals_brevitas(hw, (x >= 0).astype(np.int64), brevitas_scores(model, x))


def test_zero_padding_of_bipolar_input_is_an_error():
    model = nn.Sequential(binary_act(), conv_sign(2, 3, 3, False, padding=1, pad_value=0.0), pooled_head(3, 2, 8))
    with pytest.raises(UnsupportedNodeError, match="pads .* with 0.0, which a \\+-1 tensor cannot hold"):
        streamline(export_qonnx(model.eval(), CONV_SHAPE))


def test_build_streamlines_a_sign_input():
    """The build feeds float inputs through the host's input quantizer (signs, sent as bits), so a
    sign input is checked and built, not refused."""
    qonnx = export_qonnx(_mlp(False).eval(), MLP_SHAPE)
    x = _inputs(MLP_SHAPE, 8, 4)
    lines: list[str] = []
    cfg = SimpleNamespace(model="bipolar_mlp", n_verify=8, log=lines.append, inputs=lambda _: Inputs(x, None))
    out = step_streamline(qonnx, cfg)
    assert out.get_tensor_datatype(INPUT_NAME) == DataType["BIPOLAR"]
    assert "execute_onnx: streamlined == QONNX on 8 inputs" in "\n".join(lines)


@pytest.mark.slow
def test_mlp_rtl_equals_golden(tmp_path):
    torch.manual_seed(0)
    model = _mlp(False)
    x = _inputs(MLP_SHAPE, 32, 4)
    _, hw = _compile(model, x)
    auto_fold(hw, 8)
    bits = to_hw_layout((x >= 0).astype(np.int64))
    golden = run_golden(hw, bits, keep_all=True)
    generate_rtl(hw, tmp_path / "rtl")
    labels = simulate(tmp_path / "rtl", bits).outputs[:, 0]
    assert np.array_equal(labels, golden[hw.graph.output[0].name][:, 0])
    assert np.array_equal(labels, brevitas_scores(model, x).argmax(1))
    generate_rtl(without_label_select(hw), tmp_path / "scores")
    scores = simulate(tmp_path / "scores", bits).outputs
    assert np.array_equal(scores, golden[score_node(hw).output[0]])
