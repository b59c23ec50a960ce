"""The compile API: one call from a Brevitas module, a QONNX graph or an .onnx file to a folded design."""
from __future__ import annotations

import numpy as np
import pytest

from flows.build.fold import bottleneck_cycles, layer_folds
from flows.compile import compile_network, lower
from flows.errors import BuildConfigError
from flows.fileio import save_onnx
from flows.frontend.streamline import INPUT_NAME
from models.checkpoint import load_model
from models.datasets import load_raw
from models.registry import model_info

MODEL = "tfc_w1a1_nobn"


@pytest.fixture(scope="module")
def tfc():
    model, _ = load_model(f"checkpoints/{MODEL}.pt", MODEL)
    return model, model_info(MODEL).input_shape


def test_module_qonnx_and_file_give_the_same_design(tfc, tmp_path):
    model, shape = tfc
    net = compile_network(model, shape, folding=100)
    path = tmp_path / "tfc.onnx"
    save_onnx(net.qonnx, path)
    images, labels = load_raw("fashion_mnist", "test")
    for again in (compile_network(net.qonnx, folding=100), compile_network(path, folding=100)):
        assert again.cycles == net.cycles
        assert np.array_equal(again.golden(images[:200]), net.golden(images[:200]))
    assert (net.golden(images[:1000]) == labels[:1000]).mean() > 0.8


def test_folding_choices(tfc, tmp_path):
    model, shape = tfc
    unfolded = compile_network(model, shape)
    target = compile_network(model, shape, folding=1000)
    fastest = compile_network(model, shape, folding="max")
    assert unfolded.cycles > target.cycles >= fastest.cycles
    assert target.cycles <= 1000 and fastest.fps() == 100e6 / fastest.cycles
    manifest = fastest.generate_rtl(tmp_path / "rtl")
    assert (tmp_path / "rtl" / "bnn_top.v").is_file() and manifest["top"] == "bnn_top"
    with pytest.raises(BuildConfigError, match="folding 'fast' is not"):
        compile_network(model, shape, folding="fast")


def test_module_without_input_shape_is_refused(tfc):
    with pytest.raises(BuildConfigError, match="needs its input shape"):
        lower(tfc[0])


def test_lower_keeps_every_stage(tfc):
    qonnx, streamlined, hw = lower(*tfc)
    ops = {n.op_type for n in hw.graph.node}
    assert "MVTU" in ops and "Quant" not in ops
    assert "Quant" in {n.op_type for n in qonnx.graph.node}
    assert streamlined.graph.input[0].name == INPUT_NAME
    assert bottleneck_cycles(hw) == max(f.cycles for f in layer_folds(hw))
