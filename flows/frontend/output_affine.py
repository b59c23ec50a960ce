"""The output rule: how the hardware's class relates to the float network's when the output affine
(TensorNorm, a BatchNorm on the logits, any Mul/Add/Sub/Div after the last layer) is not exact in float.

The rule (README, "Bring your own network"):

    The last layer's integer accumulators a_c are exact. The exported graph maps
    them to scores r_c = S_c * a_c + O_c, where S_c and O_c are exact rationals
    built from the graph's float32 constants (a BatchNorm's 1/sqrt(var + eps) in
    float64). The float network computes r_c with float32 rounding; streamlining
    bounds that rounding for each class by E_c: unit roundoff 2^-24 per op, a
    second rounding where a divisor may be recomputed (torch's TensorNorm
    sqrt), eight for a BatchNorm in either of its usual orders (torch's
    x * alpha + beta' and ONNX's (x - mean) / sqrt(var + eps) * gamma + beta),
    over the whole range of a_c. Brevitas' and execute_onnx's evaluations both
    lie within E_c of r_c.

    1. exact: every S_c and O_c is a float32 (and the exact integer scores fit
       30 bits; else as 3) and the float network rounds nothing
       (E_c = 0): the streamlined graph outputs r_c exactly; the hardware's class
       is the float network's on every input, ties to the lowest index in both.
       Where S_c and O_c are float32s but the float network rounds on the way
       (E_c > 0, "exact-affine"), the hardware still ranks r_c exactly, and
       inputs are named as in 3.
    2. per-tensor affine (TensorNorm; S_c, O_c the same for every class): the
       hardware ranks the accumulators a_c themselves (their order is r's
       exactly). It picks the float network's class on every input, except where
       two classes with different accumulators have exact scores within
       E_h + E_j of each other; then float32 rounding could change the class, and
       `output_verdicts` names that input, the two classes, the exact margin and
       the bound. Equal accumulators give equal float scores (the same ops on the
       same value), so both pick the lower index. Where |S| > 2 max E (every
       network here), no input can be named: the classes agree on every input.
    3. per-class affine (a BatchNorm on the logits): the hardware ranks integer
       scores g_c = M_c * a_c + K_c, M_c / 2^p and K_c / 2^p the nearest
       dyadic approximations of S_c and O_c that keep every score in 24 bits
       (so the streamlined graph computes them exactly in float32). An input is
       named where the hardware's class h and another class j have exact scores
       within E_h + E_j (float32 rounding could pick j), or where r_j > r_h
       (the hardware's own rounding, at most delta_h + delta_j, picked h:
       named as such, with that bound).

    Nothing else is tolerated: every check compares integers or exact rationals.
"""
from __future__ import annotations

import json
import math
from fractions import Fraction

import numpy as np
from qonnx.core.modelwrapper import ModelWrapper

OUTPUT_RULE_KEY = "bnnflow.output_rule"
U = Fraction(1, 2**24)  # float32 unit roundoff
ETA = Fraction(1, 2**147)  # four subnormal spacings: absolute error of a result below the normal range
SCORE_BITS = 24  # integer scores the streamlined graph computes exactly in float32
# Exact float32 affines whose integer scores need more (random float biases) are ranked as per-class
# scores instead: lowering takes at most 32 bits, and the popcount domain may need one or two more.
EXACT_SCORE_BITS = 30


def _float_exact(v: Fraction) -> bool:
    return Fraction(float(np.float32(float(v)))) == v


def _channel(values: list, c: int):
    return values[c] if len(values) > 1 else values[0]


def float_error_bound(post: tuple, c: int, a: int, exact_steps: bool = True) -> tuple[Fraction, Fraction]:
    """(exact value, bound on |float32 value - exact value|) of channel c at accumulator value a.

    With exact_steps, an op whose input is exact and whose exact result is a
    float32 rounds nothing (every correctly rounded evaluation returns it).
    """
    t, e = None, Fraction(0)
    for kind, *vals in post:
        if kind == "start":
            t = _channel(vals[0], c) * a + _channel(vals[1], c)
            if not _float_exact(t):
                e += U * abs(t)
            continue
        if kind == "err":
            e += _channel(vals[0], c)
            continue
        prev_exact = e == 0
        if kind == "mul":
            m = abs(_channel(vals[0], c))
            t = t * _channel(vals[0], c)
            e = m * e + U * (abs(t) + m * e) + ETA
        elif kind == "div":
            # A divisor is often computed (TensorNorm's (var + eps) ** 0.5, folded by the export):
            # a float network may compute it again with one rounding of its own, so two roundings here.
            d = _channel(vals[0], c)
            t = t / d
            e = e / abs(d) + 2 * U * (abs(t) + e / abs(d)) + ETA
            prev_exact = False
        elif kind == "add":
            t = t + _channel(vals[0], c)
            e = e + U * (abs(t) + e) + ETA
        elif kind == "bn":
            m, mean, beta = (_channel(v, c) for v in vals)
            new = (t - mean) * m + beta
            # Any of (x - mean) / sqrt(var + eps) * gamma + beta or x * alpha + (beta - mean * alpha),
            # each constant computed in float32 too: at most 8 roundings of these magnitudes.
            e = abs(m) * e * (1 + 8 * U) + 8 * U * (abs(t * m) + abs(mean * m) + abs(beta) + abs(new)) + 4 * ETA
            t = new
            prev_exact = False  # its constants are computed, not given
        if exact_steps and prev_exact and _float_exact(t):
            e = Fraction(0)
    return t, e


def _bound(post: tuple, c: int, lo: int, hi: int) -> Fraction:
    """max over the accumulator range of the float error bound."""
    if hi - lo <= 4096:
        return max(float_error_bound(post, c, a)[1] for a in range(lo, hi + 1))
    # Without the exactness shortcut every magnitude is |affine(a)|, largest at an end of the range.
    return max(float_error_bound(post, c, a, exact_steps=False)[1] for a in (lo, hi))


def plan_output(v, channels: int) -> tuple[np.ndarray, np.ndarray, dict]:
    """(Mul constants, Add constants, rule) for the output IntTensor `v` (flows.frontend.values.IntTensor).

    The Mul/Add constants are float32 values; lowering reads them as exact rationals.
    """
    S, O = list(v.scale), list(v.offset)
    post = v.post or (("start", S, O),)
    E = [_bound(post, c, v.lo[c], v.hi[c]) for c in range(channels)]
    uniform = len(set(S)) == 1 and len(set(O)) == 1
    if all(_float_exact(s) for s in S) and all(_float_exact(o) for o in O) and \
            (uniform or _exact_score_bits(S, O, v.lo, v.hi) <= EXACT_SCORE_BITS):
        # The exact scores themselves: equal to the float network's where it rounds nothing.
        mode, hs, ho = ("exact" if not any(E) else "exact-affine"), S, O
    elif uniform and S[0] != 0 and all(len(set(vals)) <= 1 or len(vals) == 1
                                       for _, *vs in post for vals in vs if isinstance(vals, list)):
        # One map for every class: ranking the accumulators is ranking r exactly. The constants are
        # float32 roundings of S and O (still one map for all classes, same sign as S).
        mode = "per-tensor"
        hs = [Fraction(float(np.float32(float(S[0]))))] * channels
        ho = [Fraction(float(np.float32(float(O[0]))))] * channels
        if hs[0] == 0:
            hs = [Fraction(1 if S[0] > 0 else -1)] * channels
    else:
        mode = "per-class"
        hs, ho = _dyadic_scores(S, O, v.lo, v.hi)
    delta = [max(abs(hs[c] * a + ho[c] - (S[c] * a + O[c])) for a in (v.lo[c], v.hi[c])) for c in range(channels)]
    rule = {"mode": mode, "scale": [str(s) for s in S], "offset": [str(o) for o in O],
            "bound": [str(e) for e in E], "hw_scale": [str(s) for s in hs], "hw_offset": [str(o) for o in ho],
            "hw_delta": [str(d) for d in delta], "lo": list(map(int, v.lo)), "hi": list(map(int, v.hi))}
    if mode == "per-tensor":
        rule["always_agrees"] = bool(abs(S[0]) > 2 * max(E))
    mul = np.array([float(s) for s in hs], dtype=np.float32)
    add = np.array([float(o) for o in ho], dtype=np.float32)
    return mul, add, rule


def _exact_score_bits(S: list[Fraction], O: list[Fraction], lo: list[int], hi: list[int]) -> int:
    """Signed width of the exact integer scores (S_c * a + O_c) / gcd over the accumulator range."""
    num, den = 0, 1
    for v in S + O:
        if v:
            num = math.gcd(num, v.numerator)
            den = den * v.denominator // math.gcd(den, v.denominator)
    shared = Fraction(num, den) if num else Fraction(1)
    peak = max(abs((s * a + o) / shared) for s, o, l_, h_ in zip(S, O, lo, hi) for a in (l_, h_))
    return math.ceil(math.log2(peak + 1)) + 1


def _dyadic_scores(S: list[Fraction], O: list[Fraction], lo: list[int], hi: list[int]):
    """M_c / 2^p, K_c / 2^p closest to S_c, O_c with every |M_c * a + K_c| < 2^(SCORE_BITS - 1)."""
    peak = max(abs(s) * max(abs(lo[c]), abs(hi[c])) + abs(o) for c, (s, o) in enumerate(zip(S, O)))
    limit = 2 ** (SCORE_BITS - 1) - 1
    p = math.floor(math.log2(limit / float(peak))) if peak else 0
    while True:
        M = [round(s * 2**p) for s in S]
        K = [round(o * 2**p) for o in O]
        if all(abs(m * a + k) <= limit for m, k, l_, h_ in zip(M, K, lo, hi) for a in (l_, h_)):
            break
        p -= 1
    return [Fraction(m, 1) / 2**p if p >= 0 else Fraction(m * 2**-p) for m in M], \
           [Fraction(k, 1) / 2**p if p >= 0 else Fraction(k * 2**-p) for k in K]


def output_rule(model: ModelWrapper) -> dict | None:
    text = model.get_metadata_prop(OUTPUT_RULE_KEY)
    if not text:
        return None
    rule = json.loads(text)
    for key in ("scale", "offset", "bound", "hw_scale", "hw_offset", "hw_delta"):
        rule[key] = [Fraction(v) for v in rule[key]]
    return rule


def accumulator_name(model: ModelWrapper) -> str:
    """The streamlined tensor holding the last layer's integers a_c (the output affine's input)."""
    node = next(n for n in model.graph.node if n.name == "OutputScale")
    return node.input[0]


def output_verdicts(model: ModelWrapper, acc: np.ndarray) -> list[dict]:
    """The inputs whose hardware class the rule cannot prove equal to the float network's.

    `acc` is (inputs, classes): the streamlined graph's last-layer integers (the
    tensor `accumulator_name(model)`). Each entry names the input, the hardware's
    class, the other class, the exact score margin r_h - r_j, the bound it is
    within and its cause. An empty list is a proof that the hardware's class is
    the float network's on every one of these inputs.
    """
    rule = output_rule(model)
    if rule is None:
        return []
    acc = np.asarray(acc).reshape(len(acc), -1).astype(np.int64)
    S, O, E = rule["scale"], rule["offset"], rule["bound"]
    hs, ho, dl = rule["hw_scale"], rule["hw_offset"], rule["hw_delta"]
    out = []
    for n, row in enumerate(acc):
        a = [int(v) for v in row]
        g = [hs[c] * a[c] + ho[c] for c in range(len(a))]
        h = max(range(len(a)), key=lambda c: (g[c], -c))
        r = [S[c] * a[c] + O[c] for c in range(len(a))]
        for j in range(len(a)):
            if j == h or (rule["mode"] == "per-tensor" and a[j] == a[h]):
                continue
            margin, bound = r[h] - r[j], E[h] + E[j]
            if margin < 0:
                out.append(dict(input=n, hw_class=h, other=j, margin=float(margin), bound=float(dl[h] + dl[j]),
                                cause="the hardware's score rounding"))
            elif margin <= bound and not (margin == 0 and bound == 0 and j > h):
                out.append(dict(input=n, hw_class=h, other=j, margin=float(margin), bound=float(bound),
                                cause="the float network's float32 rounding"))
    return out


def describe(verdicts: list[dict]) -> str:
    """One line per named input."""
    return "\n".join(f"input {v['input']}: class {v['hw_class']} vs {v['other']}: exact margin {v['margin']:.3g} "
                     f"within {v['bound']:.3g} ({v['cause']})" for v in verdicts)
