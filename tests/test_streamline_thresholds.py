"""Thresholds are exact: negative, zero and tiny scales; boundaries hit exactly."""
import numpy as np
import pytest
from onnx import TensorProto, helper
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.core.onnx_exec import execute_onnx
from qonnx.transformation.infer_shapes import InferShapes
from qonnx.util.basic import qonnx_make_model

from flows.sim.golden import run_golden
from flows.frontend.lower import lower_to_hw
from flows.frontend.streamline import streamline

Q = "qonnx.custom_op.general"


def _two_layer(w1, mul, add):
    """8-bit input -> binary matmul -> per-channel Mul/Add -> sign -> binary matmul -> scores."""
    k, c = w1.shape
    nodes = [
        helper.make_node("Quant", ["global_in", "s", "z", "b"], ["q"], name="InQ", domain=Q,
                         signed=0, narrow=0, rounding_mode="ROUND"),
        helper.make_node("BipolarQuant", ["w1f", "one"], ["w1"], name="W1Q", domain=Q),
        helper.make_node("MatMul", ["q", "w1"], ["acc"], name="MM1"),
        helper.make_node("Mul", ["acc", "mul"], ["m"], name="Gain"),
        helper.make_node("Add", ["m", "add"], ["a"], name="Bias"),
        helper.make_node("BipolarQuant", ["a", "one"], ["h"], name="Sign", domain=Q),
        helper.make_node("BipolarQuant", ["w2f", "one"], ["w2"], name="W2Q", domain=Q),
        helper.make_node("MatMul", ["h", "w2"], ["y"], name="MM2"),
    ]
    graph = helper.make_graph(
        nodes, "t", [helper.make_tensor_value_info("global_in", TensorProto.FLOAT, [1, k])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])],
    )
    m = ModelWrapper(qonnx_make_model(graph))
    rng = np.random.default_rng(0)
    inits = {"s": 2.0**-8, "z": 0.0, "b": 8.0, "one": 1.0, "w1f": w1, "mul": mul, "add": add,
             "w2f": rng.choice([-1.0, 1.0], size=(c, 3))}
    for name, v in inits.items():
        m.set_initializer(name, np.asarray(v, dtype=np.float32))
    return m.transform(InferShapes())


@pytest.mark.parametrize("seed", range(3))
def test_negative_zero_and_boundary_scales(seed):
    rng = np.random.default_rng(seed)
    k, c = 6, 8
    w1 = rng.choice([-1.0, 1.0], size=(k, c))
    # Negative, zero and power-of-two gains; offsets that put the boundary exactly on
    # reachable accumulator values (1/256 per step), plus zero-gain channels of both signs.
    mul = np.array([1, -1, 0, 0, 0.5, -2, 2.0**-6, -(2.0**-6)], dtype=np.float32)
    add = np.array([3 / 256, 5 / 256, 0.5, -0.5, -7 / 256, 0, 1 / 256, -1 / 256], dtype=np.float32)
    q = _two_layer(w1, mul, add)
    s = streamline(q)
    hw = lower_to_hw(s)
    x = rng.integers(0, 256, size=(300, k))
    # Force inputs whose accumulators sit exactly on the thresholds.
    x[:8] = 0
    x[8:16, 0] = 3
    ref = np.concatenate([execute_onnx(q, {"global_in": (r[None] / 256).astype(np.float32)})["y"] for r in x])
    got = np.concatenate([execute_onnx(s, {"global_in": r[None].astype(np.float32)})[s.graph.output[0].name] for r in x])
    assert np.array_equal(ref, got)
    labels = run_golden(hw, x)[hw.graph.output[0].name][:, 0]
    assert np.array_equal(labels, ref.argmax(1))
