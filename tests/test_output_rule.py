"""The output rule (flows/frontend/output_affine.py) on its own: bounds, modes and named near ties."""
from fractions import Fraction

import numpy as np
from qonnx.core.datatype import DataType

from flows.frontend.output_affine import float_error_bound, plan_output
from flows.frontend.values import IntTensor


def _acc(scale, offset, post, lo=-64, hi=64, c=3):
    return IntTensor("acc", list(scale), list(offset), [lo] * c, [hi] * c, DataType["INT8"], post=post)


def test_exact_affine_is_exact():
    post = (("start", [Fraction(1)] * 3, [Fraction(0)] * 3), ("mul", [Fraction(1, 4)] * 3))
    mul, add, rule = plan_output(_acc([Fraction(1, 4)] * 3, [Fraction(0)] * 3, post), 3)
    assert rule["mode"] == "exact" and np.all(mul == 0.25) and not np.any(add)


def test_tensor_norm_is_per_tensor_with_a_bound():
    d = Fraction(float(np.float32(np.sqrt(np.float32(1 + 1e-4)))))
    post = (("start", [Fraction(1)] * 3, [Fraction(0)] * 3), ("div", [d] * 3))
    mul, _, rule = plan_output(_acc([1 / d] * 3, [Fraction(0)] * 3, post), 3)
    assert rule["mode"] == "per-tensor" and rule["always_agrees"]
    t, e = float_error_bound(post, 0, 64)
    assert t == 64 / d and 0 < e < Fraction(1, 2**16)
    # The float32 division is within the bound of the exact value.
    assert abs(Fraction(float(np.float32(64) / np.float32(float(d)))) - t) <= e


def test_per_class_scores_fit_24_bits_and_bound_their_rounding():
    S = [Fraction(1, 3), Fraction(-2, 7), Fraction(5, 11)]
    O = [Fraction(1, 10), Fraction(0), Fraction(-3, 13)]
    post = (("start", [Fraction(1)] * 3, [Fraction(0)] * 3), ("bn", S, [Fraction(0)] * 3, O))
    mul, add, rule = plan_output(_acc(S, O, post), 3)
    assert rule["mode"] == "per-class"
    hs, ho = [Fraction(v) for v in rule["hw_scale"]], [Fraction(v) for v in rule["hw_offset"]]
    for c in range(3):  # the emitted float32 constants are exactly the hardware's rationals
        assert Fraction(float(mul[c])) == hs[c] and Fraction(float(add[c])) == ho[c]
        for a in (-64, 64):
            p = max(abs(h.denominator) for h in hs + ho)
            assert abs((hs[c] * a + ho[c]) * p) < 2**23
            assert abs(hs[c] * a + ho[c] - (S[c] * a + O[c])) <= Fraction(rule["hw_delta"][c])
