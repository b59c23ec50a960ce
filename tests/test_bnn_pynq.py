"""FINN's BNN-PYNQ w1a1 networks as a user brings them (flows/testing/bnn_pynq.py: pretrained=False,
random BatchNorm statistics with about half the gammas negative, export_qonnx(dynamo=False)):

    Brevitas == execute_onnx(export)                 scores, bit for bit
    Brevitas == execute_onnx(streamlined)            class; scores bit for bit where the output rule says exact
    Brevitas == golden model (hardware graph)        class, on 100 inputs (FC) / 10 (CNV)
    golden == RTL (Verilator)                        last-layer integers, on a few inputs

and the output rule (flows/frontend/output_affine.py) names no input: the hardware's
class is proven to be the float network's on every one of them.
"""
import warnings

import numpy as np
import pytest
from qonnx.core.onnx_exec import execute_onnx
from qonnx.transformation.change_batchsize import ChangeBatchSize
from qonnx.transformation.infer_shapes import InferShapes

from flows.frontend.cleanup import import_qonnx
from flows.frontend.input_quant import hardware_codes, quantize_input
from flows.frontend.lower import lower_to_hw, score_node, to_hw_layout, without_label_select
from flows.frontend.output_affine import accumulator_name, describe, output_rule, output_verdicts
from flows.frontend.streamline import streamline
from flows.sim.golden import run_golden
from flows.testing import bnn_pynq

N_INPUTS = {"tfc_1w1a": 100, "sfc_1w1a": 100, "lfc_1w1a": 100, "cnv_1w1a": 10}
N_EXPORT = {"tfc_1w1a": 100, "sfc_1w1a": 100, "lfc_1w1a": 20, "cnv_1w1a": 10}  # execute_onnx of Quant graphs is slow
# Bottleneck cycles the RTL is folded to: fast to simulate, small to compile.
RTL_CYCLES = {"tfc_1w1a": 200, "sfc_1w1a": 1000, "lfc_1w1a": 4000, "cnv_1w1a": 60000}


def run_batched(model, x, extra=()):
    """execute_onnx on a whole batch (the exported graphs are for batch 1)."""
    m = model.transform(ChangeBatchSize(len(x))).transform(InferShapes())
    ctx = execute_onnx(m, {m.graph.input[0].name: x}, return_full_exec_context=bool(extra))
    return [ctx[m.graph.output[0].name], *[ctx[e] for e in extra]]


@pytest.fixture(scope="module", params=list(N_INPUTS))
def net(request):
    name = request.param
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = bnn_pynq.build(name)
        exported = import_qonnx(bnn_pynq.export(model, name))
    streamlined = streamline(exported)
    x = bnn_pynq.random_inputs(name, N_INPUTS[name])
    return name, model, exported, streamlined, lower_to_hw(streamlined), x, bnn_pynq.scores(model, x)


def test_export_equals_brevitas(net):
    name, _, exported, _, _, x, ref = net
    n = N_EXPORT[name]
    np.testing.assert_array_equal(run_batched(exported, x[:n])[0], ref[:n])


def test_streamlined_equals_brevitas(net):
    _, _, _, s, _, x, ref = net
    scores, acc = run_batched(s, quantize_input(s, x), (accumulator_name(s),))
    assert output_verdicts(s, acc) == [], describe(output_verdicts(s, acc))
    np.testing.assert_array_equal(scores.argmax(1), ref.argmax(1))
    rule = output_rule(s)
    # TensorNorm after the last layer: one affine for every class, and |S| > 2 max E.
    assert rule["mode"] == "per-tensor" and rule["always_agrees"]


def test_golden_equals_brevitas(net):
    _, _, _, s, hw, x, ref = net
    labels = run_golden(hw, to_hw_layout(hardware_codes(s, x)))[hw.graph.output[0].name][:, 0]
    np.testing.assert_array_equal(labels, ref.argmax(1))


def test_input_quantizer_is_the_hosts(net):
    """BNN-PYNQ computes 2x - 1 ahead of its input quantizer: the host does it, the graph takes codes."""
    name, _, _, s, hw, _, _ = net
    dt = hw.get_tensor_datatype(hw.graph.input[0].name).name
    assert dt == ("UINT8" if name.startswith("cnv") else "BINARY")
    assert not any(n.op_type in ("Mul", "Sub") for n in s.graph.node if n.name not in ("OutputScale",))


def test_rtl_equals_golden(net, tmp_path):
    from flows.build.fold import auto_fold, candidate_cycles
    from flows.backends.rtlgen import generate_rtl
    from flows.sim import verilator
    from flows.sim.rtlsim import compile_accelerator, simulate
    from flows.testing.fuzz import FUZZ_CXX_OPT

    name, _, _, s, hw, x, _ = net
    codes = to_hw_layout(hardware_codes(s, x))  # every input: 100 for the FC nets, 10 for CNV
    ints = run_golden(hw, codes, keep_all=True)[score_node(hw).output[0]]
    cands = candidate_cycles(hw)
    auto_fold(hw, min(cands, key=lambda c: abs(c - RTL_CYCLES[name])))
    generate_rtl(without_label_select(hw), tmp_path / "rtl")
    with pytest.MonkeyPatch.context() as mp:  # the fuzzer's quick-to-compile harness
        mp.setattr(verilator, "CXX_OPT", FUZZ_CXX_OPT)
        compile_accelerator(tmp_path / "rtl")
    res = simulate(tmp_path / "rtl", codes, workers=1)
    np.testing.assert_array_equal(res.outputs.reshape(ints.shape), ints)


@pytest.mark.parametrize("tensor_norm", [(-0.75, 0.3, 1.5, 2.0), (1.3, -2.0, -0.7, 0.01)])
def test_random_tensor_norm(tensor_norm):
    """TensorNorm away from its initial values, a negative weight reversing the class order included."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = bnn_pynq.build("tfc_1w1a", seed=3, tensor_norm=tensor_norm)
        s = streamline(import_qonnx(bnn_pynq.export(model, "tfc_1w1a")))
    x = bnn_pynq.random_inputs("tfc_1w1a", 200, seed=3)
    ref = bnn_pynq.scores(model, x)
    hw = lower_to_hw(s)
    labels = run_golden(hw, to_hw_layout(hardware_codes(s, x)))[hw.graph.output[0].name][:, 0]
    _, acc = run_batched(s, quantize_input(s, x), (accumulator_name(s),))
    assert output_verdicts(s, acc) == []
    np.testing.assert_array_equal(labels, ref.argmax(1))
