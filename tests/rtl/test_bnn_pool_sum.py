"""bnn_pool_sum against flows.ops window_sum (stride == K, floor mode)."""

from __future__ import annotations

import numpy as np
import pytest

from rtl_files import rtl
from flows.ops.window_sum import window_sum
from flows.sim.verilator import build_harness, run_harness

# (H, W, CH, K, PE, EW, SIGNED, OUT_BITS)
CONFIGS = [
    (4, 6, 3, 2, 1, 1, 0, 3),    # bits: popcount of 4, PE=1
    (5, 7, 8, 2, 4, 8, 1, 10),   # signed bytes, odd size: last row and column dropped
    (9, 9, 4, 3, 4, 1, 0, 4),    # K=3 on bits, PE=CH: popcount of 9
    (7, 8, 6, 3, 2, 8, 0, 12),   # unsigned bytes (the 8-bit input), K=3, a row and two columns dropped
    (3, 5, 6, 1, 2, 3, 1, 3),    # K=1: identity
]


@pytest.mark.parametrize("h,w,ch,k,pe,ew,signed,out_bits", CONFIGS,
                         ids=[f"{c[0]}x{c[1]}x{c[2]}-k{c[3]}-pe{c[4]}-ew{c[5]}-s{c[6]}" for c in CONFIGS])
def test_pool_sum(h: int, w: int, ch: int, k: int, pe: int, ew: int, signed: int, out_bits: int) -> None:
    hs = build_harness(rtl("bnn_pool_sum"), "bnn_pool_sum",
                       {"IFM_H": h, "IFM_W": w, "CH": ch, "K": k, "PE": pe, "EW": ew, "SIGNED": signed,
                        "OUT_BITS": out_bits})
    rng = np.random.default_rng(h * w * ch + k)
    n_img = 3
    sgn = bool(signed) and ew > 1
    lo, hi = (-(1 << (ew - 1)), 1 << (ew - 1)) if sgn else (0, 1 << ew)
    x = rng.integers(lo, hi, size=(n_img, h, w, ch))
    # Extreme images: every window sum at the ends of its range, which OUT_BITS must hold.
    x[0], x[1] = lo, hi - 1
    expect = window_sum(x, k).reshape(-1, pe)

    res = run_harness(hs, x.reshape(-1, pe), ew, out_bits, expect.shape[0], out_signed=sgn)
    np.testing.assert_array_equal(res.outputs, expect)
    # One input beat per cycle.
    assert np.all(np.diff(res.stats.in_cycles) == 1)

    for seed, pin, pout in ((1, 0.7, 0.5), (2, 1.0, 0.1)):
        res = run_harness(hs, x.reshape(-1, pe), ew, out_bits, expect.shape[0], out_signed=sgn,
                          in_prob=pin, out_prob=pout, seed=seed)
        np.testing.assert_array_equal(res.outputs, expect)
