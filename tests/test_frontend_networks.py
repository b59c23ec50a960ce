"""Hypothesis-drawn Brevitas networks with the front-end variations of issue 24 (flows/testing/
frontend_networks.py): preprocessing affines on either side, unsigned/signed 8-bit and 1-bit input
quantizers, QuantIdentity/QuantHardTanh 1-bit activations, biases, BatchNorm anywhere,
TensorNorm, Dropout, Flatten or view, and graphs ending in scores, ArgMax or TopK.

For each: Brevitas == execute_onnx(export) (the reference is the export); the golden model's class
equals Brevitas' on every input the output rule does not name, and every named input is a near tie
within its stated bound; where the rule says exact, the streamlined graph's scores equal Brevitas'
bit for bit."""
import dataclasses
import warnings
import zlib

import numpy as np
from hypothesis import HealthCheck, given, settings

from flows.frontend.cleanup import import_qonnx
from flows.frontend.input_quant import hardware_codes, quantize_input
from flows.frontend.lower import lower_to_hw, to_hw_layout
from flows.frontend.output_affine import accumulator_name, output_rule, output_verdicts
from flows.frontend.streamline import streamline
from flows.sim.golden import run_golden
from flows.testing import frontend_networks as fn
from flows.testing.bnn_pynq import unique_max

N = 64


def _export(model, spec, tmp):
    import torch
    from brevitas.export import export_qonnx
    from qonnx.core.modelwrapper import ModelWrapper

    path = tmp / "net.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        export_qonnx(model, args=torch.zeros((1, *spec.input_shape)), export_path=str(path), dynamo=False)
    return ModelWrapper(str(path))


def _run(model, x, extra=()):
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx.transformation.change_batchsize import ChangeBatchSize
    from qonnx.transformation.infer_shapes import InferShapes

    m = model.transform(ChangeBatchSize(len(x))).transform(InferShapes())
    ctx = execute_onnx(m, {m.graph.input[0].name: x}, return_full_exec_context=True)
    return [ctx[o.name] for o in m.graph.output], [ctx[e] for e in extra]


@settings(max_examples=20, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(spec=fn.specs())
def test_frontend_network(spec, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("net")
    model = fn.FrontNet(spec, seed=zlib.crc32(repr(spec).encode()))
    x = fn.random_inputs(spec, N, seed=1)
    ref = fn.outputs(model, x)
    scores_model = fn.FrontNet(dataclasses.replace(spec, end="scores"), seed=zlib.crc32(repr(spec).encode()))
    ref_scores = fn.outputs(scores_model, x)
    unique = unique_max(ref_scores)
    exported = _export(model, spec, tmp)
    s = streamline(import_qonnx(exported))
    rule = output_rule(s)
    (out, *_), _ = _run(import_qonnx(exported), x)
    if spec.head != "none" and spec.end == "scores":
        # torch and ONNX round BatchNorm / TensorNorm differently (torch recomputes sqrt(var + eps));
        # both lie within the rule's bound E_c of the exact scores, so within 2 E_c of each other
        # (a proven bound, not a tolerance).
        bound = 2 * np.array([float(e) for e in rule["bound"]])
        assert np.all(np.abs(out.astype(np.float64) - ref) <= bound)
    elif spec.end == "topk":
        # torch.topk breaks ties its own way, ONNX's TopK to the lowest index: compare where the
        # maximum score is unique (the class is then defined).
        np.testing.assert_array_equal(out.reshape(ref.shape)[unique], ref[unique])
    else:
        np.testing.assert_array_equal(out.reshape(ref.shape), ref)  # the export is the reference
    hw = lower_to_hw(s)
    labels = run_golden(hw, to_hw_layout(hardware_codes(s, x)))[hw.graph.output[0].name][:, 0]
    (scores, *_), (acc,) = _run(s, quantize_input(s, x), (accumulator_name(s),))
    verdicts = output_verdicts(s, acc)
    named = {v["input"] for v in verdicts}
    assert all(v["margin"] <= v["bound"] for v in verdicts)
    ref_class = ref.reshape(N, -1)[:, 0] if spec.end != "scores" else ref.argmax(1)
    keep = np.array([i not in named for i in range(N)]) & (unique | (spec.end != "topk"))
    np.testing.assert_array_equal(labels[keep], ref_class[keep])
    np.testing.assert_array_equal(scores.argmax(1), labels)
    if rule["mode"] == "exact" and spec.end == "scores":
        np.testing.assert_array_equal(scores, ref)
