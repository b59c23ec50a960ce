"""Fixed-point arithmetic for affines that no threshold can absorb: the residual stream.

A residual add sums per-channel monotone piecewise-affine functions of integer
tensors (a skip path's accumulator, alpha * RPReLU(conv accumulator), a
previous stream). The hardware computes it as integers with one shared scale S
per tensor (as in "Optimal Quantization for Batch Normalization"):

    real = S * H,   H = (sum_i term_i + round) >> shift,
    term_i = mul_hi * x_i + off_hi  if x_i >= knot  else  mul_lo * x_i + off_lo

When every coefficient is a multiple of one rational S (dyadic parameters, as
the zoo trains them) and H fits the width budget, shift = 0 and H is exact.
Otherwise S becomes a power of two sized to the budget, the coefficients are
rounded at `GUARD_BITS` finer precision, and the worst-case error is reported.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

MAX_STREAM_BITS = 32  # the hardware's stream width budget
GUARD_BITS = 8


@dataclass
class Piece:
    """real = scale * x + offset for integer x in [lo, hi] (one piece of one channel)."""

    scale: Fraction
    offset: Fraction
    lo: int
    hi: int


@dataclass
class IntegerTerms:
    """Integer coefficients per input and channel, the shared output scale, and what was lost."""

    knot: list[list[int]]
    mul_hi: list[list[int]]
    off_hi: list[list[int]]
    mul_lo: list[list[int]]
    off_lo: list[list[int]]
    shift: int
    scale: Fraction  # real value of one output step
    lo: list[int]  # output range per channel
    hi: list[int]
    bits: int  # signed width of the output
    acc_bits: int  # signed width of every term and of their sum before the shift
    error_bound: float  # max |real - S * H| over all inputs, 0.0 when exact


def _rational_gcd(values: list[Fraction]) -> Fraction:
    num, den = 0, 1
    for v in values:
        num = math.gcd(num, v.numerator)
        den = den * v.denominator // math.gcd(den, v.denominator)
    return Fraction(num, den) if num else Fraction(1)


def signed_bits(lo: int, hi: int) -> int:
    return max(max(hi, 0).bit_length(), max(-lo - 1, 0).bit_length()) + 1


def _term_range(m: int, k: int, lo: int, hi: int) -> tuple[int, int]:
    a, b = m * lo + k, m * hi + k
    return min(a, b), max(a, b)


def integer_terms(inputs: list[list[tuple[int, Piece, Piece]]], max_bits: int = MAX_STREAM_BITS) -> IntegerTerms:
    """Coefficients for sum_i f_i(x_i); inputs[i][c] = (knot, piece at/above the knot, piece below)."""
    coeffs = [v for per_input in inputs for _, hi_p, lo_p in per_input for p in (hi_p, lo_p)
              for v in (p.scale, p.offset) if v]
    exact = _rational_gcd(coeffs)
    terms = _quantize(inputs, exact, 0)
    if terms.bits <= max_bits and terms.acc_bits <= 2 * max_bits:
        return terms
    peak = max(max(abs(float(p.scale) * p.lo + float(p.offset)), abs(float(p.scale) * p.hi + float(p.offset)))
               for per_input in inputs for _, hi_p, lo_p in per_input for p in (hi_p, lo_p) if p.lo <= p.hi)
    total = peak * len(inputs)
    # The smallest power-of-two step whose output range fits max_bits (one bit spare for rounding).
    step = Fraction(2) ** math.ceil(math.log2(max(total, 2.0**-60) / 2 ** (max_bits - 2)))
    return _quantize(inputs, step, GUARD_BITS)


def _quantize(inputs, step: Fraction, shift: int) -> IntegerTerms:
    fine = step / 2**shift
    channels = len(inputs[0])
    out = IntegerTerms([], [], [], [], [], shift, step, [0] * channels, [0] * channels, 0, 0, 0.0)
    term_lo, term_hi = [0] * channels, [0] * channels
    errors = [0.0] * channels
    for per_input in inputs:
        fields = {"knot": [], "mul_hi": [], "off_hi": [], "mul_lo": [], "off_lo": []}
        for c, (knot, hi_p, lo_p) in enumerate(per_input):
            ranges, err = [], 0.0
            for p, mkey, kkey in ((hi_p, "mul_hi", "off_hi"), (lo_p, "mul_lo", "off_lo")):
                m, k = round(p.scale / fine), round(p.offset / fine)
                fields[mkey].append(m)
                fields[kkey].append(k)
                if p.lo <= p.hi:
                    ranges.append(_term_range(m, k, p.lo, p.hi))
                    lost = [abs(float(p.scale - m * fine) * x + float(p.offset - k * fine)) for x in (p.lo, p.hi)]
                    err = max(err, *lost)
            fields["knot"].append(knot)
            term_lo[c] += min(r[0] for r in ranges)
            term_hi[c] += max(r[1] for r in ranges)
            errors[c] += err
        for key, values in fields.items():
            getattr(out, key).append(values)
    rnd = (1 << (shift - 1)) if shift else 0
    out.lo = [(v + rnd) >> shift for v in term_lo]
    out.hi = [(v + rnd) >> shift for v in term_hi]
    out.bits = signed_bits(min(out.lo), max(out.hi))
    widest = [abs(v) for per in (out.mul_hi, out.off_hi, out.mul_lo, out.off_lo, out.knot) for row in per for v in row]
    xs = [v for per_input in inputs for _, hi_p, lo_p in per_input for v in (hi_p.lo, hi_p.hi, lo_p.lo, lo_p.hi)]
    # Both pieces are computed for every input and one is selected: modulo 2^acc_bits the
    # discarded one may wrap, the selected one and the sum may not.
    out.acc_bits = max(signed_bits(min(term_lo) - rnd, max(term_hi) + rnd), signed_bits(-max(widest), max(widest)),
                       signed_bits(min(xs), max(xs)))
    # Rounding the sum costs half an output step; coefficient rounding is scaled by the input range.
    out.error_bound = max(errors) + (float(step) / 2 if shift else 0.0)
    return out
