"""Every RTL module must be clean under `verilator --lint-only -Wall`."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from flows.backends.rtl_library import library_files
from rtl_files import RTL

# (top, parameter sets): shapes that exercise the generate branches. The files each top needs come
# from the one dependency table, flows.backends.rtl_library.
CASES: list[tuple[str, list[dict[str, int | str]]]] = [
    ("bnn_mvtu", [
        {},
        {"MW": 784, "MH": 64, "PE": 16, "SIMD": 49, "IN_BITS": 8, "ACC_BITS": 20, "USE_THRESH": 0},
        {"MW": 10, "MH": 3, "PE": 3, "SIMD": 10, "ACC_BITS": 4, "USE_THRESH": 0},
        {"MW": 7, "MH": 5, "PE": 1, "SIMD": 1, "IN_BITS": 8, "ACC_BITS": 12},
        {"MW": 64, "MH": 8, "PE": 8, "SIMD": 64, "IN_BITS": 4, "ACC_BITS": 8},
        {"MW": 9, "MH": 32, "PE": 4, "SIMD": 9, "IN_BITS": 8, "ACC_BITS": 16, "WEIGHT_BITS": 4},
        {"MW": 27, "MH": 8, "PE": 8, "SIMD": 3, "IN_BITS": 8, "ACC_BITS": 18, "WEIGHT_BITS": 8,
         "USE_THRESH": 0},
        {"MW": 96, "MH": 10, "PE": 5, "SIMD": 32, "IN_BITS": 1, "ACC_BITS": 11, "WEIGHT_BITS": 4,
         "USE_THRESH": 0},
        {"MW": 140, "MH": 4, "PE": 4, "SIMD": 70, "IN_BITS": 1, "ACC_BITS": 11, "WEIGHT_BITS": 3},
        {"MW": 64, "MH": 8, "PE": 8, "SIMD": 8, "WEIGHT_STYLE": "logic"},
    ]),
    ("bnn_fifo", [{}, {"WIDTH": 1, "DEPTH": 2}, {"WIDTH": 100, "DEPTH": 5}]),
    ("bnn_dwc", [{}, {"IN_W": 32, "OUT_W": 8}, {"IN_W": 8, "OUT_W": 8},
                 {"IN_W": 3, "OUT_W": 6}, {"IN_W": 100, "OUT_W": 50}]),
    ("bnn_label_select", [{}, {"N": 12, "PE": 4, "EW": 16, "SIGNED": 1},
                          {"N": 7, "PE": 7}, {"N": 1, "PE": 1}]),
    ("bnn_swg", [
        {},
        {"IFM_H": 32, "IFM_W": 32, "CH": 64, "SIMD": 32},
        {"IFM_H": 6, "IFM_W": 5, "CH": 6, "STRIDE": 2, "PAD_L": 0, "PAD_B": 0, "SIMD": 3},
        {"EW": 8, "PAD_VALUE": -3, "CH": 4, "SIMD": 4},
        {"IFM_H": 1, "IFM_W": 1, "CH": 1, "K": 1, "PAD_T": 0, "PAD_L": 0, "PAD_B": 0, "PAD_R": 0},
    ]),
    ("bnn_swg_parallel", [
        {},
        {"IFM_H": 28, "IFM_W": 28, "CH": 1, "EW": 8, "PAD_T": 3, "PAD_L": 3, "PAD_B": 3, "PAD_R": 3,
         "PAD_VALUE": 200},
        {"IFM_H": 6, "IFM_W": 5, "CH": 6, "STRIDE": 2, "PAD_L": 0, "PAD_B": 0},
        {"IFM_H": 5, "IFM_W": 7, "CH": 2, "K": 2, "STRIDE": 2, "PAD_T": 0, "PAD_L": 0, "PAD_B": 0,
         "PAD_R": 0, "EW": 4},
        # Powers of two: a padded size filling its counter, the last window at its top value.
        {"IFM_H": 2, "IFM_W": 2, "CH": 1, "K": 2, "PAD_T": 0, "PAD_L": 0, "PAD_B": 0, "PAD_R": 0},
        {"IFM_H": 7, "IFM_W": 8, "CH": 2, "K": 2, "STRIDE": 3, "PAD_T": 1, "PAD_L": 0, "PAD_B": 1,
         "PAD_R": 1},
    ]),
    ("bnn_maxpool", [{}, {"K": 1}, {"IFM_H": 5, "IFM_W": 7, "CH": 8, "PE": 4, "EW": 8, "SIGNED": 1},
                     {"IFM_H": 6, "IFM_W": 8, "CH": 4, "K": 3, "PE": 4, "EW": 4}]),
    ("bnn_pool_sum", [{}, {"K": 1, "OUT_BITS": 1},
                      {"IFM_H": 5, "IFM_W": 7, "CH": 8, "PE": 4, "EW": 8, "SIGNED": 1, "OUT_BITS": 10},
                      {"IFM_H": 9, "IFM_W": 9, "CH": 4, "K": 3, "PE": 4, "OUT_BITS": 4}]),
    ("bnn_concat", [{}, {"CH0": 6, "CH1": 4, "SIMD0": 6, "SIMD1": 1, "OUT_SIMD": 2, "EW": 3},
                    {"CH0": 1, "CH1": 1}, {"CH0": 32, "CH1": 16, "SIMD0": 16, "SIMD1": 16, "OUT_SIMD": 48}]),
    ("bnn_duplicate", [{}, {"WIDTH": 1}]),
    ("bnn_score_affine", [{}, {"C": 10, "PE": 10, "IN_BITS": 7, "IN_SIGNED": 1, "M_BITS": 3, "OUT_BITS": 12},
                          {"C": 6, "PE": 2, "IN_BITS": 4, "M_BITS": 2, "OUT_BITS": 9}]),
    ("bnn_global_acc", [
        {},
        {"PIXELS": 9, "CH": 6, "PE": 3, "OUT_BITS": 4, "OUT_PE": 6},
        {"PIXELS": 5, "CH": 4, "EW": 8, "SIGNED": 1, "OUT_BITS": 12, "OUT_PE": 2},
        {"PIXELS": 1, "CH": 8, "PE": 8, "EW": 3, "OUT_BITS": 3, "OUT_PE": 4},
    ]),
    ("bnn_threshold", [{}, {"C": 12, "PE": 4, "IN_BITS": 4, "IN_SIGNED": 1, "T_BITS": 12},
                       {"C": 1, "PE": 1, "IN_BITS": 1, "T_BITS": 2}]),
    ("bnn_residual_add", [
        {},
        # Constants wider than the datapath, OUT_BITS beyond it, rounding shift.
        {"C": 8, "PE": 4, "IN0_BITS": 6, "IN0_SIGNED": 1, "IN1_BITS": 2, "F_BITS": 16,
         "ACC_BITS": 9, "SHIFT": 3, "OUT_BITS": 12},
        {"C": 1, "PE": 1, "IN0_BITS": 1, "IN1_BITS": 3, "IN1_SIGNED": 1, "F_BITS": 2,
         "ACC_BITS": 4, "SHIFT": 1, "OUT_BITS": 2},
    ]),
]


def test_every_module_is_covered() -> None:
    assert {p.stem for p in RTL.glob("*.v")} == {top for top, _ in CASES}


@pytest.mark.parametrize("top,param_sets", CASES, ids=[c[0] for c in CASES])
def test_lint(top: str, param_sets: list[dict[str, int]]) -> None:
    files: list[Path] = library_files(top, RTL)
    for params in param_sets:
        cmd = ["verilator", "--lint-only", "-Wall", "--top-module", top]
        cmd += [f'-G{k}="{v}"' if isinstance(v, str) else f"-G{k}={v}" for k, v in params.items()]
        cmd += [str(f) for f in files]
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert proc.returncode == 0 and not proc.stdout.strip(), f"{params}:\n{proc.stdout}"

