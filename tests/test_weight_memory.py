"""Weight ROMs in block RAM or LUT logic (flows/build/weight_memory.py, bnn_mvtu's WEIGHT_STYLE):
the budget moves shallow ROMs to logic only where that makes a folding fit, the RTL computes the
same either way, and folding configs carry the choice as FINN's ram_style."""
import copy
import json

import numpy as np
import pytest
import torch
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp

from flows.backends.design import build_design
from flows.boards import load_board
from flows.build import fold
from flows.build.weight_memory import set_weight_styles
from flows.compile import lower
from flows.errors import BuildConfigError
from flows.estimates.estimate import estimate_design
from models.registry import create_model, model_info


def _hw(name: str) -> ModelWrapper:
    torch.manual_seed(0)
    return lower(create_model(name).eval(), model_info(name).input_shape)[2]


def _styles(model: ModelWrapper) -> dict[str, str]:
    return {n.name: getCustomOp(n).get_nodeattr("weightStyle") for n in model.get_nodes_by_op_type("MVTU")}


@pytest.fixture(scope="module")
def cnv() -> ModelWrapper:
    return _hw("cnv_w1a1_nobn")


def test_cnv_beats_element_wise_windows_with_shallow_roms_in_logic(cnv):
    board = load_board("Pynq-Z2")
    fit = fold.AnalyticFit(board, 0.85)
    model = fold.fold_to_budget(ModelWrapper(copy.deepcopy(cnv.model)), fit, settle=fit.settle)
    # Element-wise window generators stop every layer at 8,100 cycles (12,346 FPS at 100 MHz, 4x FINN's
    # 3,020); whole windows reach 1,024, and the budget, not the stem, now sets the pace in between.
    reachable = max(min(c for *_, c in getCustomOp(n).fold_options(model))
                    for n in model.graph.node if n.op_type in fold.FOLDABLE)
    assert reachable == 1024 < fold.bottleneck_cycles(model) < 8100
    styles = _styles(model)
    assert "logic" in styles.values() and fit(model)
    # The same folding with every ROM in block RAM is over the budget: the move is what makes it fit.
    set_weight_styles(model, {})
    total = estimate_design(build_design(model), board, "analytic").total
    assert total.BRAM36 > 0.85 * board.capacity["BRAM36"]
    # Each ROM moved is shallow (a LUT6 per bit covers 64 words), each ROM kept deeper or narrow.
    moved = [getCustomOp(model.get_node_from_name(n)).weight_rom_shape() for n, s in styles.items() if s == "logic"]
    assert all(depth <= 64 for _, depth in moved)


def test_a_design_that_fits_keeps_every_rom_in_block_ram():
    model = fold.auto_fold(_hw("tfc_w1a1_nobn"), 100)
    fit = fold.AnalyticFit(load_board("Pynq-Z2"), 0.85)
    assert fit(model) and set(_styles(model).values()) == {"block"}


def test_rtl_with_weights_in_logic_equals_golden(tmp_path):
    from flows.backends.rtlgen import generate_rtl
    from flows.frontend.lower import without_label_select
    from flows.sim.golden import run_golden
    from flows.sim.rtlsim import compile_accelerator, simulate
    from flows.testing.fuzz import use_fast_harnesses

    use_fast_harnesses()
    model = fold.auto_fold(_hw("tfc_w1a1_nobn"), 64)
    set_weight_styles(model, {n.name: "logic" for n in model.get_nodes_by_op_type("MVTU")})
    scores = without_label_select(model)
    generate_rtl(scores, tmp_path / "rtl")
    assert 'WEIGHT_STYLE("logic")' in (tmp_path / "rtl" / "bnn_top.v").read_text().replace(" ", "")
    x = np.random.default_rng(0).integers(0, 256, size=(20, 28, 28, 1))
    expected = run_golden(scores, x)[scores.graph.output[0].name]
    compile_accelerator(tmp_path / "rtl")
    got = simulate(tmp_path / "rtl", x, workers=1).outputs
    assert np.array_equal(got.reshape(expected.shape), expected)


def test_folding_configs_carry_the_choice_as_finns_ram_style(tmp_path):
    model = fold.auto_fold(_hw("tfc_w1a1_nobn"), 100)
    first = model.get_nodes_by_op_type("MVTU")[0].name
    set_weight_styles(model, {first: "logic"})
    fold.write_folding_config(model, tmp_path / "f.json")
    cfg = json.loads((tmp_path / "f.json").read_text())
    assert cfg[first]["ram_style"] == "distributed"
    assert {cfg[n]["ram_style"] for n in _styles(model) if n != first} == {"block"}
    assert fold.names_weight_styles(tmp_path / "f.json")
    again = fold.apply_folding_config(_hw("tfc_w1a1_nobn"), tmp_path / "f.json")
    assert _styles(again) == _styles(model)
    (tmp_path / "bad.json").write_text(json.dumps({first: {"PE": 1, "ram_style": "lutram"}}))
    with pytest.raises(BuildConfigError, match=f"node {first}: ram_style must be one of .*\"distributed\""):
        fold.read_folding_config(tmp_path / "bad.json")
