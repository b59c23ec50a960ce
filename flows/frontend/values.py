"""The values the streamliner tracks for each tensor of a QONNX graph, and small exact helpers.

Every tensor between the input quantizer and the output is an integer tensor plus
a per-channel affine map to the real value the QONNX graph computes:
real_c = scale_c * int_c + offset_c, with scales and offsets exact rationals.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
from onnx import helper
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.general.intquant import max_int, min_int, resolve_rounding_mode

from flows.errors import UnsupportedNodeError
from flows.frontend.fixed_point import Piece

QONNX_DOMAIN = "qonnx.custom_op.general"
INPUT_NAME = "global_in"
FIXED_POINT_KEY = "bnnflow.fixed_point"  # metadata: widths and error bounds of residual streams


@dataclass
class QuantConst:
    """A quantized constant: real = scale * ints (scale broadcasts against ints)."""

    ints: np.ndarray
    scale: np.ndarray


@dataclass
class RawTensor:
    """The float graph input (or a reshaped view of it) before its quantizer.

    `ops` are the elementwise float ops met on the way, in order: a preprocessing
    affine such as BNN-PYNQ's 2x - 1 or a mean/std normalisation. The hardware
    takes the input quantizer's integer codes; the host computes them from the
    float input by applying these ops in float32, as the graph does, then the
    quantizer (flows.frontend.input_quant). `reshaped` says a shape op came first.
    """

    name: str
    ops: tuple = ()
    reshaped: bool = False


@dataclass
class IntTensor:
    """A tensor of the output graph holding integers, with its exact affine to real values.

    `lo`/`hi` bound the integer per channel (what the hardware can ever see);
    `weight` names the initializer whose last axis produced this accumulator,
    so a channel can be negated in place when its scale is negative; `chain`
    lists the source tensors from that product to here, which negation changes.
    """

    name: str
    scale: list[Fraction]
    offset: list[Fraction]
    lo: list[int]
    hi: list[int]
    dtype: DataType
    weight: str | None = None
    chain: tuple[str, ...] = ()
    # A piecewise map (PReLU): below knot[c] the real value is lower[0][c] * int + lower[1][c].
    knot: list[int] | None = None
    lower: tuple[list[Fraction], list[Fraction]] | None = None
    # The float ops between the producing accumulator and here, as (kind, per-channel constants):
    # what the float network rounds, for the output rule's error bound (flows.frontend.output_affine).
    post: tuple = ()

    @property
    def channels(self) -> int:
        return len(self.scale)

    def pieces(self, c: int) -> tuple[int, Piece, Piece]:
        """(knot, piece at/above it, piece below it) of channel c; a plain affine has one real piece."""
        lo, hi = self.lo[c], self.hi[c]
        knot = lo if self.knot is None else self.knot[c]
        upper = Piece(self.scale[c], self.offset[c], max(knot, lo), hi)
        if self.lower is None:
            return knot, upper, Piece(self.scale[c], self.offset[c], lo, min(knot - 1, hi))
        return knot, upper, Piece(self.lower[0][c], self.lower[1][c], lo, min(knot - 1, hi))


@dataclass
class _Builder:
    src: ModelWrapper
    nodes: list = field(default_factory=list)
    inits: dict[str, np.ndarray] = field(default_factory=dict)
    dtypes: dict[str, DataType] = field(default_factory=dict)
    conv_weights: set[str] = field(default_factory=set)

    def emit(self, op_type: str, inputs: list[str], name: str, domain: str = "", **attrs) -> str:
        out = f"{name}_out"
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=name, domain=domain, **attrs))
        return out

    def const(self, name: str, value: np.ndarray) -> str:
        self.inits[name] = np.asarray(value, dtype=np.float32)
        return name

    def const_int(self, name: str, value: np.ndarray) -> str:
        self.inits[name] = np.asarray(value, dtype=np.int64)
        return name


def _frac(x: float) -> Fraction:
    return Fraction(float(x))


def _per_channel(value: np.ndarray, shape: list[int], node) -> list[Fraction]:
    """A constant broadcast against a tensor of `shape` that may vary only along axis 1 (channels)."""
    v = np.asarray(value, dtype=np.float64)
    try:
        full = np.broadcast_to(v, shape)
    except ValueError:
        raise UnsupportedNodeError(node.name, node.op_type, f"constant of shape {v.shape} does not fit {shape}") from None
    rows = np.moveaxis(full, 1, -1).reshape(-1, shape[1])
    if not np.all(rows == rows[0:1]):
        raise UnsupportedNodeError(node.name, node.op_type, "constant varies along a non-channel axis")
    return [_frac(x) for x in rows[0]]


def _quant_ints(node, x: np.ndarray, scale: np.ndarray, zeropt: np.ndarray, bits: int) -> np.ndarray:
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    signed, narrow = bool(attrs.get("signed", 1)), bool(attrs.get("narrow", 0))
    mode = attrs.get("rounding_mode", b"ROUND")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    y = x.astype(np.float64) / scale + zeropt
    y = np.clip(y, min_int(signed, narrow, bits), max_int(signed, narrow, bits))
    return resolve_rounding_mode(mode)(y) - zeropt


def _sign_threshold(a: IntTensor, c: int, node, strict: bool = False) -> tuple[int, bool]:
    """Where the real value of channel c is >= 0 (> 0 if strict), as (T, descending):
    int >= T, or int <= T if descending.

    The map from integer to real is monotone (affine, or PReLU with slope >= 0 of
    an affine), so the set is an interval reaching one end of the integer range.
    """
    _, upper, lower = a.pieces(c)
    parts = [p for p in (upper, lower) if p.lo <= p.hi]
    directions = {(p.scale > 0) - (p.scale < 0) for p in parts} - {0}
    if len(directions) > 1:
        raise UnsupportedNodeError(node.name, node.op_type, f"channel {c} is not monotone and has no threshold")

    def const_in(p) -> bool:
        return p.offset > 0 if strict else p.offset >= 0

    if directions == {-1}:
        last = [min(math.ceil(-p.offset / p.scale) - 1 if strict else math.floor(-p.offset / p.scale), p.hi)
                if p.scale else (p.hi if const_in(p) else p.lo - 1) for p in parts]
        return max([v for v, p in zip(last, parts) if v >= p.lo], default=a.lo[c] - 1), True
    first = [max(math.floor(-p.offset / p.scale) + 1 if strict else math.ceil(-p.offset / p.scale), p.lo)
             if p.scale else (p.lo if const_in(p) else p.hi + 1) for p in parts]
    return min([v for v, p in zip(first, parts) if v <= p.hi], default=a.hi[c] + 1), False


def _int_dtype(lo: int, hi: int) -> DataType:
    for bits in range(1, 64):
        if lo >= 0 and hi <= 2**bits - 1:
            return DataType[f"UINT{bits}"]
        if lo >= -(2 ** (bits - 1)) and hi <= 2 ** (bits - 1) - 1 and bits > 1:
            return DataType[f"INT{bits}"]
    raise ValueError(f"range [{lo}, {hi}] needs more than 64 bits")
