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


class DtypeError(ValueError, TypeError):
    """An array of a dtype the stream cannot carry (bool, float, complex, object, strings).

    A ValueError, and a TypeError for callers written when the driver raised that.
    """


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

    @property
    def accepts(self) -> str:
        """The values this type holds, as messages name them."""
        return "-1 or +1" if self.name == "BIPOLAR" else f"{self.min}..{self.max}"

    def check_dtype(self, values: np.ndarray, what: str = "input") -> None:
        """Raise DtypeError unless `values` is an integer array (or, for BINARY, a bool array).

        The accelerator's stream carries the integers the model's input quantizer
        produces (uint8 pixel bytes for an 8-bit input), so bool, float, complex,
        object and string arrays are refused: a bool image would pack as pixels of
        0 and 1 and classify as garbage without any error.
        """
        kind = np.asarray(values).dtype.kind
        if kind in "iu" or (kind == "b" and self.name == "BINARY"):
            return
        dtype = np.asarray(values).dtype
        hint = (", not the scaled floats the model's input quantizer takes (round and cast them first)"
                if kind == "f" else "")
        raise DtypeError(f"{what}: dtype {dtype} is not accepted: expected an integer array of {self.name} "
                         f"values {self.accepts} (e.g. {self.numpy_hint}){hint}")

    @property
    def numpy_hint(self) -> str:
        for dt in ("uint8", "int8", "uint16", "int16", "uint32", "int32"):
            info = np.iinfo(dt)
            if info.min <= self.min and self.max <= info.max:
                return dt
        return "int64"

    def check(self, values: np.ndarray, what: str = "input") -> None:
        """Raise DtypeError for a non-integer array, ValueError for values outside the type."""
        values = np.asarray(values)
        self.check_dtype(values, what)
        if values.size == 0:
            return
        if self.name == "BIPOLAR":
            bad = (values != 1) & (values != -1)
        else:
            bad = (values < self.min) | (values > self.max)
        if bad.any():
            v = values[bad].flat[0]
            raise ValueError(f"{what}: {self.name} values must be {self.accepts}; found {v} "
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
