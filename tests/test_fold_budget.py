"""Budget mode: the fastest automatic folding that fits (flows.build.fold.fold_to_budget), a target capped
by the budget, and their wiring into the build."""
import copy
import dataclasses

import pytest
import torch
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp

from flows import cli
from flows.build import fold
from flows.boards import load_board
from flows.build.steps import STEPS, BuildConfig, step_fold
from flows.errors import BuildConfigError
from flows.compile import lower
from models.registry import create_model, model_info


@pytest.fixture(scope="module")
def graphs() -> dict[str, ModelWrapper]:
    """Hardware graphs with random weights (folding and resources do not depend on the values)."""
    out = {}
    for name in ("tfc_w1a1_nobn", "binarydensenet_nobn"):
        torch.manual_seed(0)
        model = create_model(name).eval()
        out[name] = lower(model, model_info(name).input_shape)[2]
    return out


def _copy(model: ModelWrapper) -> ModelWrapper:
    return ModelWrapper(copy.deepcopy(model.model))


def _lanes(model: ModelWrapper) -> int:
    ops = [getCustomOp(n) for n in model.graph.node if n.op_type == "MVTU"]
    return sum(op.get_nodeattr("PE") * op.get_nodeattr("SIMD") for op in ops)


def _brute_force(model: ModelWrapper, fits) -> int | None:
    """The bottleneck of the fastest candidate that fits, trying every candidate."""
    for c in fold.candidate_cycles(model):
        m = fold.auto_fold(_copy(model), c)
        if fits(m):
            return fold.bottleneck_cycles(m)
    return None


@pytest.mark.parametrize("name", ["tfc_w1a1_nobn", "binarydensenet_nobn"])
def test_synthetic_budget_picks_smallest_feasible_bottleneck(graphs, name):
    base = graphs[name]
    cands = fold.candidate_cycles(base)
    fastest = _lanes(fold.auto_fold(_copy(base), cands[0]))
    slowest = _lanes(fold.auto_fold(_copy(base), cands[-1]))
    assert fastest > slowest
    for budget in (slowest, int((fastest * slowest) ** 0.5), fastest // 3, fastest - 1, fastest):
        def fits(m, budget=budget):
            return _lanes(m) <= budget

        model = _copy(base)
        fold.fold_to_budget(model, fits)
        chosen = fold.bottleneck_cycles(model)
        assert fits(model)
        assert chosen == _brute_force(base, fits), budget
        # Nothing but the folding changed: the same as auto_fold at the chosen bottleneck.
        ref = fold.auto_fold(_copy(base), chosen)
        assert model.model.SerializeToString() == ref.model.SerializeToString()


def test_nothing_fits_is_an_error(graphs):
    model = _copy(graphs["tfc_w1a1_nobn"])
    with pytest.raises(fold.NoFoldingFitsError, match="slowest"):
        fold.fold_to_budget(model, lambda m: False)


@pytest.mark.parametrize("name,scale", [("tfc_w1a1_nobn", 1.0), ("binarydensenet_nobn", 0.3)])
def test_analytic_fit_on_a_small_board(graphs, tmp_path, name, scale):
    board = load_board("Pynq-Z2")
    board = dataclasses.replace(board, name="small", capacity={k: int(v * scale) for k, v in board.capacity.items()})
    fit = fold.AnalyticFit(board, 0.85)
    base = graphs[name]
    model = fold.fold_to_budget(_copy(base), fit)
    chosen = fold.bottleneck_cycles(model)
    cands = fold.candidate_cycles(base)
    assert fit(model) and max(fit.utilisation(model).values()) <= 0.85
    # Not trivially the fastest design: the next faster candidate is over the budget.
    i = cands.index(chosen)
    assert i > 0
    faster = fold.auto_fold(_copy(base), cands[i - 1])
    assert fold.bottleneck_cycles(faster) < chosen and not fit(faster)


def test_build_fold_step_fits_the_board(graphs, tmp_path):
    lines = []
    cfg = BuildConfig(model="tfc_w1a1_nobn", output_dir=tmp_path, fit_board=True, max_utilisation=0.5,
                      log=lines.append)
    model = step_fold(_copy(graphs["tfc_w1a1_nobn"]), cfg)
    log = "\n".join(lines)
    cycles = fold.bottleneck_cycles(model)
    assert f"chose {cycles:,} cycles per image" in log and "FPS at 100 MHz" in log and "LUT" in log
    assert "fitting to Pynq-Z2: every resource <= 50%" in log
    assert (tmp_path / "folding_config.json").is_file()
    # The budget settings feed the fold step's cache digest.
    fold_step = next(s for s in STEPS if s.name == "fold")
    assert "fold_budget" in fold_step.settings
    assert cfg.fold_budget["max_utilisation"] == 0.5 and cfg.fold_budget["capacity"]["LUT"] == 53200
    other = dataclasses.replace(cfg, max_utilisation=0.6)
    assert other.fold_budget != cfg.fold_budget
    (tmp_path / "f.json").write_text("{}")  # a folding config is read when the build is configured
    assert dataclasses.replace(cfg, fit_board=False, folding_config=tmp_path / "f.json").fold_budget is None
    # "max" and a target are different fold steps.
    assert dataclasses.replace(cfg, fit_board=False).target_cycles > cfg.target_cycles == 1


@pytest.mark.parametrize("name", ["tfc_w1a1_nobn", "binarydensenet_nobn"])
def test_target_within_budget_is_kept_and_capped_beyond(graphs, name):
    base = graphs[name]
    cands = fold.candidate_cycles(base)
    target = cands[len(cands) // 2] + 1  # between two candidates: auto_fold's own bottleneck
    at_target = fold.auto_fold(_copy(base), target)
    lanes = _lanes(at_target)

    # A budget the target meets: exactly the target folding, not a faster one.
    kept = fold.fold_to_budget(_copy(base), lambda m: _lanes(m) <= lanes, target)
    assert _folding(kept) == _folding(at_target)
    # A budget it does not: the fastest slower candidate that fits.
    capped = fold.fold_to_budget(_copy(base), lambda m: _lanes(m) < lanes, target)
    cycles = fold.bottleneck_cycles(capped)
    assert cycles > fold.bottleneck_cycles(at_target) and _lanes(capped) < lanes
    faster = [c for c in cands if target < c < cycles]
    assert all(_lanes(fold.auto_fold(_copy(base), c)) >= lanes for c in faster)


def _folding(model: ModelWrapper) -> list[tuple[str, int, int]]:
    return [(f.name, f.pe, f.simd) for f in fold.layer_folds(model)]


def test_build_caps_a_target_the_board_cannot_hold(graphs, tmp_path):
    lines = []
    cfg = BuildConfig(model="tfc_w1a1_nobn", output_dir=tmp_path, max_utilisation=0.05, log=lines.append)
    model = step_fold(_copy(graphs["tfc_w1a1_nobn"]), cfg)
    log = "\n".join(lines)
    target = fold.bottleneck_cycles(fold.auto_fold(_copy(graphs["tfc_w1a1_nobn"]), cfg.target_cycles))
    assert f"target 1,000,000 FPS ({cfg.target_cycles:,} cycles)" in log
    assert f"the target folding ({target:,} cycles) does not fit Pynq-Z2" in log
    assert fold.bottleneck_cycles(model) > target


def test_cli_target_fps_max(monkeypatch):
    p = cli.parser()
    args = p.parse_args(["build", "--model", "m", "--target-fps", "max", "--max-utilisation", "0.7"])
    assert args.target_fps == "max" and args.max_utilisation == 0.7
    assert p.parse_args(["build", "--model", "m", "--target-fps", "5000"]).target_fps == 5000.0
    assert p.parse_args(["build", "--model", "m"]).max_utilisation == 0.85
    for bad in ("fast", "0", "-3"):
        with pytest.raises(SystemExit):
            p.parse_args(["build", "--model", "m", "--target-fps", bad])

    seen = []
    monkeypatch.setattr("flows.build.steps.run_build", seen.append)
    assert cli.main(["build", "--model", "tfc_w1a1_nobn", "--target-fps", "max", "--max-utilisation", "0.7"]) == 0
    assert seen[0].fit_board and seen[0].max_utilisation == 0.7
    assert cli.main(["build", "--model", "tfc_w1a1_nobn", "--target-fps", "2000"]) == 0
    assert not seen[1].fit_board and seen[1].target_fps == 2000.0


def test_budget_mode_excludes_a_folding_config(tmp_path):
    with pytest.raises(BuildConfigError, match="folding-config"):
        BuildConfig(model="tfc_w1a1_nobn", fit_board=True, folding_config=tmp_path / "f.json")
    with pytest.raises(BuildConfigError, match="max-utilisation"):
        BuildConfig(model="tfc_w1a1_nobn", fit_board=True, max_utilisation=1.5)
