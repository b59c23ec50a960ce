"""bnn_swg_parallel against flows.ops sliding_window: whole windows per beat, padding, strides, throughput."""

from __future__ import annotations

import numpy as np
import pytest

from flows.backends.rtl_library import library_files
from rtl_files import RTL
from window_geometry import Window
from flows.sim.verilator import Harness, build_harness, run_harness


CONFIGS = [
    Window(5, 7, 3, 3, 1, (1, 1, 1, 1), 1, 1),       # binary, pad value 1
    Window(6, 5, 6, 3, 2, (1, 0, 0, 1), 0, 1),       # stride 2, asymmetric pads, cropped right column
    Window(4, 6, 4, 3, 1, (1, 1, 1, 1), 77, 8),      # 8-bit, non-zero pad
    Window(5, 7, 2, 2, 2, (0, 0, 0, 0), 0, 4),       # K=2 stride 2, odd size cropped
    Window(28, 28, 1, 3, 1, (3, 3, 3, 3), 200, 8),   # the stem: one 8-bit channel, 32x32 outputs
    Window(4, 9, 2, 3, 1, (2, 1, 0, 2), 1, 1),       # wide, pads on some sides only
    Window(9, 6, 3, 4, 3, (2, 3, 1, 0), 5, 3),       # tall, K=4 stride 3, cropped bottom row
    Window(7, 8, 2, 2, 3, (1, 0, 1, 1), 1, 1),       # stride beyond K: positions no window uses
]


def harness(c: Window) -> Harness:
    return build_harness(library_files("bnn_swg_parallel", RTL), "bnn_swg_parallel", c.params)


def expected(c: Window, x: np.ndarray) -> np.ndarray:
    return c.windows(x).reshape(-1, c.k * c.k * c.ch)


def run(c: Window, h: Harness, x: np.ndarray, **kw):
    n_out = expected(c, x).shape[0]
    return run_harness(h, x.reshape(-1, c.ch), c.ew, c.ew, n_out,
                       in_elems_per_beat=c.ch, out_elems_per_beat=c.k * c.k * c.ch, **kw)


@pytest.mark.parametrize("c", CONFIGS, ids=lambda c: c.id)
def test_swg_parallel(c: Window) -> None:
    h = harness(c)
    x = c.images(3)
    expect = expected(c, x)

    res = run(c, h, x)
    np.testing.assert_array_equal(res.outputs, expect)
    # One padded-image position per cycle, images back to back.
    assert res.stats.cycles <= len(x) * c.positions + 8, res.stats.cycles

    for seed, pin, pout in ((1, 0.7, 0.5), (2, 0.3, 1.0), (3, 1.0, 0.1)):
        res = run(c, h, x, in_prob=pin, out_prob=pout, seed=seed)
        np.testing.assert_array_equal(res.outputs, expect)


def test_swg_parallel_stem_rate() -> None:
    """The stem (28x28, one 8-bit channel, pads 3): one padded position per cycle, a window per cycle
    along an output row, images back to back."""
    c = Window(28, 28, 1, 3, 1, (3, 3, 3, 3), 0, 8)
    h = harness(c)
    n_img = 4
    x = c.images(n_img, seed=11)
    expect = expected(c, x)
    res = run(c, h, x)
    np.testing.assert_array_equal(res.outputs, expect)
    per_img = expect.shape[0] // n_img  # 32 * 32 windows
    out = res.stats.out_cycles.reshape(n_img, 32, 32)
    # Steady state: exactly the padded image's 34 * 34 positions per image.
    assert np.all(np.diff(out[:, -1, -1]) == c.positions), np.diff(out[:, -1, -1])
    # The output FIFO's credits cover its round trip: no bubble inside an output row.
    assert np.all(np.diff(out, axis=2) == 1)
    # First image: the walk itself plus the pipeline.
    assert out[0, -1, -1] <= c.positions + 8, out[0, -1, -1]
    assert per_img == 1024
