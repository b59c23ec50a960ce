"""bnn_dwc: the bit stream must pass through unchanged, low bits first."""

from __future__ import annotations

import numpy as np
import pytest

from rtl_files import rtl
from flows.sim.verilator import build_harness, run_harness


@pytest.mark.parametrize("in_w,out_w", [(8, 32), (32, 8), (3, 6), (100, 50), (8, 8)])
def test_dwc(in_w: int, out_w: int) -> None:
    h = build_harness(rtl("bnn_dwc"), "bnn_dwc", {"IN_W": in_w, "OUT_W": out_w})
    ew = min(in_w, out_w)  # common element: the stream is a sequence of these
    n_elems = 24 * max(in_w, out_w) // ew
    rng = np.random.default_rng(in_w * 1000 + out_w)
    x = rng.integers(0, 1 << min(ew, 62), size=n_elems)
    n_out = n_elems * ew // out_w
    n_in = n_elems * ew // in_w

    res = run_harness(h, x, ew, ew, n_out)
    np.testing.assert_array_equal(res.outputs.reshape(-1), x)
    # Full rate on the narrow side.
    narrow = res.stats.in_cycles if in_w <= out_w else res.stats.out_cycles
    assert np.all(np.diff(narrow) == 1)
    assert res.stats.cycles <= max(n_in, n_out) + 3

    for seed, pin, pout in ((1, 0.7, 0.5), (2, 0.3, 0.9), (3, 1.0, 0.2)):
        res = run_harness(h, x, ew, ew, n_out, in_prob=pin, out_prob=pout, seed=seed)
        np.testing.assert_array_equal(res.outputs.reshape(-1), x)
