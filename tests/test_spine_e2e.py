"""tfc_w1a1_nobn end to end on 1,000 Fashion-MNIST test images, from the shipped checkpoint:
Brevitas forward == qonnx execute_onnx of the export == golden model == RTL simulation,
for the class and for the integer output of the last layer, bit for bit."""
import json

import numpy as np
import pytest
import torch
from qonnx.core.onnx_exec import execute_onnx

from flows.build.steps import BuildConfig, run_build
from flows.fileio import load_onnx
from flows.sim.golden import run_golden
from flows.frontend.lower import score_node, to_hw_layout, without_label_select
from flows.backends.rtlgen import generate_rtl
from flows.sim.rtlsim import simulate
from models.checkpoint import load_model
from models.datasets import load_raw, to_model_input
from models.layers import binary_layers

N = 1000
MODEL = "tfc_w1a1_nobn"


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    out = tmp_path_factory.mktemp("build")
    cfg = BuildConfig(model=MODEL, output_dir=out, n_sim=N, log=lambda s: None)
    hw = run_build(cfg)
    images, labels = load_raw("fashion_mnist", "test")
    return cfg, hw, images[:N], labels[:N]


@pytest.fixture(scope="module")
def brevitas(build):
    cfg, _, images, _ = build
    model, _ = load_model(cfg.checkpoint, MODEL)
    with torch.no_grad():
        scores = model(to_model_input(images)).numpy()
    scale = binary_layers(model)[-1].quant_weight().scale.detach().numpy().item()
    return scores, scale


@pytest.fixture(scope="module")
def golden(build):
    _, hw, images, _ = build
    ctx = run_golden(hw, to_hw_layout(images), keep_all=True)
    popcount = ctx[score_node(hw).output[0]]
    k = hw.get_initializer(score_node(hw).input[1]).shape[0]
    return ctx[hw.graph.output[0].name][:, 0], 2 * popcount - k


def test_golden_equals_brevitas(brevitas, golden):
    scores, scale = brevitas
    labels, dot = golden
    assert np.array_equal(scores, (dot * scale).astype(np.float32))
    assert np.array_equal(labels, scores.argmax(1))


def test_qonnx_export_equals_brevitas(build, brevitas):
    cfg, _, images, _ = build
    q = load_onnx(cfg.path("01_qonnx.onnx"))
    iname, oname = q.graph.input[0].name, q.graph.output[0].name
    out = np.concatenate([execute_onnx(q, {iname: to_model_input(img[None]).numpy()})[oname] for img in images])
    assert np.array_equal(out, brevitas[0])


def test_rtl_labels_equal_golden(build, golden):
    cfg, _, _, labels = build
    rtl = np.load(cfg.path("sim", "outputs.npz"))["outputs"][:, 0]
    assert rtl.shape == (N,)
    assert np.array_equal(rtl, golden[0])
    results = json.loads(cfg.path("sim", "results.json").read_text())
    assert results["accuracy"] == pytest.approx(float((golden[0] == labels).mean()))


def test_rtl_scores_equal_golden(build, golden, tmp_path):
    """The integer accumulators of the last layer, straight out of the RTL."""
    _, hw, images, _ = build
    variant = without_label_select(hw)
    generate_rtl(variant, tmp_path / "rtl")
    res = simulate(tmp_path / "rtl", to_hw_layout(images))
    k = hw.get_initializer(score_node(hw).input[1]).shape[0]
    assert np.array_equal(2 * res.outputs - k, golden[1])


def test_cycles_match_folding(build):
    cfg, hw, _, _ = build
    results = json.loads(cfg.path("sim", "results.json").read_text())
    predicted = results["predicted_cycles_per_image"]
    assert abs(results["cycles_per_image"] - predicted) <= 0.05 * predicted


def test_generated_verilog_is_lint_clean(build, tmp_path):
    """verilator --lint-only -Wall on the generated top and every library file it uses."""
    import subprocess

    cfg, hw, _, _ = build
    for rtl_dir, model in ((cfg.path("rtl"), hw), (tmp_path / "scores", without_label_select(hw))):
        if model is not hw:
            generate_rtl(model, rtl_dir)
        manifest = json.loads((rtl_dir / "manifest.json").read_text())
        files = [str(rtl_dir / f) for f in manifest["verilog"]]
        r = subprocess.run(["verilator", "--lint-only", "-Wall", "--top-module", manifest["top"], *files],
                           capture_output=True, text=True, cwd=rtl_dir)
        assert r.returncode == 0 and "%Warning" not in r.stderr, r.stderr
