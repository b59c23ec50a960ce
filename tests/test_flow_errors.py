"""Bad requests end in a clear error and a non-zero exit, never a traceback."""
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn as nn
from onnx import TensorProto, helper
from qonnx.core.onnx_exec import execute_onnx
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.util.basic import qonnx_make_model

from flows.errors import ModelFileError, UnsupportedNodeError
from flows.frontend.export import export_qonnx
from flows.fileio import load_onnx, save_onnx
from flows.sim.golden import run_golden
from flows.frontend.lower import lower_to_hw
from flows.frontend.streamline import streamline
from models.layers import BinaryConv2d, BinaryLinear, RPReLU, binary_act, input_quant
from models.zoo.blocks import binary_conv, classifier, conv_sign, linear_sign


def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "flows.cli", *args], capture_output=True, text=True, env=env)


def test_unknown_model_lists_known_ones():
    r = _cli("build", "--model", "no_such_net")
    assert r.returncode != 0
    assert "unknown model 'no_such_net'" in r.stderr and "tfc_w1a1_nobn" in r.stderr
    assert "Traceback" not in r.stderr


def test_unknown_board_lists_known_ones():
    r = _cli("build", "--model", "tfc_w1a1_nobn", "--board", "Pynq-Z9")
    assert r.returncode != 0
    assert "unknown board 'Pynq-Z9'" in r.stderr and "Pynq-Z2" in r.stderr and "KV260" in r.stderr


def test_missing_dataset_names_the_package(tmp_path):
    import os

    env = dict(os.environ, BNNFLOW_DATA=str(tmp_path / "nowhere"))
    r = _cli("build", "--model", "tfc_w1a1_nobn", "--output-dir", str(tmp_path / "b"), env=env)
    assert r.returncode != 0
    assert "dataset-fashion-mnist" in r.stderr and "Traceback" not in r.stderr


def test_missing_checkpoint_says_how_to_get_one(tmp_path):
    r = _cli("build", "--model", "tfc_w1a1_nobn", "--checkpoint", str(tmp_path / "none.pt"))
    assert r.returncode != 0 and "make train MODEL=tfc_w1a1_nobn" in r.stderr


def test_not_onnx_file(tmp_path):
    bad = tmp_path / "model.onnx"
    bad.write_bytes(b"this is not a protobuf")
    with pytest.raises(ModelFileError, match="model.onnx is not a valid ONNX model"):
        load_onnx(bad)


def _graph(nodes, inits, out_shape):
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("global_in", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape)],
    )
    m = ModelWrapper(qonnx_make_model(graph))
    for k, v in inits.items():
        m.set_initializer(k, np.asarray(v, dtype=np.float32))
    return m


def _input_quant():
    return helper.make_node(
        "Quant", ["global_in", "s", "z", "b"], ["q"], name="InQuant", domain="qonnx.custom_op.general",
        signed=0, narrow=0, rounding_mode="ROUND",
    )


QUANT_INITS = {"s": 2.0**-8, "z": 0.0, "b": 8.0}


def test_unknown_op_names_node():
    nodes = [_input_quant(), helper.make_node("Softmax", ["q"], ["y"], name="MySoftmax")]
    with pytest.raises(UnsupportedNodeError, match="node 'MySoftmax' \\(op Softmax\\)"):
        streamline(_graph(nodes, QUANT_INITS, [1, 4]))


def test_float_activation_into_binary_layer():
    nodes = [helper.make_node("MatMul", ["global_in", "w"], ["y"], name="FloatMatMul")]
    with pytest.raises(UnsupportedNodeError, match="FloatMatMul.*float \\(unquantized\\) tensor"):
        streamline(_graph(nodes, {"w": np.ones((4, 2))}, [1, 2]))


def test_per_channel_output_affine_becomes_exact_integer_scores():
    """A per-class bias changes the class order: it must reach the hardware as integers, exactly."""
    nodes = [
        _input_quant(),
        helper.make_node("BipolarQuant", ["wf", "ws"], ["w"], name="WQ", domain="qonnx.custom_op.general"),
        helper.make_node("MatMul", ["q", "w"], ["acc"], name="MM"),
        helper.make_node("Add", ["acc", "bias"], ["y"], name="ClassBias"),
    ]
    inits = {**QUANT_INITS, "wf": np.array([[1, -1], [1, 1], [-1, 1], [1, 1]]), "ws": 0.5, "bias": [0.75 / 256, -0.5]}
    s = streamline(_graph(nodes, inits, [1, 2]))
    hw = lower_to_hw(s)
    affine = hw.get_nodes_by_op_type("ScoreAffine")
    assert len(affine) == 1
    x = np.random.default_rng(0).integers(0, 256, size=(500, 4))
    ref = np.stack([execute_onnx(s, {"global_in": r[None].astype(np.float32)})[s.graph.output[0].name][0] for r in x])
    assert np.array_equal(run_golden(hw, x)[hw.graph.output[0].name][:, 0], ref.argmax(1))


# -- Brevitas models the compiler must refuse, naming the node at fault ----------------


def _streamline_error(model: nn.Module, shape: tuple[int, ...]) -> tuple[UnsupportedNodeError, ModelWrapper]:
    qonnx = export_qonnx(model.eval(), shape)
    with pytest.raises(UnsupportedNodeError) as info:
        streamline(qonnx)
    return info.value, qonnx


def test_zero_padded_binary_conv_names_the_conv():
    """Ordinary zero padding of a +-1 tensor: the hardware carries one bit and has no 0."""
    model = nn.Sequential(input_quant(), conv_sign(1, 4, 3, False), BinaryConv2d(4, 3, 3, padding=1, pad_value=0.0),
                          nn.Flatten(), classifier(3 * 4 * 4, 2))
    err, qonnx = _streamline_error(model, (1, 6, 6))
    assert err.node_name == qonnx.get_nodes_by_op_type("Conv")[1].name and err.op_type == "Conv"
    assert "with 0.0, which a +-1 tensor cannot hold; pad binary activations with -1 or +1" in str(err)


def test_unquantized_relu_into_binary_layer_names_the_relu():
    model = nn.Sequential(input_quant(), nn.Flatten(), BinaryLinear(16, 8), nn.ReLU(), classifier(8, 3))
    err, qonnx = _streamline_error(model, (1, 4, 4))
    assert err.node_name == qonnx.get_nodes_by_op_type("Relu")[0].name and err.op_type == "Relu"
    assert "not supported" in str(err)


def test_binary_layer_without_input_quantizer_names_the_layer():
    err, qonnx = _streamline_error(nn.Sequential(nn.Flatten(), classifier(16, 3)), (1, 4, 4))
    assert err.node_name == qonnx.get_nodes_by_op_type("MatMul")[0].name
    flat = qonnx.get_nodes_by_op_type("Flatten")[0].output[0]
    assert f"input {flat!r} is a float (unquantized) tensor; a quantized tensor is needed" in str(err)


@pytest.mark.parametrize("head, op_type", [(nn.Sigmoid(), "Sigmoid"), (nn.Softmax(dim=1), "Softmax")])
def test_unknown_op_in_export_names_node_and_op(head, op_type):
    model = nn.Sequential(input_quant(), nn.Flatten(), linear_sign(16, 8, False), classifier(8, 3), head)
    err, qonnx = _streamline_error(model, (1, 4, 4))
    name = qonnx.get_nodes_by_op_type(op_type)[0].name
    assert err.node_name == name and err.op_type == op_type
    assert str(err) == f"node {name!r} (op {op_type}): op type is not supported by the streamliner"


def test_truncated_onnx_file(tmp_path):
    """Half of a real ONNX file (an interrupted copy) names the file, like a file that was never ONNX."""
    path = tmp_path / "cut.onnx"
    save_onnx(export_qonnx(nn.Sequential(input_quant(), nn.Flatten(), classifier(16, 3)).eval(), (1, 4, 4)), path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ModelFileError, match=re.escape(f"{path} is not a valid ONNX model")):
        load_onnx(path)


def test_prelu_with_negative_slope_names_the_prelu():
    """RPReLU clamps its slope at 0; a plain PReLU may not, and a sign of it would have no threshold."""
    prelu = nn.PReLU(8, init=0.25)
    with torch.no_grad():
        prelu.weight[3] = -0.5
    model = nn.Sequential(input_quant(), nn.Flatten(), BinaryLinear(16, 8), prelu, binary_act(), classifier(8, 3))
    err, qonnx = _streamline_error(model, (1, 4, 4))
    assert err.node_name == qonnx.get_nodes_by_op_type("PRelu")[0].name and err.op_type == "PRelu"
    assert "a negative slope is not monotone" in str(err)


def test_piecewise_tensor_into_binary_conv_names_the_conv():
    """An RPReLU output is real-valued: a binary conv needs its sign (or a residual add) first."""
    model = nn.Sequential(input_quant(), binary_conv(1, 4, 3, False), RPReLU(4), BinaryConv2d(4, 2, 1, bias=False),
                          nn.Flatten(), classifier(8, 2))
    err, qonnx = _streamline_error(model, (1, 4, 4))
    conv = qonnx.get_nodes_by_op_type("Conv")[1]
    assert err.node_name == conv.name and err.op_type == "Conv"
    assert f"input {conv.input[0]!r} is piecewise (after a PReLU)" in str(err)

