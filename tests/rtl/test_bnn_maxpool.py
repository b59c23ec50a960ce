"""bnn_maxpool against flows.ops max_pool (stride == K, floor mode)."""

from __future__ import annotations

import numpy as np
import pytest

from rtl_files import rtl
from flows.ops.max_pool import max_pool
from flows.sim.verilator import build_harness, run_harness

# (H, W, CH, K, PE, EW, SIGNED)
CONFIGS = [
    (4, 6, 3, 2, 1, 1, 0),   # bits: OR, PE=1
    (5, 7, 8, 2, 4, 8, 1),   # signed bytes, odd size: last row and column dropped
    (6, 8, 4, 3, 4, 4, 0),   # K=3, PE=CH, two columns dropped
    (3, 5, 6, 1, 2, 3, 1),   # K=1: identity
]


@pytest.mark.parametrize("h,w,ch,k,pe,ew,signed", CONFIGS,
                         ids=[f"{c[0]}x{c[1]}x{c[2]}-k{c[3]}-pe{c[4]}-ew{c[5]}-s{c[6]}" for c in CONFIGS])
def test_maxpool(h: int, w: int, ch: int, k: int, pe: int, ew: int, signed: int) -> None:
    hs = build_harness(rtl("bnn_maxpool"), "bnn_maxpool",
                       {"IFM_H": h, "IFM_W": w, "CH": ch, "K": k, "PE": pe, "EW": ew, "SIGNED": signed})
    rng = np.random.default_rng(h * w * ch + k)
    n_img = 3
    lo, hi = (-(1 << (ew - 1)), 1 << (ew - 1)) if signed and ew > 1 else (0, 1 << ew)
    x = rng.integers(lo, hi, size=(n_img, h, w, ch))
    expect = max_pool(x, k, k).reshape(-1, pe)
    sgn = bool(signed) and ew > 1

    res = run_harness(hs, x.reshape(-1, pe), ew, ew, expect.shape[0], out_signed=sgn)
    np.testing.assert_array_equal(res.outputs, expect)
    # One input beat per cycle.
    assert np.all(np.diff(res.stats.in_cycles) == 1)

    for seed, pin, pout in ((1, 0.7, 0.5), (2, 1.0, 0.1)):
        res = run_harness(hs, x.reshape(-1, pe), ew, ew, expect.shape[0], out_signed=sgn,
                          in_prob=pin, out_prob=pout, seed=seed)
        np.testing.assert_array_equal(res.outputs, expect)
