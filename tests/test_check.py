"""`bnnflow check`: a table of every node of an export and how it is handled; an unsupported network
exits 2 with the table, naming the node and its op, before any build stage."""
import warnings

import onnx
import pytest

from flows.cli import main
from flows.frontend.check import UnsupportedNetworkError, check
from flows.testing import bnn_pynq


@pytest.fixture(scope="module")
def tfc_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("check") / "tfc_1w1a.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bnn_pynq.export(bnn_pynq.build("tfc_1w1a"), "tfc_1w1a", path)
    return path


def test_table_names_every_node_of_the_export(tfc_file):
    table = check(tfc_file)
    exported = onnx.load(str(tfc_file))
    names = {r.node for r in table.rows}
    # Every node of the export appears under its exported name (constants and the weights'
    # transposes fold into the weight quantizers in the import pass).
    assert {n.name for n in exported.graph.node if n.op_type not in ("Constant", "Pow", "Transpose")} <= names
    by_name = {r.node: r.handling for r in table.rows}
    assert by_name["/Mul"].startswith("preprocessing ahead of the input quantizer")
    assert by_name["/features.2/MatMul"].startswith("matrix product: an MVTU")
    assert by_name["/features.3/BatchNormalization"].startswith("affine: absorbed")
    assert by_name["/features.15/Div"].startswith("output affine (one for all classes)")
    assert table.supported


def _with_sigmoid(src, dst):
    m = onnx.load(str(src))
    bn = [n for n in m.graph.node if n.op_type == "BatchNormalization"][1]
    out = bn.output[0]
    for n in m.graph.node:
        n.input[:] = [f"{out}_sig" if i == out else i for i in n.input]
    sig = onnx.helper.make_node("Sigmoid", [out], [f"{out}_sig"], name="/features.7/Sigmoid")
    m.graph.node.insert(list(m.graph.node).index(bn) + 1, sig)
    onnx.save(m, str(dst))


def test_unsupported_op_names_node_and_op(tfc_file, tmp_path):
    bad = tmp_path / "sigmoid.onnx"
    _with_sigmoid(tfc_file, bad)
    with pytest.raises(UnsupportedNetworkError) as e:
        check(bad)
    msg = str(e.value)
    assert msg.startswith("node '/features.7/Sigmoid' (op Sigmoid)")
    assert "UNSUPPORTED" in msg and "/features.2/MatMul" in msg  # the whole table comes with it


def test_cli_exit_codes(tfc_file, tmp_path, capsys):
    assert main(["check", str(tfc_file)]) == 0
    assert "every node is supported" in capsys.readouterr().out
    bad = tmp_path / "sigmoid.onnx"
    _with_sigmoid(tfc_file, bad)
    assert main(["check", str(bad)]) == 2
    assert "node '/features.7/Sigmoid' (op Sigmoid)" in capsys.readouterr().err
    assert main(["check", str(tmp_path / "missing.onnx")]) == 2
