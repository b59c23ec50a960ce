"""Resource estimates: the analytic model against Yosys, the per-layer attribution, and the budget error."""
import copy
import json
import random

import pytest

from flows.estimates import analytic
from flows.boards import BOARD_DIR, load_board
from flows.backends.design import build_design
from flows.backends.rtl_library import library_files
from flows.estimates.estimate import ResourceBudgetError, estimate, estimate_design, step_estimate
from flows.estimates.yosys_synth import SynthJob, count_cells, synthesise



def test_bram_aspect_ratios():
    assert analytic.bram36(512, 98) == 7.5  # 15 RAMB18 of 36 x 512 (tfc's first layer, PE 32 SIMD 16)
    assert analytic.bram36(8, 80) == 0.5
    assert analytic.bram36(1, 32768) == 1.0
    assert analytic.bram36(72, 513) == 2.0


def test_cell_counting():
    r = count_cells({"LUT6": 10, "LUT2": 5, "RAM32M": 2, "FDRE": 7, "FDSE": 1, "RAMB18E1": 3, "RAMB36E1": 1,
                     "CARRY4": 9, "MUXF7": 4, "DSP48E1": 2})
    assert (r.LUT, r.FF, r.BRAM36, r.DSP) == (23, 8, 2.5, 2)


@pytest.mark.parametrize("mw,mh,pe,simd,ib,acc,wb", [(64, 10, 2, 4, 1, 7, 1), (64, 64, 8, 8, 1, 7, 1),
                                                     (9, 32, 4, 9, 8, 16, 4)])  # a 4-bit grey stem
def test_analytic_mvtu_within_stated_error(tmp_path, mw, mh, pe, simd, ib, acc, wb):
    nf, sf = mh // pe, mw // simd
    # Random ROM contents, as in the calibration (regular patterns synthesise smaller).
    rnd = random.Random(f"mvtu_{mw}x{mh}_p{pe}_s{simd}_i{ib}")
    (tmp_path / "w.hex").write_text("".join(f"{rnd.getrandbits(pe * simd * wb):x}\n" for _ in range(nf * sf)))
    (tmp_path / "t.hex").write_text("".join(f"{rnd.getrandbits(pe * acc):x}\n" for _ in range(nf)))
    params = {"MW": mw, "MH": mh, "PE": pe, "SIMD": simd, "IN_BITS": ib, "ACC_BITS": acc, "USE_THRESH": 1,
              "WEIGHT_BITS": wb}
    job = SynthJob("bnn_mvtu", {**{k: str(v) for k, v in params.items()}, "WEIGHT_FILE": '"w.hex"',
                                "THRESH_FILE": '"t.hex"'}, tuple(library_files("bnn_mvtu")),
                   tmp_path, "xc7")
    key = job.key()
    first = synthesise(job, tmp_path / "cache")
    measured = first.resources
    assert not first.cached
    # The MVTU registers its pipeline: a few LUT levels between registers, well inside 10 ns.
    assert first.path is not None and 1 <= first.path.lut_levels <= 8 and first.path.fmax_mhz > 100
    model = analytic.mvtu(**params)
    assert model.BRAM36 == measured.BRAM36
    assert abs(model.LUT - measured.LUT) <= 0.15 * measured.LUT
    assert abs(model.FF - measured.FF) <= 0.10 * measured.FF
    again = synthesise(job, tmp_path / "cache")
    assert again.cached and again.resources == measured and again.path == first.path
    # A different ROM content is a different design: no stale cache hit.
    (tmp_path / "w.hex").write_text((tmp_path / "w.hex").read_text().replace("1", "2", 1))
    assert job.key() != key


def test_every_instance_is_charged_to_a_layer(tfc_build):
    cfg, model = tfc_build
    manifest = json.loads(cfg.path("rtl", "manifest.json").read_text())
    insts = build_design(model).instances
    layer_names = {layer["name"] for layer in manifest["layers"]}
    assert {i.layer for i in insts} == layer_names
    assert sum(i.module == "bnn_mvtu" for i in insts) == sum(layer["op_type"] == "MVTU" for layer in manifest["layers"])
    assert {"bnn_fifo", "bnn_dwc", "bnn_label_select"} <= {i.module for i in insts}


def test_tfc_fits_pynq_z2_and_tiny_board_names_layers_to_fold(tfc_build, tmp_path):
    cfg, model = copy.copy(tfc_build[0]), tfc_build[1]
    est = estimate(cfg.path("rtl"), model, cfg.board_data, "analytic")
    assert not est.over_budget()
    data = json.loads((BOARD_DIR / "Pynq-Z2.json").read_text())
    data["capacity"] = {**data["capacity"], "LUT": 2000}
    (tmp_path / "tiny.json").write_text(json.dumps({**data, "name": "tiny"}))
    tiny = load_board(str(tmp_path / "tiny.json"))
    cfg.board_data, cfg.estimate = tiny, "analytic"
    with pytest.raises(ResourceBudgetError) as exc:
        step_estimate(model, cfg)
    msg = str(exc.value)
    biggest = max(est.layers, key=lambda e: e.resources.LUT).name
    assert "does not fit tiny" in msg and "utilisation" in msg and f"fold down {biggest}" in msg
    cfg.estimates_only = True  # reports, does not stop
    step_estimate(model, cfg)
    assert json.loads(cfg.path("estimate", "resources.json").read_text())["fits"] is False


# Yosys totals (LUT, BRAM36) that README.md quotes: binarydensenet_nobn as `make build` folds it for
# Pynq-Z2 before whole-window generators (9,216 cycles), cnv_w1a1 (CIFAR-10 shape) at FINN's published folding.
README_YOSYS = {"binarydensenet_nobn": (15_154, 55.5), "cnv": (11_850, 72.5)}
# The analytic estimate of the whole design stays within this factor of those, either way
# (measured: binarydensenet_nobn +3.5% LUT, +6% BRAM36; cnv_w1a1 -3.5% LUT, +6% BRAM36).
ZOO_FACTOR = 1.25


@pytest.mark.parametrize("case", sorted(README_YOSYS))
def test_analytic_estimate_covers_zoo_designs(tmp_path, case):
    from flows.bench.sim import CASES, Case, _hardware
    from flows.build.fold import auto_fold

    # binarydensenet_nobn at the README's folding: 9,216 cycles, the fastest before whole-window generators.
    c = CASES[case] if case in CASES else Case(case, case, 1, lambda hw, _: auto_fold(hw, 9_216))
    design = build_design(_hardware(c, tmp_path))
    modules = {i.module for i in design.instances}
    assert {"bnn_swg", "bnn_mvtu"} <= modules and modules <= set(analytic.MODELS)
    total = estimate_design(design, load_board("Pynq-Z2"), "analytic").total  # no FlowError: every instance
    lut, bram = README_YOSYS[case]
    assert 1 / ZOO_FACTOR <= total.LUT / lut <= ZOO_FACTOR, total
    assert 1 / ZOO_FACTOR <= total.BRAM36 / bram <= ZOO_FACTOR, total
