"""Datatypes and bit packing of accelerator streams, in FINN's convention.

Each beat of a stream carries `elems_per_beat` elements of `bits` bits each:
element 0 in bit 0 of byte 0, element i in bits [i*bits, (i+1)*bits), the beat
padded with zero bits to whole bytes, bytes little-endian. Signed values are
two's complement; bipolar -1 is stored as 0 and +1 as 1.

Only numpy is imported: this file runs on the board.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DataType:
    """An integer datatype as qonnx names it: BINARY, BIPOLAR, UINTn or INTn."""

    name: str
    bits: int
    signed: bool
    min: int
    max: int

    @classmethod
    def parse(cls, name: str) -> "DataType":
        if name == "BINARY":
            return cls(name, 1, False, 0, 1)
        if name == "BIPOLAR":
            return cls(name, 1, False, -1, 1)
        m = re.fullmatch(r"(U?)INT(\d+)", name)
        if not m or not 1 <= int(m.group(2)) <= 64:
            raise ValueError(f"unsupported datatype {name!r}: expected BINARY, BIPOLAR, UINTn or INTn (n <= 64)")
        bits, signed = int(m.group(2)), not m.group(1)
        if signed and bits < 2:
            raise ValueError(f"unsupported datatype {name!r}: a signed type needs at least 2 bits")
        lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
        return cls(name, bits, signed, lo, hi)

    def check(self, values: np.ndarray, what: str = "input") -> None:
        """Raise TypeError for a non-integer array, ValueError for values outside the type."""
        values = np.asarray(values)
        if not (np.issubdtype(values.dtype, np.integer) or values.dtype == np.bool_):
            raise TypeError(f"{what}: expected an integer array of {self.name} values, got dtype {values.dtype}")
        if values.size == 0:
            return
        if self.name == "BIPOLAR":
            bad = (values != 1) & (values != -1)
        else:
            bad = (values < self.min) | (values > self.max)
        if bad.any():
            v = values[bad].flat[0]
            allowed = "-1 or +1" if self.name == "BIPOLAR" else f"{self.min}..{self.max}"
            raise ValueError(f"{what}: {self.name} values must be {allowed}; found {v} "
                             f"({int(bad.sum())} values out of range)")


def beat_bytes(bits: int, elems_per_beat: int) -> int:
    return (bits * elems_per_beat + 7) // 8


def pack(values: np.ndarray, dt: DataType, elems_per_beat: int) -> np.ndarray:
    """Pack (..., beats * elems_per_beat) integers into a (..., beats, beat_bytes) uint8 array."""
    values = np.asarray(values)
    dt.check(values)
    if values.shape[-1] % elems_per_beat:
        raise ValueError(f"the last axis ({values.shape[-1]} elements) is not a whole number of "
                         f"{elems_per_beat}-element beats")
    lead = values.shape[:-1]
    beats = values.shape[-1] // elems_per_beat
    v = values.astype(np.int64)
    if dt.name == "BIPOLAR":
        v = (v + 1) // 2
    nbytes = beat_bytes(dt.bits, elems_per_beat)
    if dt.bits in (8, 16, 32, 64):
        # Whole-word elements: the packed beats are the little-endian array itself (the
        # integer cast wraps negatives to two's complement), and far faster on the board's CPU.
        return np.ascontiguousarray(v.astype(f"<u{dt.bits // 8}")).view(np.uint8).reshape(*lead, beats, nbytes)
    u = v.view(np.uint64)
    bits = ((u[..., None] >> np.arange(dt.bits, dtype=np.uint64)) & np.uint64(1)).astype(np.uint8)
    bits = bits.reshape(*lead, beats, elems_per_beat * dt.bits)
    padded = np.zeros((*lead, beats, nbytes * 8), dtype=np.uint8)
    padded[..., : bits.shape[-1]] = bits
    return np.packbits(padded, axis=-1, bitorder="little")


def unpack(packed: np.ndarray, dt: DataType, elems_per_beat: int) -> np.ndarray:
    """Inverse of pack: (..., beats, beat_bytes) uint8 to (..., beats * elems_per_beat) int64."""
    packed = np.asarray(packed, dtype=np.uint8)
    nbytes = beat_bytes(dt.bits, elems_per_beat)
    if packed.shape[-1] != nbytes:
        raise ValueError(f"packed beats are {packed.shape[-1]} bytes, {elems_per_beat} x {dt.name} "
                         f"needs {nbytes}")
    lead = packed.shape[:-2]
    beats = packed.shape[-2]
    bits = np.unpackbits(packed, axis=-1, bitorder="little")[..., : elems_per_beat * dt.bits]
    bits = bits.reshape(*lead, beats * elems_per_beat, dt.bits).astype(np.uint64)
    u = (bits << np.arange(dt.bits, dtype=np.uint64)).sum(axis=-1, dtype=np.uint64)
    out = u.view(np.int64)
    if dt.signed and dt.bits < 64:
        out = np.where(out >= (1 << (dt.bits - 1)), out - (1 << dt.bits), out)
    if dt.name == "BIPOLAR":
        out = 2 * out - 1
    return out
