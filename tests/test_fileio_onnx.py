"""ONNX files the flow writes are valid ONNX: every node domain they use is declared."""
from onnx import TensorProto, helper

from flows.fileio import load_onnx, save_onnx


def test_a_custom_op_inserted_by_a_rewrite_saves_loadably(tmp_path):
    """Streamlining inserts ResidualAdd (domain flows.ops) into a graph that declared only ONNX's own
    opset; the ONNX checker refuses such a file, which stopped every residual build at its golden step."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    nodes = [helper.make_node("Relu", ["x"], ["h"]),
             helper.make_node("ResidualAdd", ["h", "x"], ["y"], domain="flows.ops")]
    model = helper.make_model(helper.make_graph(nodes, "g", [x], [y]),
                              opset_imports=[helper.make_opsetid("", 13)])
    save_onnx(model, tmp_path / "m.onnx")
    loaded = load_onnx(tmp_path / "m.onnx")
    assert {(o.domain, o.version) for o in loaded.model.opset_import} == {("", 13), ("flows.ops", 1)}
