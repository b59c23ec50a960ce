"""Memory-file words of the hw/rtl modules' ROMs, and their $readmemh text (hex_words).

The bnn_threshold and bnn_residual_add packers check every field against its
width rather than masking silently: a constant that does not fit would be
wrapped by the hardware into a different number, and the accelerator would
disagree with the golden model with no hint why.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np

# Field order inside one input's group of a bnn_residual_add lane (hardware field index).
RESIDUAL_FIELDS = ("knot", "mul_hi", "off_hi", "mul_lo", "off_lo")


def _signed_field(value: int, bits: int, name: str) -> int:
    """Two's complement of `value` in `bits` bits; ValueError if it does not fit."""
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    v = int(value)
    if not lo <= v <= hi:
        raise ValueError(f"{name} = {v} does not fit {bits} signed bits ({lo}..{hi})")
    return v & ((1 << bits) - 1)


def _check_beats(c: int, pe: int) -> int:
    if pe < 1 or c % pe:
        raise ValueError(f"PE = {pe} does not divide C = {c}")
    return c // pe


def stream_threshold_words(thresholds: Sequence[int], descending: Sequence[int], pe: int,
                    t_bits: int) -> list[int]:
    """bnn_threshold ROM, one word per beat: lane p has T at bit p*(t_bits+1), its flag above it.

    thresholds/descending are per channel (C of each); a descending channel
    outputs x <= T instead of x >= T.
    """
    if len(thresholds) != len(descending):
        raise ValueError(f"{len(thresholds)} thresholds but {len(descending)} descending flags")
    beats = _check_beats(len(thresholds), pe)
    fw = t_bits + 1
    words = []
    for b in range(beats):
        word = 0
        for p in range(pe):
            c = b * pe + p
            d = int(descending[c])
            if d not in (0, 1):
                raise ValueError(f"descending[{c}] = {d} is not 0 or 1")
            word |= _signed_field(thresholds[c], t_bits, f"threshold[{c}]") << (p * fw)
            word |= d << (p * fw + t_bits)
        words.append(word)
    return words


def residual_add_words(params: Mapping[str, Sequence[Sequence[int]]], pe: int,
                       f_bits: int) -> list[int]:
    """bnn_residual_add ROM, one word per beat: field f of input i, lane p at ((p*2+i)*5+f)*f_bits.

    params maps each of RESIDUAL_FIELDS to [per-channel list of input 0, of input 1].
    """
    missing = [f for f in RESIDUAL_FIELDS if f not in params]
    if missing:
        raise ValueError(f"missing residual-add constants: {missing}")
    c = len(params["knot"][0])
    for f in RESIDUAL_FIELDS:
        if len(params[f]) != 2 or any(len(per_in) != c for per_in in params[f]):
            raise ValueError(f"{f} must be two lists (input 0, input 1) of {c} channels")
    beats = _check_beats(c, pe)
    words = []
    for b in range(beats):
        word = 0
        for p in range(pe):
            ch = b * pe + p
            for i in range(2):
                for f, name in enumerate(RESIDUAL_FIELDS):
                    v = _signed_field(params[name][i][ch], f_bits, f"{name}[input {i}][{ch}]")
                    word |= v << (((p * 2 + i) * len(RESIDUAL_FIELDS) + f) * f_bits)
        words.append(word)
    return words


def hex_words(words: list[int], width: int) -> str:
    digits = max(1, math.ceil(width / 4))
    mask = (1 << width) - 1
    return "".join(f"{w & mask:0{digits}x}\n" for w in words)


def weight_words(weights: np.ndarray, pe: int, simd: int, weight_bits: int = 1) -> list[int]:
    """ROM words of an MVTU, address nf*SF+sf.

    Bit (pe*WB + j)*SIMD + s is bit j of W[sf*SIMD+s, nf*PE+pe]: the bit itself
    for +-1 weights (WB = 1), bit plane j of the two's complement otherwise.
    """
    mw, mh = weights.shape
    sf, nf = mw // simd, mh // pe
    w = weights.astype(np.int64)
    lo, hi = -(1 << (weight_bits - 1)), (1 << (weight_bits - 1)) - 1
    if weight_bits == 1:
        lo, hi = 0, 1
    if w.size and not (lo <= w.min() and w.max() <= hi):
        raise ValueError(f"weights in [{w.min()}, {w.max()}] do not fit {weight_bits}-bit words")
    planes = [(w >> j) & 1 for j in range(weight_bits)]
    words = []
    for n in range(nf):
        for s in range(sf):
            bits = [planes[j][s * simd : (s + 1) * simd, n * pe + p] for p in range(pe) for j in range(weight_bits)]
            block = np.concatenate(bits)
            words.append(int("".join("1" if b else "0" for b in block[::-1]), 2))
    return words


def mvtu_threshold_words(thresholds: np.ndarray, pe: int, acc_bits: int) -> list[int]:
    """Threshold ROM of an MVTU: word nf, lane pe at bit pe*acc_bits, acc_bits two's complement."""
    t = thresholds.reshape(-1).astype(np.int64)
    mask = (1 << acc_bits) - 1
    words = []
    for n in range(len(t) // pe):
        word = 0
        for p in range(pe):
            word |= (int(t[n * pe + p]) & mask) << (p * acc_bits)
        words.append(word)
    return words


def score_affine_words(m: list[int], n: list[int], pe: int, m_bits: int, out_bits: int) -> list[int]:
    """ROM words of bnn_score_affine: per beat, PE multipliers then PE offsets, two's complement."""
    words = []
    for beat in range(len(m) // pe):
        word = 0
        for p in range(pe):
            word |= (m[beat * pe + p] & ((1 << m_bits) - 1)) << (p * m_bits)
            word |= (n[beat * pe + p] & ((1 << out_bits) - 1)) << (pe * m_bits + p * out_bits)
        words.append(word)
    return words
