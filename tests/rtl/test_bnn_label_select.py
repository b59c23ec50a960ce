"""bnn_label_select against numpy argmax (lowest index wins ties)."""

from __future__ import annotations

import numpy as np
import pytest

from rtl_files import rtl
from flows.sim.verilator import build_harness, run_harness


@pytest.mark.parametrize("n,pe,ew,signed", [(10, 1, 8, 0), (12, 4, 16, 1), (6, 6, 4, 1), (7, 7, 3, 0)])
def test_label_select(n: int, pe: int, ew: int, signed: int) -> None:
    h = build_harness(rtl("bnn_label_select"), "bnn_label_select",
                      {"N": n, "PE": pe, "EW": ew, "SIGNED": signed, "OUT_W": 8})
    rng = np.random.default_rng(n * 100 + pe)
    nvec = 200
    lo, hi = (-(1 << (ew - 1)), 1 << (ew - 1)) if signed else (0, 1 << ew)
    # Half the vectors draw from a tiny range so ties (and the extremes) are common.
    x = rng.integers(lo, hi, size=(nvec, n))
    x[::2] = rng.choice([lo, hi - 1, 0, 1], size=(nvec // 2, n))
    expect = np.argmax(x, axis=1)

    res = run_harness(h, x.reshape(-1, pe), ew, 8, nvec)
    np.testing.assert_array_equal(res.outputs[:, 0], expect)
    assert res.stats.cycles <= nvec * (n // pe) + 4

    for seed, pin, pout in ((1, 0.7, 0.5), (2, 1.0, 0.1)):
        res = run_harness(h, x.reshape(-1, pe), ew, 8, nvec, in_prob=pin, out_prob=pout, seed=seed)
        np.testing.assert_array_equal(res.outputs[:, 0], expect)
