"""Memory-file words of the hw/rtl modules' ROMs: the shared packing helpers and $readmemh text.

Each hardware op packs its own ROM words (flows/ops/<op>.py) with these. Packers
check every signed field against its width rather than masking silently: a
constant that does not fit would be wrapped by the hardware into a different
number, and the accelerator would disagree with the golden model with no hint why.
"""

from __future__ import annotations

import math


def signed_field(value: int, bits: int, name: str) -> int:
    """Two's complement of `value` in `bits` bits; ValueError if it does not fit."""
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    v = int(value)
    if not lo <= v <= hi:
        raise ValueError(f"{name} = {v} does not fit {bits} signed bits ({lo}..{hi})")
    return v & ((1 << bits) - 1)


def check_beats(c: int, pe: int) -> int:
    """Beats of C channels at PE a beat; ValueError unless PE divides C."""
    if pe < 1 or c % pe:
        raise ValueError(f"PE = {pe} does not divide C = {c}")
    return c // pe


def hex_words(words: list[int], width: int) -> str:
    digits = max(1, math.ceil(width / 4))
    mask = (1 << width) - 1
    return "".join(f"{w & mask:0{digits}x}\n" for w in words)
