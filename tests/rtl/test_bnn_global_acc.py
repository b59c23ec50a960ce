"""bnn_global_acc against flows.ops global_accumulate."""

from __future__ import annotations

import numpy as np
import pytest

from flows.backends.rtl_library import library_files
from rtl_files import RTL
from flows.ops.global_accumulate import global_accumulate
from flows.sim.verilator import build_harness, run_harness

# (PIXELS, CH, PE, EW, SIGNED, OUT_BITS, OUT_PE)
CONFIGS = [
    (9, 6, 3, 1, 0, 4, 6),      # popcount of 3x3 bits, OUT_PE > PE, all-ones reaches 9
    (5, 4, 1, 8, 1, 12, 2),     # signed bytes, PE=1
    (1, 8, 8, 3, 0, 3, 4),      # one pixel: sum is the pixel, OUT_PE < PE
    (35, 10, 5, 8, 0, 14, 5),   # non-square 5x7 image, unsigned bytes
]


@pytest.mark.parametrize("pixels,ch,pe,ew,signed,out_bits,out_pe", CONFIGS,
                         ids=[f"p{c[0]}-ch{c[1]}-pe{c[2]}-ew{c[3]}-s{c[4]}-o{c[5]}x{c[6]}" for c in CONFIGS])
def test_global_acc(pixels: int, ch: int, pe: int, ew: int, signed: int, out_bits: int,
                    out_pe: int) -> None:
    h = build_harness(library_files("bnn_global_acc", RTL), "bnn_global_acc",
                      {"PIXELS": pixels, "CH": ch, "PE": pe, "EW": ew, "SIGNED": signed,
                       "OUT_BITS": out_bits, "OUT_PE": out_pe})
    rng = np.random.default_rng(pixels * ch + ew)
    n_img = 6
    lo, hi = (-(1 << (ew - 1)), 1 << (ew - 1)) if signed else (0, 1 << ew)
    x = rng.integers(lo, hi, size=(n_img, pixels, 1, ch))
    x[1] = hi - 1  # largest sums
    if signed:
        x[2] = lo
    expect = global_accumulate(x).reshape(-1, out_pe)
    n_out = expect.shape[0]

    res = run_harness(h, x.reshape(-1, pe), ew, out_bits, n_out, out_signed=bool(signed))
    np.testing.assert_array_equal(res.outputs, expect)
    if pixels > 1:
        # The drain overlaps the next image: one input beat per cycle throughout.
        assert np.all(np.diff(res.stats.in_cycles) == 1)

    for seed, pin, pout in ((1, 0.7, 0.5), (2, 1.0, 0.1), (3, 0.3, 1.0)):
        res = run_harness(h, x.reshape(-1, pe), ew, out_bits, n_out, out_signed=bool(signed),
                          in_prob=pin, out_prob=pout, seed=seed)
        np.testing.assert_array_equal(res.outputs, expect)
