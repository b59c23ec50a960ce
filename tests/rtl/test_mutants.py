"""The RTL tests catch the bugs they exist for: each mutant below is one plausible slip in
hw/rtl, built and driven exactly as its module's own test drives the real module, and
that test's check must fail on it. (A too-shallow FIFO: tests/test_fifo_sizing.py.)"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rtl_files import rtl
from test_bnn_mvtu import Cfg, random_problem, reference
from test_bnn_mvtu import simulate as simulate_mvtu
from flows.sim.verilator import SimulationError, build_harness, run_harness


def mutant(tmp_path: Path, module: str, original: str, replacement: str) -> Path:
    """A copy of hw/rtl/<module>.v with `original` (which must occur exactly once) replaced."""
    src = rtl(module)[0].read_text()
    assert src.count(original) == 1, f"{original!r} is not a unique line of {module}.v"
    path = tmp_path / "mutant" / f"{module}.v"
    path.parent.mkdir(exist_ok=True)
    path.write_text(src.replace(original, replacement))
    return path


THRESHOLD = "assign result[gp] = XNOR ? (acc >= thr) : ($signed(acc) >= $signed(thr));"


@pytest.mark.parametrize("c", [Cfg(mw=12, mh=8, pe=2, simd=4, in_bits=1, acc_bits=5, use_thresh=1),
                               Cfg(mw=15, mh=6, pe=1, simd=5, in_bits=8, acc_bits=16, use_thresh=1)],
                         ids=["xnor", "int8"])
def test_mvtu_test_catches_strict_threshold(c: Cfg, tmp_path: Path) -> None:
    src = mutant(tmp_path, "bnn_mvtu", THRESHOLD, THRESHOLD.replace(">=", ">"))
    params = {"MW": c.mw, "MH": c.mh, "PE": c.pe, "SIMD": c.simd, "IN_BITS": c.in_bits,
              "ACC_BITS": c.acc_bits, "USE_THRESH": c.use_thresh, "WEIGHT_FILE": "w.hex", "THRESH_FILE": "t.hex"}
    h = build_harness([src, *rtl("bnn_fifo")], "bnn_mvtu", params)
    nvec = 20
    w, t, x = random_problem(c, nvec, seed=c.mw * 1000 + c.mh)
    res = simulate_mvtu(c, h, w, t, x, tmp_path)
    assert not np.array_equal(res.outputs.reshape(nvec, c.mh), reference(c, w, t, x))


FIFO_READ = "wire rd = (count != 0) && (!m_axis_tvalid || m_axis_tready);"
FIFO_READY = "assign s_axis_tready = (count != FULL_COUNT);"


@pytest.mark.parametrize("original,replacement", [
    (FIFO_READ, "wire rd = (count != 0);"),                # output register reloaded while stalled
    (FIFO_READY, "assign s_axis_tready = 1'b1;"),         # writes accepted into a full memory
], ids=["output-ignores-tready", "input-ignores-full"])
def test_fifo_test_catches_dropped_back_pressure(original: str, replacement: str, tmp_path: Path) -> None:
    h = build_harness([mutant(tmp_path, "bnn_fifo", original, replacement)], "bnn_fifo",
                      {"WIDTH": 8, "DEPTH": 2})
    x = np.arange(500) % 256
    # test_fifo's back-pressure pass: the harness checks AXI stability, the test the data.
    with pytest.raises((SimulationError, AssertionError)):
        res = run_harness(h, x, 8, 8, x.size, in_prob=0.9, out_prob=0.1, seed=3)
        np.testing.assert_array_equal(res.outputs.ravel(), x)
