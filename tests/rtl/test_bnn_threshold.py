"""bnn_threshold against flows.ops stream_threshold, under input gaps and output back-pressure."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rtl_files import rtl
from flows.ops.stream_threshold import stream_threshold
from flows.backends.rtl_words import hex_words
from flows.ops.stream_threshold import stream_threshold_words
from flows.sim.verilator import Harness, build_harness, run_harness

# (C, PE, IN_BITS, IN_SIGNED, T_BITS)
CONFIGS = [
    (5, 1, 4, 0, 5),     # PE=1, unsigned, tightest T_BITS
    (8, 4, 5, 1, 7),     # signed, PE>1
    (12, 3, 8, 1, 11),   # signed bytes, wide thresholds (some far outside the input range)
]


def x_range(in_bits: int, signed: int) -> tuple[int, int]:
    """Inclusive range of an input element."""
    return (-(1 << (in_bits - 1)), (1 << (in_bits - 1)) - 1) if signed else (0, (1 << in_bits) - 1)


def harness(tmp: Path, c: int, pe: int, in_bits: int, signed: int, t_bits: int,
            t: np.ndarray, desc: np.ndarray) -> Harness:
    (tmp / "p.hex").write_text(hex_words(stream_threshold_words([int(v) for v in t], [int(v) for v in desc],
                                                         pe, t_bits), pe * (t_bits + 1)))
    return build_harness(rtl("bnn_threshold"), "bnn_threshold",
                         {"C": c, "PE": pe, "IN_BITS": in_bits, "IN_SIGNED": signed,
                          "T_BITS": t_bits, "PARAM_FILE": "p.hex"})


@pytest.mark.parametrize("c,pe,in_bits,signed,t_bits", CONFIGS,
                         ids=[f"c{c[0]}-pe{c[1]}-in{c[2]}-s{c[3]}-t{c[4]}" for c in CONFIGS])
def test_threshold(tmp_path: Path, c: int, pe: int, in_bits: int, signed: int, t_bits: int) -> None:
    rng = np.random.default_rng(c * 100 + pe * 10 + in_bits)
    lo, hi = x_range(in_bits, signed)
    tlo, thi = x_range(t_bits, 1)
    # Mostly in-range thresholds, plus ones just and far outside it (constant outputs).
    t = rng.integers(lo, hi + 1, size=c)
    t[0], t[-1] = min(hi + 1, thi), max(lo - 1, tlo)
    if c > 4:
        t[1], t[2] = thi, tlo
    desc = rng.integers(0, 2, size=c)
    desc[0], desc[-1] = 0, 1
    h = harness(tmp_path, c, pe, in_bits, signed, t_bits, t, desc)

    pixels = 50
    x = rng.integers(lo, hi + 1, size=(pixels, c))
    x[:10] = np.clip(t, lo, hi)  # ties wherever the threshold is reachable
    x[10], x[11] = lo, hi
    expect = stream_threshold(x, t, desc).reshape(-1, pe)
    n = expect.shape[0]
    for seed, pin, pout in ((1, 1.0, 1.0), (2, 0.7, 0.5), (3, 1.0, 0.2), (4, 0.3, 1.0)):
        res = run_harness(h, x.reshape(-1, pe), in_bits, 1, n, in_prob=pin, out_prob=pout,
                          seed=seed, cwd=tmp_path)
        np.testing.assert_array_equal(res.outputs, expect, err_msg=f"seed {seed}")
        if seed == 1:
            assert res.stats.cycles <= n + 8, res.stats.cycles  # one beat per cycle


def test_ties_count_as_one(tmp_path: Path) -> None:
    # x == T must give 1 in both directions: a `>` or `<` in place of `>=` or
    # `<=` flips exactly the middle row of every channel.
    c, pe, in_bits, signed, t_bits = CONFIGS[1]
    lo, hi = x_range(in_bits, signed)
    t = np.array([lo + 1, -3, 0, 5, hi - 1, 2, -1, 7])
    desc = np.array([0, 1, 0, 1, 0, 1, 1, 0])
    h = harness(tmp_path, c, pe, in_bits, signed, t_bits, t, desc)
    x = np.stack([t - 1, t, t + 1])
    res = run_harness(h, x.reshape(-1, pe), in_bits, 1, 3 * c // pe, out_prob=0.5, cwd=tmp_path)
    got = res.outputs.reshape(3, c)
    np.testing.assert_array_equal(got[1], np.ones(c, dtype=np.int64))
    np.testing.assert_array_equal(got[0], desc)
    np.testing.assert_array_equal(got[2], 1 - desc)
