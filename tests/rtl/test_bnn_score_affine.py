"""bnn_score_affine against m_c * x_c + n_c, under input gaps and output back-pressure."""
from __future__ import annotations

import numpy as np
import pytest
from rtl_files import rtl

from flows.backends.rtl_words import hex_words
from flows.ops.score_affine import score_affine_words
from flows.sim.verilator import build_harness, run_harness


@pytest.mark.parametrize("c,pe,in_bits,signed", [(10, 1, 7, 0), (6, 3, 5, 1), (4, 4, 8, 1)])
@pytest.mark.parametrize("probs", [(1.0, 1.0), (0.7, 0.5)])
def test_scores(tmp_path, c, pe, in_bits, signed, probs):
    rng = np.random.default_rng(c * 10 + pe)
    m_bits, out_bits = 4, 20
    m = [int(v) for v in rng.integers(-8, 8, size=c)]
    n = [int(v) for v in rng.integers(-5000, 5000, size=c)]
    (tmp_path / "p.hex").write_text(hex_words(score_affine_words(m, n, pe, m_bits, out_bits), pe * (m_bits + out_bits)))
    params = {"C": c, "PE": pe, "IN_BITS": in_bits, "IN_SIGNED": signed, "M_BITS": m_bits,
              "OUT_BITS": out_bits, "PARAM_FILE": "p.hex"}
    h = build_harness(rtl("bnn_score_affine"), "bnn_score_affine", params)
    lo, hi = (-(2 ** (in_bits - 1)), 2 ** (in_bits - 1)) if signed else (0, 2**in_bits)
    x = rng.integers(lo, hi, size=(7, c))
    res = run_harness(h, x, in_bits, out_bits, 7 * c // pe, out_signed=True, in_prob=probs[0],
                      out_prob=probs[1], cwd=tmp_path)
    assert np.array_equal(res.outputs.reshape(7, c), x * np.array(m) + np.array(n))
