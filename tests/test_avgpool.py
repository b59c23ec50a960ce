"""torch.nn.AvgPool2d (non-overlapping, unpadded): Brevitas forward == golden model == RTL, bit for bit.

The streamliner keeps the exact window sum and moves the division by K*K into
the tensor's scale, so pooling a +-1 tensor, the 8-bit input or a raw
accumulator compiles to one WindowSum layer (a popcount on bits) whatever K is.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from brevitas.nn import TruncAvgPool2d
from golden_checks import assert_golden_equals_brevitas, brevitas_scores
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.core.onnx_exec import execute_onnx
from qonnx.custom_op.registry import getCustomOp

from flows.errors import UnsupportedNodeError
from flows.frontend.export import export_qonnx
from flows.build.fold import auto_fold
from flows.sim.golden import run_golden
from flows.frontend.lower import lower_to_hw, score_node, to_hw_layout, without_label_select
from flows.backends.rtlgen import generate_rtl
from flows.sim.rtlsim import simulate
from flows.frontend.streamline import INPUT_NAME, streamline
from models.datasets import to_model_input
from models.layers import binary_act, input_quant
from models.zoo.blocks import binary_conv, classifier, conv_sign


def _pool_bits_k2() -> nn.Sequential:
    """AvgPool2d(2) on a +-1 map, then a conv that pads the pooled map with -1."""
    return nn.Sequential(input_quant(), conv_sign(1, 8, 3, False, padding=1, pad_value=0.0), nn.AvgPool2d(2),
                         conv_sign(8, 12, 3, False, padding=1, pad_value=-1.0), nn.Flatten(), classifier(12 * 16, 10))


def _pool_bits_k3() -> nn.Sequential:
    """AvgPool2d(3) on a 9x9 +-1 map: the scale 1/9 has no exact float form."""
    return nn.Sequential(input_quant(), conv_sign(1, 8, 3, False), nn.AvgPool2d(3), conv_sign(8, 12, 3, False),
                         nn.Flatten(), classifier(12, 10))


def _pool_input() -> nn.Sequential:
    """AvgPool2d(2) on the 8-bit input, whose zero padding the next conv keeps."""
    return nn.Sequential(input_quant(), nn.AvgPool2d(2), conv_sign(1, 8, 3, False, padding=1, pad_value=0.0),
                         nn.Flatten(), classifier(8 * 16, 10))


def _pool_accumulator() -> nn.Sequential:
    """AvgPool2d(2) on a binary conv's real accumulator, then the sign."""
    return nn.Sequential(input_quant(), conv_sign(1, 8, 3, False), binary_conv(8, 8, 3, False), nn.AvgPool2d(2),
                         binary_act(), nn.Flatten(), classifier(8 * 9, 10))


# name: (model, input shape)
MODELS: dict[str, tuple[Callable[[], nn.Sequential], tuple[int, int, int]]] = {
    "bits-k2": (_pool_bits_k2, (1, 8, 8)),
    "bits-k3": (_pool_bits_k3, (1, 11, 11)),
    "input-k2": (_pool_input, (1, 8, 8)),
    "accumulator-k2": (_pool_accumulator, (1, 10, 10)),
}


def _randomise(model: nn.Module, seed: int) -> None:
    """Gains and biases as test_compile_zoo draws them."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            for name, std in (("gain", 1.0), ("bias", 0.3)):
                p = getattr(m, name, None)
                if isinstance(p, nn.Parameter):
                    p.copy_(torch.randn(p.shape, generator=g) * std)


def _odd_biases_after_k3(model: nn.Sequential, images: np.ndarray, seed: int) -> None:
    """Biases of the conv after AvgPool2d(3) at odd multiples of its accumulator step (weight scale / 9).

    Its accumulator sums 72 odd window sums, so it is even and never cancels an odd
    bias: no pre-activation is exactly 0, where Brevitas' float32 rounding of 1/9
    would pick a sign at random and the exact integer graph could not match it.
    The biases sit near the accumulators' mean on `images`, so both signs occur.
    """
    conv = model[3][0]
    step = conv.quant_weight().scale.detach().reshape(-1).double() / 9
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        pooled = model[:3](torch.as_tensor(images, dtype=torch.float32) / 256).value
        acc = F.conv2d(pooled, conv.quant_weight().value).double() / step.view(1, -1, 1, 1)
        centre = acc.mean(dim=(0, 2, 3)) + torch.randn(step.shape, generator=g, dtype=torch.float64) * 4
        conv.bias.copy_(-(2 * torch.floor(centre / 2) + 1) * step)


def _build(name: str) -> tuple[nn.Sequential, tuple[int, int, int], ModelWrapper, ModelWrapper]:
    factory, shape = MODELS[name]
    torch.manual_seed(0)
    model = factory().eval()
    _randomise(model, 1)
    if name == "bits-k3":
        _odd_biases_after_k3(model, _images(shape, 4), 2)
    streamlined = streamline(export_qonnx(model, shape))
    return model, shape, streamlined, lower_to_hw(streamlined)


def _images(shape: tuple[int, ...], seed: int, n: int = 64) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, *shape))


@pytest.mark.parametrize("name", list(MODELS))
def test_brevitas_equals_golden(name: str) -> None:
    model, shape, streamlined, hw = _build(name)
    assert len(hw.get_nodes_by_op_type("WindowSum")) == 1
    images = _images(shape, 3)
    scores = brevitas_scores(model, to_model_input(images))
    assert_golden_equals_brevitas(hw, images, scores)
    # The streamlined graph (WindowSum on NCHW) computes the same real scores node by node.
    out = np.concatenate([execute_onnx(streamlined, {INPUT_NAME: x[None].astype(np.float32)})
                          [streamlined.graph.output[0].name] for x in images[:4]])
    assert np.array_equal(out, scores[:4])


def test_pad_after_pooled_bits_is_the_code_of_minus_one() -> None:
    *_, hw = _build("bits-k2")
    swg = hw.find_consumer(hw.get_nodes_by_op_type("WindowSum")[0].output[0])
    # -1 pooled over 2x2 is the sum -4, which the popcount stream holds as 0.
    assert swg.op_type == "SlidingWindow" and getCustomOp(swg).get_nodeattr("PadValue") == 0


@pytest.mark.slow
@pytest.mark.parametrize("name,pool_pe", [("bits-k3", 4), ("input-k2", 1)])
def test_rtl_equals_golden(name: str, pool_pe: int, tmp_path: Path) -> None:
    model, shape, _, hw = _build(name)
    auto_fold(hw, 1000)
    # A pooling layer wider than its neighbours: the generator puts width converters around it.
    getCustomOp(hw.get_nodes_by_op_type("WindowSum")[0]).set_nodeattr("PE", pool_pe)
    images = _images(shape, 5, 6)
    x = to_hw_layout(images)
    golden = run_golden(hw, x, keep_all=True)
    generate_rtl(hw, tmp_path / "rtl")
    labels = simulate(tmp_path / "rtl", x).outputs[:, 0]
    assert np.array_equal(labels, golden[hw.graph.output[0].name][:, 0])
    assert np.array_equal(labels, brevitas_scores(model, to_model_input(images)).argmax(1))
    generate_rtl(without_label_select(hw), tmp_path / "scores")
    assert np.array_equal(simulate(tmp_path / "scores", x).outputs, golden[score_node(hw).output[0]])


def _pooled_side(pool: nn.AvgPool2d, side: int) -> int:
    with torch.no_grad():
        return pool(torch.zeros(1, 1, side, side)).shape[-1]


@pytest.mark.parametrize("pool,reason", [
    (nn.AvgPool2d(3, stride=1), r"overlapping pooling \(kernel \[3, 3\], strides \[1, 1\]\)"),
    (nn.AvgPool2d(2, padding=1), "padded average pooling"),
    (nn.AvgPool2d(2, ceil_mode=True), "ceil-mode"),
], ids=["overlapping", "padded", "ceil-mode"])
def test_unsupported_pooling_names_the_node(pool: nn.AvgPool2d, reason: str) -> None:
    model = nn.Sequential(input_quant(), conv_sign(1, 4, 3, False), pool, binary_act(), nn.Flatten(),
                          classifier(4 * _pooled_side(pool, 7) ** 2, 10))
    with pytest.raises(UnsupportedNodeError, match=r"node 'AveragePool_0' \(op AveragePool\): " + reason):
        streamline(export_qonnx(model.eval(), (1, 9, 9)))


def test_trunc_avg_pool_is_a_clear_error() -> None:
    """Brevitas' TruncAvgPool2d rounds and clamps the window sum: no silent approximation."""
    model = nn.Sequential(input_quant(), conv_sign(1, 4, 3, False), TruncAvgPool2d(2, bit_width=4,
                          return_quant_tensor=True), nn.Flatten(), classifier(4 * 9, 10))
    with pytest.raises(UnsupportedNodeError, match=r"node 'Trunc_0' \(op Trunc\): .*nn.AvgPool2d"):
        streamline(export_qonnx(model.eval(), (1, 8, 8)))
