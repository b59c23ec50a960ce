"""`bnnflow build --onnx`: a network nobody here wrote (FINN's BNN-PYNQ TFC, random BatchNorm
statistics) built from its QONNX file, with or without its inputs, through every step."""
from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from flows.build.artefacts import GoldenOutputs
from flows.build.inputs import RANDOM_INPUTS
from flows.build.steps import STEPS, BuildConfig, run_build
from flows.cli import main
from flows.errors import BuildConfigError
from flows.testing import bnn_pynq

NAME = "tfc_1w1a"
N = 120
CLASSES = [f"digit {i}" for i in range(10)]


@pytest.fixture(scope="module")
def tfc(tmp_path_factory):
    """The exported file, inputs with Brevitas' classes as labels, and Brevitas' scores."""
    root = tmp_path_factory.mktemp("onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = bnn_pynq.build(NAME, seed=2)
        bnn_pynq.export(model, NAME, root / f"{NAME}.onnx")
    x = bnn_pynq.random_inputs(NAME, N, seed=2)
    scores = bnn_pynq.scores(model, x)
    np.savez(root / "inputs.npz", inputs=x, labels=scores.argmax(1), classes=np.array(CLASSES))
    return root, scores


@pytest.mark.slow
def test_build_with_data_matches_brevitas_and_rtl(tfc):
    root, scores = tfc
    out = root / "build"
    # From the command line, as a user types it (bnnflow build = make build ONNX=... DATA=...).
    assert main(["build", "--onnx", str(root / f"{NAME}.onnx"), "--data", str(root / "inputs.npz"),
                 "--output-dir", str(out), "--n-sim", "100", "--estimate", "analytic"]) == 0
    golden = GoldenOutputs.load(out / "golden.npz")
    unique = bnn_pynq.unique_max(scores)
    assert unique.sum() > N // 2
    assert np.array_equal(golden.pred[unique], scores.argmax(1)[unique])  # golden == Brevitas
    sim = np.load(out / "sim" / "outputs.npz")["outputs"][:, 0]
    assert np.array_equal(sim, golden.pred[:100])  # RTL == golden
    results = json.loads((out / "sim" / "results.json").read_text())
    assert results["images"] == 100 and results["accuracy"] == float((sim == golden.labels[:100]).mean())
    accel = json.loads((out / "deploy" / "accelerator.json").read_text())
    assert accel["model"] == NAME and accel["input"]["datatype"] == "BINARY"  # the host sends the signs as bits
    assert (out / "build_config.json").is_file()
    # The class names travel from DATA to the golden outputs, the report and the deploy package.
    assert golden.classes == tuple(CLASSES) and accel["classes"] == CLASSES
    # The deploy package's driver takes the network's float inputs: 2x - 1 and the sign, on the host.
    from flows.backends.pynq_driver import load_accelerator

    board = load_accelerator(out / "deploy", batch_size=20, virtual=True)
    assert np.array_equal(board.classify(np.load(root / "inputs.npz")["inputs"][:20])[:, 0], golden.pred[:20])
    report = (out / "report.md").read_text()
    picks = {k: int((sim == k).sum()) for k in range(10)}
    assert all(f"| {k} (digit {k}) | {picks[k]:,} |" in report for k in range(10)), report


def test_without_data_random_inputs_on_the_quantizers_grid(tfc):
    root, _ = tfc
    out = root / "random"
    cfg = BuildConfig(onnx=root / f"{NAME}.onnx", output_dir=out, log=lambda s: None)
    assert cfg.n_sim == 200 and cfg.model == NAME
    upto = [s.name for s in STEPS].index("golden") + 1
    run_build(cfg, STEPS[:upto])
    golden = GoldenOutputs.load(out / "golden.npz")
    assert len(golden.pred) == RANDOM_INPUTS and golden.accuracy is None and (golden.labels == -1).all()
    # Random signs: about half the input bits set, every input different.
    assert 0.4 < golden.images.mean() < 0.6 and len({g.tobytes() for g in golden.images}) == RANDOM_INPUTS


@pytest.mark.parametrize("arrays,words", [
    ({"images": np.zeros((2, 1, 28, 28), np.float32)}, "has no 'inputs' array (it has images)"),
    ({"inputs": np.zeros((2, 1, 28, 28), np.float64)}, "'inputs' is float64, not float32"),
    ({"inputs": np.zeros((2, 28, 28), np.float32)}, "'inputs' has shape (2, 28, 28), the graph takes (N, 1, 28, 28)"),
    ({"inputs": np.full((2, 1, 28, 28), np.nan, np.float32)}, "NaN or infinite"),
    ({"inputs": np.zeros((2, 1, 28, 28), np.float32), "labels": np.zeros(3, np.int64)}, "'labels' must be 2 integers"),
    ({"inputs": np.zeros((2, 1, 28, 28), np.float32), "labels": np.array([0, -1])}, "'labels' holds -1"),
    ({"inputs": np.zeros((2, 1, 28, 28), np.float32), "classes": np.array([1, 2])}, "'classes' must be a list of"),
    ({"inputs": np.zeros((2, 1, 28, 28), np.float32), "labels": np.array([0, 3]), "classes": np.array(["a", "b"])},
     "'labels' holds 3, but 'classes' names only 2 classes (0 to 1)"),
])
def test_bad_data_is_refused_before_any_step(tfc, tmp_path, capsys, arrays, words):
    root, _ = tfc
    data = tmp_path / "bad.npz"
    np.savez(data, **arrays)
    code = main(["build", "--onnx", str(root / f"{NAME}.onnx"), "--data", str(data), "--output-dir",
                 str(tmp_path / "b")])
    err = capsys.readouterr().err
    assert code == 2 and words in err and str(data) in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "b").exists()


def test_n_beyond_the_inputs_and_mixed_sources_are_refused(tfc):
    root, _ = tfc
    with pytest.raises(BuildConfigError, match=f"inputs to simulate .*: 500 is not a whole number from 1 to {N}"):
        BuildConfig(onnx=root / f"{NAME}.onnx", data=root / "inputs.npz", n_sim=500)
    with pytest.raises(BuildConfigError, match="takes no --checkpoint"):
        BuildConfig(onnx=root / f"{NAME}.onnx", checkpoint=root / "x.pt")
    with pytest.raises(BuildConfigError, match="--data goes with --onnx"):
        BuildConfig(model="tfc_w1a1_nobn", data=root / "inputs.npz")


def test_unsupported_node_is_refused_before_any_step_naming_it(tfc, tmp_path, capsys):
    from onnx import helper
    from qonnx.core.modelwrapper import ModelWrapper

    root, _ = tfc
    model = ModelWrapper(str(root / f"{NAME}.onnx"))
    out = model.graph.output[0]
    model.graph.node.append(helper.make_node("Sigmoid", [out.name], ["probabilities"], name="Sigmoid_9"))
    out.name = "probabilities"
    bad = tmp_path / "sigmoid.onnx"
    model.save(str(bad))
    code = main(["build", "--onnx", str(bad), "--output-dir", str(tmp_path / "b")])
    err = capsys.readouterr().err
    assert code == 2 and "Sigmoid_9" in err and "Sigmoid" in err
    assert not (tmp_path / "b").exists()


def test_class_names_that_do_not_match_the_network_stop_at_the_golden_step(tfc, tmp_path):
    root, _ = tfc
    data = tmp_path / "three.npz"
    np.savez(data, inputs=bnn_pynq.random_inputs(NAME, 4), classes=np.array(["a", "b", "c"]))
    cfg = BuildConfig(onnx=root / f"{NAME}.onnx", data=data, output_dir=tmp_path / "b", n_verify=2, log=lambda s: None)
    with pytest.raises(BuildConfigError, match=r"'classes' names 3 classes, the network has 10"):
        run_build(cfg, STEPS[:[s.name for s in STEPS].index("golden") + 1])


def test_a_few_inputs_are_all_verified(tfc, tmp_path):
    """DATA with fewer inputs than the default verification count verifies every one of them."""
    root, _ = tfc
    data = tmp_path / "five.npz"
    np.savez(data, inputs=bnn_pynq.random_inputs(NAME, 5))
    cfg = BuildConfig(onnx=root / f"{NAME}.onnx", data=data, output_dir=tmp_path / "b", log=lambda s: None)
    assert cfg.n_verify == 5 and cfg.n_sim == 5
