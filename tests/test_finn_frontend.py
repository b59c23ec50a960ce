"""The FINN back end's graph passes what FINN's ConvertQONNXtoFINN relies on, run here with qonnx
(FINN is not needed): GemmToMatMul, FoldTransposeIntoQuantInit, InferDataTypes, qonnx 1.0.0's
ExtractBiasFromConv, and FINN's rule that a Quant node on an identity activation is signed.
The transformed graph computes what our export computes, on the quantizer's integer codes."""
import warnings

import numpy as np
import pytest
from onnx import helper
from qonnx.core.onnx_exec import execute_onnx
from qonnx.transformation.extract_conv_bias import ExtractBiasFromConv
from qonnx.transformation.gemm_to_matmul import GemmToMatMul
from qonnx.transformation.infer_datatypes import InferDataTypes
from qonnx.transformation.infer_shapes import InferShapes
from qonnx.transformation.quant_constant_folding import FoldTransposeIntoQuantInit

from flows.backends.finn import finn_ready_qonnx
from flows.frontend.cleanup import import_qonnx
from flows.frontend.input_quant import quantize_input
from flows.frontend.streamline import streamline
from flows.testing import bnn_pynq

ZOO = ("tfc_w1a1_nobn", "cnv_w1a1_nobn")
PYNQ = ("tfc_1w1a", "cnv_1w1a")


def _export(name):
    if name in ZOO:
        from flows.frontend.export import export_qonnx
        from models.registry import create_model, model_info

        shape = model_info(name).input_shape
        return export_qonnx(create_model(name), shape), shape
    return import_qonnx(bnn_pynq.export(bnn_pynq.build(name), name)), bnn_pynq.input_shape(name)


def unsigned_identity_quants(model):
    """Activation Quant nodes FINN's conversion refuses: unsigned, not behind a Relu."""
    bad = []
    for n in model.graph.node:
        if n.op_type != "Quant" or model.get_initializer(n.input[0]) is not None:
            continue
        signed = next((helper.get_attribute_value(a) for a in n.attribute if a.name == "signed"), 1)
        producer = model.find_producer(n.input[0])
        if not signed and (producer is None or producer.op_type != "Relu"):
            bad.append(n.name)
    return bad


def finn_front_end(model):
    """The qonnx building blocks of FINN's step_qonnx_to_finn, in its order (ExtractBiasFromConv last)."""
    for t in (GemmToMatMul(), FoldTransposeIntoQuantInit(), InferDataTypes(), ExtractBiasFromConv(), InferShapes()):
        model = model.transform(t)
    return model


@pytest.fixture(scope="module", params=ZOO + PYNQ)
def graphs(request):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours, shape = _export(request.param)
        return request.param, ours, finn_ready_qonnx(ours), shape


def test_no_unsigned_identity_quant(graphs):
    name, ours, finn, _ = graphs
    assert unsigned_identity_quants(finn) == []
    if name in ZOO:  # the zoo's pixel/256 input quantizer is the one FINN refused
        assert unsigned_identity_quants(ours) != []
        assert finn.get_tensor_datatype(finn.graph.input[0].name).name == "UINT8"


def test_conv_bias_params_have_the_shape_extract_bias_expects(graphs):
    _, _, finn, _ = graphs
    for conv in finn.get_nodes_by_op_type("Conv"):
        if len(conv.input) > 2:
            q = finn.find_producer(conv.input[2])
            for name in q.input[1:3]:
                v = finn.get_initializer(name)
                assert v.ndim >= 1 and (v.shape == (1,) or v.size > 1), (conv.name, name, v.shape)


def test_finn_front_end_runs_and_keeps_the_outputs(graphs):
    name, ours, finn, shape = graphs
    converted = finn_front_end(finn)
    assert not converted.get_nodes_by_op_type("Gemm")
    if name == "cnv_w1a1_nobn":  # the net whose conv biases qonnx 1.0.0 failed on
        assert all(len(c.input) == 2 for c in converted.get_nodes_by_op_type("Conv"))
    rng = np.random.default_rng(0)
    x = (rng.integers(0, 256, (2, *shape)) / 256).astype(np.float32)
    codes = quantize_input(streamline(ours), x)
    takes_codes = finn.get_tensor_datatype(finn.graph.input[0].name).is_integer()
    for i in range(len(x)):
        a = execute_onnx(ours, {ours.graph.input[0].name: x[i:i + 1]})[ours.graph.output[0].name]
        feed = codes[i:i + 1] if takes_codes else x[i:i + 1]
        b = execute_onnx(converted, {converted.graph.input[0].name: feed})[converted.graph.output[0].name]
        np.testing.assert_array_equal(a, b)
