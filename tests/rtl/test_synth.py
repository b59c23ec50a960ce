"""Every module must synthesise for Xilinx 7-series with Yosys (synth_xilinx)."""

from __future__ import annotations

import random
import re
import subprocess
from pathlib import Path

import pytest

from flows.backends.rtl_library import library_files
from rtl_files import RTL

# (top, parameters); the files each top needs come from flows.backends.rtl_library.
CASES: list[tuple[str, dict[str, int | str]]] = [
    ("bnn_mvtu", {"MW": 64, "MH": 16, "PE": 4, "SIMD": 16, "IN_BITS": 1,
                  "ACC_BITS": 8, "USE_THRESH": 1}),
    ("bnn_mvtu", {"MW": 36, "MH": 8, "PE": 2, "SIMD": 12, "IN_BITS": 8,
                  "ACC_BITS": 16, "USE_THRESH": 1}),
    ("bnn_mvtu", {"MW": 9, "MH": 32, "PE": 4, "SIMD": 9, "IN_BITS": 8,
                  "ACC_BITS": 16, "USE_THRESH": 1, "WEIGHT_BITS": 4}),
    ("bnn_mvtu", {"MW": 64, "MH": 16, "PE": 4, "SIMD": 16, "IN_BITS": 1,
                  "ACC_BITS": 8, "USE_THRESH": 1, "WEIGHT_STYLE": "logic"}),
    ("bnn_fifo", {"WIDTH": 32, "DEPTH": 512}),
    ("bnn_dwc", {"IN_W": 8, "OUT_W": 24}),
    ("bnn_dwc", {"IN_W": 24, "OUT_W": 8}),
    ("bnn_label_select", {"N": 10, "PE": 2, "EW": 16, "SIGNED": 1}),
    ("bnn_swg", {"IFM_H": 32, "IFM_W": 32, "CH": 64, "K": 3, "STRIDE": 1, "PAD_T": 1,
                 "PAD_L": 1, "PAD_B": 1, "PAD_R": 1, "SIMD": 32, "EW": 1}),
    ("bnn_swg_parallel", {"IFM_H": 28, "IFM_W": 28, "CH": 1, "K": 3, "STRIDE": 1, "PAD_T": 3,
                          "PAD_L": 3, "PAD_B": 3, "PAD_R": 3, "PAD_VALUE": 0, "EW": 8}),
    ("bnn_swg_parallel", {"IFM_H": 32, "IFM_W": 32, "CH": 48, "K": 3, "STRIDE": 1, "PAD_T": 1,
                          "PAD_L": 1, "PAD_B": 1, "PAD_R": 1, "PAD_VALUE": 1, "EW": 1}),
    ("bnn_maxpool", {"IFM_H": 7, "IFM_W": 7, "CH": 8, "K": 2, "PE": 2, "EW": 8, "SIGNED": 1}),
    ("bnn_pool_sum", {"IFM_H": 9, "IFM_W": 9, "CH": 8, "K": 3, "PE": 2, "EW": 8, "SIGNED": 0,
                      "OUT_BITS": 12}),
    ("bnn_concat", {"CH0": 64, "CH1": 32, "SIMD0": 32, "SIMD1": 8, "EW": 1,
                    "OUT_SIMD": 16}),
    ("bnn_concat", {"CH0": 48, "CH1": 16, "SIMD0": 48, "SIMD1": 8, "EW": 1,
                    "OUT_SIMD": 64}),
    ("bnn_duplicate", {"WIDTH": 32}),
    ("bnn_global_acc", {"PIXELS": 64, "CH": 64, "PE": 8, "EW": 1, "OUT_BITS": 7,
                        "OUT_PE": 4}),
    ("bnn_threshold", {"C": 64, "PE": 4, "IN_BITS": 8, "IN_SIGNED": 1, "T_BITS": 11}),
    ("bnn_residual_add", {"C": 64, "PE": 2, "IN0_BITS": 8, "IN0_SIGNED": 1, "IN1_BITS": 8,
                          "IN1_SIGNED": 0, "F_BITS": 16, "ACC_BITS": 24, "SHIFT": 4,
                          "OUT_BITS": 8}),
]


def _write_roms(params: dict[str, int | str], d: Path) -> dict[str, int | str]:
    pe, simd, acc = int(params["PE"]), int(params["SIMD"]), int(params["ACC_BITS"])
    width = pe * simd * int(params.get("WEIGHT_BITS", 1))
    nf, sf = int(params["MH"]) // pe, int(params["MW"]) // simd
    w, t = d / "w.hex", d / "t.hex"
    w.write_text("".join(f"{(0x5A5A * (i + 1)) % (1 << width):x}\n" for i in range(nf * sf)))
    t.write_text("".join(f"{(i * 7) % (1 << (pe * acc)):x}\n" for i in range(nf)))
    return {**params, "WEIGHT_FILE": str(w), "THRESH_FILE": str(t)}


# Modules with one PARAM_FILE ROM of C/PE words: their word width in bits.
_PARAM_WORD_BITS = {
    "bnn_threshold": lambda p: int(p["PE"]) * (int(p["T_BITS"]) + 1),
    "bnn_residual_add": lambda p: int(p["PE"]) * 10 * int(p["F_BITS"]),
}


def _write_param_rom(top: str, params: dict[str, int | str], d: Path) -> dict[str, int | str]:
    # Yosys fails on a missing $readmemh file, and constant contents would be optimised away.
    bits = _PARAM_WORD_BITS[top](params)
    rom = d / "p.hex"
    rng = random.Random(bits)
    rom.write_text("".join(f"{rng.getrandbits(bits):x}\n"
                           for _ in range(int(params["C"]) // int(params["PE"]))))
    return {**params, "PARAM_FILE": str(rom)}


@pytest.mark.parametrize("top,params", CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_synth_xilinx(top: str, params: dict[str, int | str],
                      tmp_path: Path) -> None:
    if top == "bnn_mvtu":
        params = _write_roms(params, tmp_path)
    elif top in _PARAM_WORD_BITS:
        params = _write_param_rom(top, params, tmp_path)
    chparams = " ".join(f"-set {k} {v if isinstance(v, int) else chr(34) + v + chr(34)}"
                        for k, v in params.items())
    files = " ".join(str(f) for f in library_files(top, RTL))
    script = (f"read_verilog -defer {files}\n"
              f"chparam {chparams} {top}\n"
              f"synth_xilinx -top {top} -family xc7\n"
              f"tee -q -o stat.txt stat\n")
    proc = subprocess.run(["yosys", "-q", "-p", script], cwd=tmp_path,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.returncode == 0, proc.stdout
    if top in ("bnn_mvtu", "bnn_swg"):
        # The weight ROM and the line buffer must become block RAM, unless the ROM is asked to be logic.
        stat = (tmp_path / "stat.txt").read_text()
        logic = params.get("WEIGHT_STYLE") == "logic"
        assert bool(re.search(r"RAMB(18|36)E1", stat)) != logic, stat
    if int(params.get("WEIGHT_BITS", 1)) > 1:
        # Multi-bit weights are bit planes through adder trees: no multiplier, no DSP.
        assert "DSP48E1" not in (tmp_path / "stat.txt").read_text()
    if top == "bnn_residual_add":
        # One DSP per input and lane: the piece is selected before the multiply.
        stat = (tmp_path / "stat.txt").read_text()
        m = re.search(r"DSP48E1\s+(\d+)", stat)
        assert m and int(m.group(1)) == 2 * int(params["PE"]), stat
