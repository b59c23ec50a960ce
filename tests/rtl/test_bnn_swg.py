"""bnn_swg against flows.ops sliding_window: padding, strides, folding, throughput."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from flows.backends.rtl_library import library_files
from rtl_files import RTL
from window_geometry import Window
from flows.sim.verilator import Harness, build_harness, run_harness


@dataclass(frozen=True)
class Cfg(Window):
    simd: int

    @property
    def params(self) -> dict[str, int]:
        return {**super().params, "SIMD": self.simd}

    @property
    def id(self) -> str:
        return f"{super().id}-simd{self.simd}"


CONFIGS = [
    Cfg(5, 7, 3, 3, 1, (1, 1, 1, 1), 1, 1, 1),      # binary, pad value 1, SIMD=1
    Cfg(6, 5, 6, 3, 2, (1, 0, 0, 1), 0, 1, 3),      # stride 2, asymmetric pads, cropped edge
    Cfg(4, 6, 4, 3, 1, (1, 1, 1, 1), 77, 8, 4),     # 8-bit, non-zero pad, SIMD=CH
    Cfg(3, 4, 5, 1, 1, (0, 0, 0, 0), 0, 1, 5),      # K=1: pass-through
    Cfg(7, 5, 2, 1, 2, (0, 0, 0, 0), 0, 8, 1),      # K=1 stride 2: subsampling
    Cfg(5, 7, 2, 2, 2, (0, 0, 0, 0), 0, 4, 2),      # K=2 stride 2, odd size cropped
]


def harness(c: Cfg) -> Harness:
    return build_harness(library_files("bnn_swg", RTL), "bnn_swg", c.params)


def expected(c: Cfg, x: np.ndarray) -> np.ndarray:
    return c.windows(x).reshape(-1, c.simd)


def run(c: Cfg, h: Harness, x: np.ndarray, **kw):
    n_out = expected(c, x).shape[0]
    return run_harness(h, x.reshape(-1, c.simd), c.ew, c.ew, n_out, **kw)


@pytest.mark.parametrize("c", CONFIGS, ids=lambda c: c.id)
def test_swg(c: Cfg) -> None:
    h = harness(c)
    x = c.images(3)
    expect = expected(c, x)

    res = run(c, h, x)
    np.testing.assert_array_equal(res.outputs, expect)
    # Whichever side is longer sets the pace, plus the first window's rows.
    n_in = x.size // c.simd
    fill = c.k * c.w * (c.ch // c.simd)
    assert res.stats.cycles <= max(n_in, expect.shape[0]) + fill + 8, res.stats.cycles

    for seed, pin, pout in ((1, 0.7, 0.5), (2, 0.3, 1.0), (3, 1.0, 0.1)):
        res = run(c, h, x, in_prob=pin, out_prob=pout, seed=seed)
        np.testing.assert_array_equal(res.outputs, expect)


def test_swg_32x32x64_rate() -> None:
    """The CNV-size layer: one output beat per cycle, images back to back."""
    c = Cfg(32, 32, 64, 3, 1, (1, 1, 1, 1), 0, 1, 32)
    h = harness(c)
    n_img = 3
    x = c.images(n_img, seed=7)
    expect = expected(c, x)
    res = run(c, h, x)
    np.testing.assert_array_equal(res.outputs, expect)
    per_img = expect.shape[0] // n_img  # 32*32*9*64/32 = 18432 beats
    last = res.stats.out_cycles.reshape(n_img, per_img)[:, -1]
    # Steady state: exactly one image's worth of output beats per image time.
    assert np.all(np.diff(last) == per_img), np.diff(last)
    # First image: only the wait for the first window's last pixel (one input
    # row and two pixels of beats) is added.
    assert last[0] <= per_img + (32 + 2) * 2 + 8, last[0]
