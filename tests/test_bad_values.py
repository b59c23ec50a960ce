"""Bad values are refused before any step runs, in one line naming the value and what is allowed,
and leave an existing build folder untouched."""
from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path

import pytest
import torch
from qonnx.core.modelwrapper import ModelWrapper

from flows.build.steps import STEPS, BuildConfig, run_build
from flows.cli import main
from flows.errors import BuildConfigError
from flows.build.fold import apply_folding_config

REPO = Path(__file__).resolve().parent.parent
MODEL = "tfc_w1a1_nobn"


@pytest.fixture
def cli(capsys):
    """`bnnflow build --model tfc_w1a1_nobn ARGS` in this process (refusals come before any step)."""

    def run(*args: str) -> subprocess.CompletedProcess:
        try:
            code = main(["build", "--model", MODEL, *args])
        except SystemExit as e:  # argparse's refusals
            code = e.code
        out = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, out.out, out.err)

    return run


def _one_line_refusal(r: subprocess.CompletedProcess, *words: str) -> None:
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stderr and "[1/" not in r.stdout, "a step ran before the refusal"
    line = r.stderr.strip().splitlines()[-1]
    for w in words:
        assert w in line, line


@pytest.mark.parametrize("args,words", [
    (["--n-sim", "-1"], ("-1", "from 1 to 10,000")),
    (["--n-sim", "0"], ("0", "from 1 to 10,000")),
    (["--n-sim", "10001"], ("10001", "from 1 to 10,000")),
    (["--clock-mhz", "-100"], ("-100 MHz", "(0, 1000]")),
    (["--clock-mhz", "0"], ("0 MHz", "(0, 1000]")),
    (["--clock-mhz", "nan"], ("nan MHz",)),
    (["--target-fps", "inf"], ("'inf'", "positive finite")),
    (["--target-fps", "nan"], ("'nan'", "positive finite")),
    (["--target-fps", "-5"], ("'-5'", "positive finite")),
])
def test_out_of_range_values_are_refused_before_any_step(cli, tmp_path, args, words):
    r = cli("--output-dir", str(tmp_path / "b"), *args)
    _one_line_refusal(r, *words)
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize("config,words", [
    ({"MVTU_1": {"pe": 4, "simd": 4}}, ("node MVTU_1", "unknown key 'pe'", '"PE"')),
    ({"MVTU_0": {"PE": "8"}}, ("node MVTU_0", "PE must be a positive integer", '"8"')),
    ({"MVTU_0": {"PE": 8.0}}, ("node MVTU_0", "PE must be a positive integer", "8.0")),
    ({"MVTU_0": {"PE": True}}, ("PE must be a positive integer", "true")),
    ({"MVTU_0": {"SIMD": 0}}, ("SIMD must be a positive integer", "0")),
    ([], ("top level must be an object", "list")),
    ({"MVTU_0": 5}, ("node MVTU_0", "must be an object", "not 5")),
    ({"Defaults": []}, ("the Defaults entry", "must be an object")),
])
def test_malformed_folding_configs_are_refused_before_any_step(cli, tmp_path, config, words):
    f = tmp_path / "fold.json"
    f.write_text(json.dumps(config))
    r = cli("--output-dir", str(tmp_path / "b"), "--folding-config", str(f))
    _one_line_refusal(r, str(f), *words)


def test_unreadable_folding_config_names_the_file(cli, tmp_path):
    f = tmp_path / "fold.json"
    f.write_text("{not json")
    _one_line_refusal(cli("--folding-config", str(f)), str(f))


@pytest.fixture(scope="module")
def tfc_hw(tmp_path_factory):
    out = tmp_path_factory.mktemp("tfc_hw")
    cfg = BuildConfig(model=MODEL, output_dir=out, n_verify=2, log=lambda s: None)
    upto = [s.name for s in STEPS].index("lower") + 1
    return run_build(cfg, STEPS[:upto])


def _apply(model, tmp_path, config):
    f = tmp_path / "fold.json"
    f.write_text(json.dumps(config))
    return apply_folding_config(model, f)


def test_string_pe_that_would_be_legal_is_a_type_error_not_illegal(tfc_hw, tmp_path):
    with pytest.raises(BuildConfigError, match='PE must be a positive integer, not "8"'):
        _apply(tfc_hw, tmp_path, {"MVTU_0": {"PE": "8", "SIMD": 8}})
    model = _apply(tfc_hw, tmp_path, {"MVTU_0": {"PE": 8, "SIMD": 8}})
    mvtu = next(n for n in model.graph.node if n.name == "MVTU_0")
    assert {a.name: a.i for a in mvtu.attribute if a.name in ("PE", "SIMD")} == {"PE": 8, "SIMD": 8}


def test_illegal_folding_lists_the_divisors(tfc_hw, tmp_path):
    with pytest.raises(BuildConfigError, match=r"PE=3 .* MVTU MVTU_0: PE must divide MH=64, one of 1, 2, 4, 8, 16, 32, 64$"):
        _apply(tfc_hw, tmp_path, {"MVTU_0": {"PE": 3}})
    with pytest.raises(BuildConfigError, match=r"SIMD=5 .* SIMD must divide MW=784, one of 1, 2, 4, 7, 8, 14"):
        _apply(tfc_hw, tmp_path, {"MVTU_0": {"SIMD": 5}})


def test_unknown_or_unfoldable_node_lists_the_foldable_layers(tfc_hw, tmp_path):
    with pytest.raises(BuildConfigError, match="'MVTU_9', which the hardware graph does not have; its foldable "
                                               "layers are MVTU_0, MVTU_1, MVTU_2, MVTU_3, LabelSelect_0"):
        _apply(tfc_hw, tmp_path, {"MVTU_9": {"PE": 2}})
    with pytest.raises(BuildConfigError, match="LabelSelect has no SIMD"):
        _apply(tfc_hw, tmp_path, {"LabelSelect_0": {"PE": 1, "SIMD": 2}})


def test_finn_only_keys_are_accepted(tfc_hw, tmp_path):
    """A folding config carried over from FINN keeps its memory settings; they mean nothing here."""
    _apply(tfc_hw, tmp_path, {"Defaults": {}, "MVTU_1": {"PE": 8, "SIMD": 8, "ram_style": "block",
                                                         "mem_mode": "internal_decoupled"}})


def test_non_finite_checkpoint_leaves_the_build_folder_alone(cli, tmp_path):
    """The checkpoint is read before the folder is touched: an existing build keeps its files."""
    payload = torch.load(REPO / "checkpoints" / f"{MODEL}.pt", map_location="cpu", weights_only=True)
    state = payload["state_dict"]
    name = next(k for k, v in state.items() if v.is_floating_point() and v.numel() > 1)
    state[name][0] = float("nan")
    bad = tmp_path / "nan.pt"
    torch.save(payload, bad)
    folder = tmp_path / "b"
    folder.mkdir()
    (folder / "01_qonnx.onnx").write_bytes(b"an earlier build's graph")
    r = cli("--output-dir", str(folder), "--checkpoint", str(bad))
    _one_line_refusal(r, str(bad), name)
    assert (folder / "01_qonnx.onnx").read_bytes() == b"an earlier build's graph"


def test_misspelt_make_variable_is_refused(make_n):
    r = make_n("build", "ESTIMTE=analytic")
    assert r.returncode != 0 and "unknown variable ESTIMTE" in r.stderr and "ESTIMATE" in r.stderr
    ok = make_n("build", "ESTIMATE=analytic", "TARGET_FPS=5000")
    assert ok.returncode == 0 and "--estimate analytic" in ok.stdout and "--target-fps 5000" in ok.stdout


def test_a_builds_own_folding_config_of_a_conv_net_applies_again(tmp_path):
    """write_folding_config lists the window generators at their consumer's SIMD; reading it back
    accepts them, and refuses one that disagrees."""
    from flows.build.fold import auto_fold, layer_folds, write_folding_config
    from flows.compile import lower
    from models.checkpoint import load_model
    from models.registry import model_info

    model, _ = load_model(REPO / "checkpoints" / "cnv_w1a1_nobn.pt", "cnv_w1a1_nobn")
    hw = lower(model, model_info("cnv_w1a1_nobn").input_shape)[2]
    unfolded = ModelWrapper(copy.deepcopy(hw.model))
    written = tmp_path / "written.json"
    write_folding_config(auto_fold(hw, 20_000), written)
    config = json.loads(written.read_text())
    swg = next(k for k in config if k.startswith("SlidingWindow"))
    again = apply_folding_config(unfolded, written)
    assert layer_folds(again) == layer_folds(hw)
    config[swg]["SIMD"] = config[swg]["SIMD"] * 2 if config[swg]["SIMD"] == 1 else 1
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(config))
    with pytest.raises(BuildConfigError, match=f"node {swg}: SIMD=.* runs at the SIMD of the layer it feeds"):
        apply_folding_config(hw, bad)
