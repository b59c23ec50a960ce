"""Stage 2: streamline a QONNX graph into integer arithmetic with exact thresholds.

Every tensor between the input quantizer and the output is tracked as an
integer tensor plus a per-channel affine map to the real value the QONNX graph
computes:  real_c = scale_c * int_c + offset_c.  Scales and offsets are exact
rationals (fractions.Fraction built from the float initializers), so the
threshold that replaces "affine, then sign" is the exact integer boundary:

    scale_c > 0:  sign(scale_c * a + offset_c) = +1  <=>  a >= ceil(-offset_c / scale_c)
    scale_c < 0:  negate the producing weights of channel c, then as above
    scale_c = 0:  a constant, as a threshold no accumulator value reaches (or always reaches)

Thresholds are clipped only to the range the accumulator can reach, which never
changes an answer. The output graph holds standard ONNX ops plus qonnx's
MultiThreshold, takes the raw integer input (pixel bytes, or the +-1 signs where
a BipolarQuant is the input quantizer) and produces exactly the outputs of the
QONNX graph.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
from onnx import TensorProto, helper
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.general.intquant import max_int, min_int, resolve_rounding_mode
from qonnx.transformation.infer_shapes import InferShapes
from qonnx.util.basic import qonnx_make_model

from flows.ops import DOMAIN as CUSTOM_DOMAIN
from flows.errors import UnsupportedNodeError
from flows.frontend.fixed_point import Piece, integer_terms

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
    """The float graph input (or a reshaped view of it) before its quantizer."""

    name: str


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


def _sign_threshold(a: IntTensor, c: int, node) -> tuple[int, bool]:
    """Where the real value of channel c is >= 0, as (T, descending): int >= T, or int <= T if descending.

    The map from integer to real is monotone (affine, or PReLU with slope >= 0 of
    an affine), so the set is an interval reaching one end of the integer range.
    """
    _, upper, lower = a.pieces(c)
    parts = [p for p in (upper, lower) if p.lo <= p.hi]
    directions = {(p.scale > 0) - (p.scale < 0) for p in parts} - {0}
    if len(directions) > 1:
        raise UnsupportedNodeError(node.name, node.op_type, f"channel {c} is not monotone and has no threshold")
    if directions == {-1}:
        last = [min(math.floor(-p.offset / p.scale), p.hi) if p.scale else (p.hi if p.offset >= 0 else p.lo - 1)
                for p in parts]
        return max([v for v, p in zip(last, parts) if v >= p.lo], default=a.lo[c] - 1), True
    first = [max(math.ceil(-p.offset / p.scale), p.lo) if p.scale else (p.lo if p.offset >= 0 else p.hi + 1)
             for p in parts]
    return min([v for v, p in zip(first, parts) if v <= p.hi], default=a.hi[c] + 1), False


def _int_dtype(lo: int, hi: int) -> DataType:
    for bits in range(1, 64):
        if lo >= 0 and hi <= 2**bits - 1:
            return DataType[f"UINT{bits}"]
        if lo >= -(2 ** (bits - 1)) and hi <= 2 ** (bits - 1) - 1 and bits > 1:
            return DataType[f"INT{bits}"]
    raise ValueError(f"range [{lo}, {hi}] needs more than 64 bits")


class Streamliner:
    """Walks the QONNX graph once, in topological order, emitting the integer graph."""

    def __init__(self, model: ModelWrapper) -> None:
        self.src = model.transform(InferShapes())
        self.b = _Builder(model)
        self.values: dict[str, object] = {}
        self.fixed_point: list[dict] = []  # one entry per residual add: widths, scale, error bound
        self.input_dtype: DataType | None = None

    def run(self) -> ModelWrapper:
        src = self.src
        if len(src.graph.input) != 1:
            raise UnsupportedNodeError("graph", "input", f"expected one graph input, found {len(src.graph.input)}")
        self.values[src.graph.input[0].name] = RawTensor(INPUT_NAME)
        for init in src.graph.initializer:
            self.values[init.name] = src.get_initializer(init.name)
        for node in src.graph.node:
            handler = getattr(self, f"_op_{node.op_type}", None)
            if handler is None:
                raise UnsupportedNodeError(node.name, node.op_type, "op type is not supported by the streamliner")
            handler(node)
        return self._finish()

    # -- helpers -------------------------------------------------------------
    def _get(self, name: str, node):
        if name not in self.values:
            raise UnsupportedNodeError(node.name, node.op_type, f"input {name!r} has no producer")
        return self.values[name]

    def _int_input(self, node, index: int = 0, piecewise: bool = False) -> IntTensor:
        v = self._get(node.input[index], node)
        if not isinstance(v, IntTensor):
            what = "a float (unquantized) tensor" if isinstance(v, RawTensor) else "a constant"
            raise UnsupportedNodeError(
                node.name, node.op_type, f"input {node.input[index]!r} is {what}; a quantized tensor is needed"
            )
        if v.knot is not None and not piecewise:
            raise UnsupportedNodeError(
                node.name, node.op_type,
                f"input {node.input[index]!r} is piecewise (after a PReLU); only affine ops, a sign or a "
                "residual add may follow it",
            )
        return v

    def _const_input(self, node, index: int) -> np.ndarray:
        v = self._get(node.input[index], node)
        if isinstance(v, QuantConst):
            return (v.ints * v.scale).astype(np.float64)
        if isinstance(v, np.ndarray):
            return v
        raise UnsupportedNodeError(node.name, node.op_type, f"input {node.input[index]!r} must be constant")

    # -- quantizers ----------------------------------------------------------
    def _op_Quant(self, node) -> None:
        x = self._get(node.input[0], node)
        scale, zeropt, bits = (self._const_input(node, i) for i in (1, 2, 3))
        bits = int(bits)
        if isinstance(x, np.ndarray):
            self.values[node.output[0]] = QuantConst(_quant_ints(node, x, scale, zeropt, bits), scale)
            return
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if not isinstance(x, RawTensor):
            raise UnsupportedNodeError(
                node.name, node.op_type, "multi-bit requantization of an activation is not supported"
            )
        if scale.size != 1 or zeropt.size != 1 or attrs.get("signed", 1) or bits > 16:
            raise UnsupportedNodeError(
                node.name, node.op_type, "input quantizer must be unsigned, per-tensor, at most 16 bits"
            )
        s, z = _frac(scale.item()), _frac(zeropt.item())
        if z.denominator != 1:
            raise UnsupportedNodeError(node.name, node.op_type, "input zero point must be an integer")
        # Per-tensor: one channel that broadcasts against whatever consumes it.
        self.input_dtype = DataType[f"UINT{bits}"]
        self.b.dtypes[x.name] = self.input_dtype
        self.values[node.output[0]] = IntTensor(x.name, [s], [-z * s], [0], [2**bits - 1], self.input_dtype)

    def _op_BipolarQuant(self, node) -> None:
        x = self._get(node.input[0], node)
        scale = self._const_input(node, 1)
        if isinstance(x, np.ndarray):
            self.values[node.output[0]] = QuantConst(np.where(x >= 0, 1.0, -1.0), scale)
            return
        if scale.size != 1:
            raise UnsupportedNodeError(node.name, node.op_type, "activation scale must be per-tensor")
        if isinstance(x, RawTensor):
            # The sign of the raw input is the input quantizer: the integer graph takes
            # the +-1 codes themselves (a host feeds sign(x), x >= 0 -> +1).
            self.input_dtype = DataType["BIPOLAR"]
            self.b.dtypes[x.name] = self.input_dtype
            self.values[node.output[0]] = IntTensor(x.name, [_frac(scale.item())], [Fraction(0)], [-1], [1],
                                                    self.input_dtype)
            return
        a = self._int_input(node, piecewise=True)
        # A decreasing channel negates its producer's weights where only this sign reads
        # them; elsewhere (a residual stream, a shared accumulator) the sign compares the
        # negated integer, which the hardware does as a descending threshold.
        negatable = a.knot is None and a.weight is not None and \
            all(len(self.src.find_consumers(t)) == 1 for t in a.chain)
        thresholds, signs = [], []
        for c in range(a.channels):
            t, descending = _sign_threshold(a, c, node)
            if descending and negatable:
                self._negate_channel(a, c, node)
                a.scale[c], a.lo[c], a.hi[c] = -a.scale[c], -a.hi[c], -a.lo[c]
                t, descending = _sign_threshold(a, c, node)
            thresholds.append(t)
            signs.append(-1 if descending else 1)
        if -1 in signs or max(max(abs(v) for v in a.lo), max(abs(v) for v in a.hi)) >= 2**24:
            # MultiThreshold cannot compare downwards, and above 2^24 its float32 thresholds would round.
            rank = len(self._shape(node.input[0]))
            out = self.b.emit("StreamThreshold", [a.name], node.name, domain=CUSTOM_DOMAIN,
                              # T itself: a descending channel is int <= T (kernels.stream_threshold).
                              thresholds=list(thresholds),
                              descending=[int(d < 0) for d in signs], channel_axis=1 if rank > 2 else -1,
                              bipolar=1, outputDataType="BIPOLAR")
        else:
            tname = self.b.const(f"{node.name}_thresholds", np.array(thresholds, dtype=np.float32).reshape(-1, 1))
            out = self.b.emit("MultiThreshold", [a.name, tname], node.name, domain=QONNX_DOMAIN,
                              out_dtype="BIPOLAR", out_scale=2.0, out_bias=-1.0)
        self.b.dtypes[out] = DataType["BIPOLAR"]
        s = _frac(scale.item())
        c = a.channels
        self.values[node.output[0]] = IntTensor(out, [s] * c, [Fraction(0)] * c, [-1] * c, [1] * c, DataType["BIPOLAR"])

    def _negate_channel(self, a: IntTensor, c: int, node) -> None:
        shared = any(len(self.src.find_consumers(t)) != 1 for t in a.chain)
        if a.weight is None or shared:
            raise UnsupportedNodeError(
                node.name, node.op_type, f"channel {c} has a negative scale and its producer cannot be negated"
            )
        w = self.b.inits[a.weight]
        if a.weight in self.b.conv_weights:
            w[c] *= -1
        else:
            w[..., c] *= -1

    # -- linear layers -------------------------------------------------------
    def _op_MatMul(self, node) -> None:
        self._matmul(node, self._int_input(node), self._get(node.input[1], node), transpose=False)

    def _op_Gemm(self, node) -> None:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if attrs.get("transA", 0) or attrs.get("alpha", 1.0) != 1.0 or attrs.get("beta", 1.0) != 1.0:
            raise UnsupportedNodeError(node.name, node.op_type, "only Gemm with alpha=beta=1, transA=0 is supported")
        out = self._matmul(node, self._int_input(node), self._get(node.input[1], node), bool(attrs.get("transB", 0)))
        if len(node.input) > 2:
            bias = _per_channel(self._const_input(node, 2), self._shape(node.output[0]), node)
            out.offset = [o + b for o, b in zip(out.offset, bias)]

    def _matmul(self, node, x: IntTensor, w, transpose: bool) -> IntTensor:
        if not isinstance(w, QuantConst):
            raise UnsupportedNodeError(node.name, node.op_type, "weights must be a quantized constant")
        ints, wscale = w.ints, np.broadcast_to(w.scale, w.ints.shape)
        if transpose:
            ints, wscale = ints.T, wscale.T
        if ints.ndim != 2:
            raise UnsupportedNodeError(node.name, node.op_type, "weights must be a matrix")
        if not np.all(wscale == wscale[0:1]):
            raise UnsupportedNodeError(node.name, node.op_type, "weight scale must be per output channel")
        if len(set(x.scale)) != 1:
            raise UnsupportedNodeError(
                node.name, node.op_type, "input scale differs per channel and cannot pass the matrix product"
            )
        k, channels = ints.shape
        if x.channels not in (1, k):
            raise UnsupportedNodeError(node.name, node.op_type, f"input has {x.channels} channels, weights {k} rows")
        xs = x.scale[0]
        xo = np.array([float(o) for o in (x.offset if x.channels == k else x.offset * k)])
        xlo = np.array(x.lo if x.channels == k else x.lo * k)
        xhi = np.array(x.hi if x.channels == k else x.hi * k)
        wname = self.b.const(f"{node.name}_weights", ints)
        out = self.b.emit("MatMul", [x.name, wname], node.name)
        pos, neg = np.clip(ints, 0, None), np.clip(-ints, 0, None)
        lo = (pos * xlo[:, None] - neg * xhi[:, None]).sum(0)
        hi = (pos * xhi[:, None] - neg * xlo[:, None]).sum(0)
        scale = [xs * _frac(s) for s in wscale[0]]
        offset = [_frac(s) * sum(Fraction(o) * int(v) for o, v in zip(xo, ints[:, c]) if o) for c, s in enumerate(wscale[0])]
        dt = _int_dtype(int(lo.min()), int(hi.max()))
        self.b.dtypes[out] = dt
        t = IntTensor(
            out, scale, offset, [int(v) for v in lo], [int(v) for v in hi], dt, weight=wname, chain=(node.output[0],)
        )
        self.values[node.output[0]] = t
        return t

    def _op_Conv(self, node) -> None:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if attrs.get("group", 1) != 1 or any(d != 1 for d in attrs.get("dilations", [1, 1])):
            raise UnsupportedNodeError(node.name, node.op_type, "grouped or dilated convolutions are not supported")
        x = self._int_input(node)
        w = self._get(node.input[1], node)
        if not isinstance(w, QuantConst):
            raise UnsupportedNodeError(node.name, node.op_type, "weights must be a quantized constant")
        ints = w.ints
        wscale = np.broadcast_to(w.scale, ints.shape).reshape(ints.shape[0], -1)
        if not np.all(wscale == wscale[:, :1]):
            raise UnsupportedNodeError(node.name, node.op_type, "weight scale must be per output channel")
        if len(set(x.scale)) != 1:
            raise UnsupportedNodeError(node.name, node.op_type, "input scale differs per channel")
        cin = ints.shape[1]
        x = self._broadcast(x, cin)
        if any(attrs.get("pads", [0] * 4)):
            self._check_pad_value(node, x, Fraction(0))
        wname = self.b.const(f"{node.name}_weights", ints)
        out = self.b.emit("Conv", [x.name, wname], node.name, **{k: v for k, v in attrs.items() if k != "auto_pad"})
        flat = ints.reshape(ints.shape[0], cin, -1)
        pos, neg = np.clip(flat, 0, None), np.clip(-flat, 0, None)
        xlo, xhi = np.array(x.lo)[None, :, None], np.array(x.hi)[None, :, None]
        lo = (pos * xlo - neg * xhi).sum(axis=(1, 2))
        hi = (pos * xhi - neg * xlo).sum(axis=(1, 2))
        xo = [Fraction(o) for o in x.offset]
        if any(xo) and any(attrs.get("pads", [0] * 4)):
            raise UnsupportedNodeError(node.name, node.op_type, "padding an input with a non-zero offset")
        scale = [x.scale[0] * _frac(v) for v in wscale[:, 0]]
        offset = [_frac(sw) * sum(xo[i] * int(flat[o, i].sum()) for i in range(cin) if xo[i])
                  for o, sw in enumerate(wscale[:, 0])]
        if len(node.input) > 2 and node.input[2]:
            bias = _per_channel(self._const_input(node, 2).reshape(1, -1), [1, len(scale)], node)
            offset = [o + b for o, b in zip(offset, bias)]
        dt = _int_dtype(int(lo.min()), int(hi.max()))
        self.b.dtypes[out] = dt
        self.values[node.output[0]] = IntTensor(out, scale, offset, [int(v) for v in lo], [int(v) for v in hi], dt,
                                                weight=wname, chain=(node.output[0],))
        # The negation helper flips the last axis; conv weights keep output channels first.
        self.b.conv_weights.add(wname)

    def _check_pad_value(self, node, x: IntTensor, value: Fraction) -> list[int]:
        """The integer code of a real pad value per channel; it must be a value the tensor can hold."""
        codes = []
        for c in range(x.channels):
            code = (value - x.offset[c]) / x.scale[c] if x.scale[c] else None
            if code is None or code.denominator != 1 or not x.lo[c] <= code <= x.hi[c] or \
                    (x.dtype == DataType["BIPOLAR"] and code == 0):
                what = "a +-1 tensor" if x.dtype == DataType["BIPOLAR"] else f"a {x.dtype.name} tensor"
                raise UnsupportedNodeError(
                    node.name, node.op_type,
                    f"pads {x.name!r} with {float(value)}, which {what} cannot hold; pad binary activations with -1 or +1",
                )
            codes.append(int(code))
        return codes

    def _op_Pad(self, node) -> None:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        mode = attrs.get("mode", b"constant")
        if (mode.decode() if isinstance(mode, bytes) else mode) != "constant":
            raise UnsupportedNodeError(node.name, node.op_type, "only constant padding is supported")
        x = self._int_input(node)
        pads = attrs.get("pads") or [int(v) for v in self._const_input(node, 1)]
        value = attrs.get("value", 0.0)
        if len(node.input) > 2 and node.input[2]:
            value = float(self._const_input(node, 2).item())
        if any(pads[:2]) or any(pads[4:6]):
            raise UnsupportedNodeError(node.name, node.op_type, "only spatial padding is supported")
        codes = self._check_pad_value(node, self._broadcast(x, self._shape(node.input[0])[1]), _frac(value))
        if len(set(codes)) != 1:
            raise UnsupportedNodeError(node.name, node.op_type, "the pad value maps to different codes per channel")
        pname = self.b.const_int(f"{node.name}_pads", np.array(pads))
        vname = self.b.const(f"{node.name}_value", np.array(codes[0]))
        out = self.b.emit("Pad", [x.name, pname, vname], node.name, mode="constant")
        self.b.dtypes[out] = x.dtype
        self.values[node.output[0]] = IntTensor(out, x.scale, x.offset, x.lo, x.hi, x.dtype)

    def _op_MaxPool(self, node) -> None:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        x = self._int_input(node)
        if any(s <= 0 for s in x.scale):
            raise UnsupportedNodeError(node.name, node.op_type, "max pooling a channel with a non-positive scale")
        if any(attrs.get("pads", [0] * 4)) or attrs.get("ceil_mode", 0):
            raise UnsupportedNodeError(node.name, node.op_type, "padded or ceil-mode max pooling is not supported")
        keep = {k: v for k, v in attrs.items() if k in ("kernel_shape", "strides")}
        out = self.b.emit("MaxPool", [x.name], node.name, **keep)
        self.b.dtypes[out] = x.dtype
        self.values[node.output[0]] = IntTensor(out, x.scale, x.offset, x.lo, x.hi, x.dtype)

    def _op_Concat(self, node) -> None:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if attrs.get("axis") != 1:
            raise UnsupportedNodeError(node.name, node.op_type, "only channel concatenation is supported")
        parts = [self._broadcast(self._int_input(node, i), self._shape(node.input[i])[1]) for i in range(len(node.input))]
        if len({p.dtype for p in parts}) != 1:
            raise UnsupportedNodeError(node.name, node.op_type, "inputs hold different datatypes")
        out = self.b.emit("Concat", [p.name for p in parts], node.name, axis=1)
        self.b.dtypes[out] = parts[0].dtype
        cat = lambda f: [v for p in parts for v in getattr(p, f)]  # noqa: E731
        self.values[node.output[0]] = IntTensor(out, cat("scale"), cat("offset"), cat("lo"), cat("hi"), parts[0].dtype)

    def _op_GlobalAveragePool(self, node) -> None:
        x = self._int_input(node)
        shape = self._shape(node.input[0])
        x = self._broadcast(x, shape[1])
        pixels = math.prod(shape[2:])
        # The streamlined graph uses opset 11, where ReduceSum takes its axes as an attribute.
        out = self.b.emit("ReduceSum", [x.name], node.name, axes=[2, 3], keepdims=1)
        lo, hi = [v * pixels for v in x.lo], [v * pixels for v in x.hi]
        dt = _int_dtype(min(lo), max(hi))
        self.b.dtypes[out] = dt
        self.values[node.output[0]] = IntTensor(out, [s / pixels for s in x.scale], list(x.offset), lo, hi, dt)

    def _op_AveragePool(self, node) -> None:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        x = self._int_input(node)
        kernel = list(attrs.get("kernel_shape", []))
        strides = list(attrs.get("strides", [1] * len(kernel)))
        auto_pad = attrs.get("auto_pad", b"NOTSET")
        auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
        if len(kernel) != 2 or kernel[0] != kernel[1]:
            raise UnsupportedNodeError(node.name, node.op_type, f"kernel {kernel}: only square 2-D pooling is supported")
        if strides != kernel:
            raise UnsupportedNodeError(node.name, node.op_type, f"overlapping pooling (kernel {kernel}, strides "
                                       f"{strides}) is not supported; only stride == kernel")
        if any(attrs.get("pads", [0] * 4)) or auto_pad not in ("NOTSET", "VALID"):
            raise UnsupportedNodeError(node.name, node.op_type, "padded average pooling is not supported")
        if attrs.get("ceil_mode", 0) or any(d != 1 for d in attrs.get("dilations", [1, 1])):
            raise UnsupportedNodeError(node.name, node.op_type, "ceil-mode or dilated average pooling is not supported")
        # The window sum is exact; the division by K*K moves into the scale, where a
        # following threshold or matrix product absorbs it as an exact rational.
        area = kernel[0] * kernel[1]
        lo, hi = [v * area for v in x.lo], [v * area for v in x.hi]
        dt = _int_dtype(min(lo), max(hi))
        out = self.b.emit("WindowSum", [x.name], node.name, domain=CUSTOM_DOMAIN, K=kernel[0], channel_axis=1,
                          outputDataType=dt.name)
        self.b.dtypes[out] = dt
        self.values[node.output[0]] = IntTensor(out, [s / area for s in x.scale], list(x.offset), lo, hi, dt)

    def _op_Trunc(self, node) -> None:
        raise UnsupportedNodeError(
            node.name, node.op_type,
            "truncation (Brevitas TruncAvgPool2d's requantization) rounds and clamps the window sum, which no "
            "hardware layer implements; pool with torch.nn.AvgPool2d, whose exact window sum is supported",
        )

    def _op_BatchNormalization(self, node) -> None:
        gamma, beta, mean, var = (self._const_input(node, i).astype(np.float64) for i in range(1, 5))
        eps = next((helper.get_attribute_value(a) for a in node.attribute if a.name == "epsilon"), 1e-5)
        # sqrt has no exact rational form: the multiplier is the float64 value, so a
        # threshold can differ from a float32 forward only within float64 rounding.
        mul = gamma / np.sqrt(var + np.float32(eps))
        self._affine(node, [_frac(m) for m in mul], [_frac(b) - _frac(m) * _frac(u) for b, m, u in zip(beta, mul, mean)])

    # -- elementwise affine ----------------------------------------------------
    def _affine(self, node, mul: list[Fraction] | None, add: list[Fraction] | None) -> None:
        x = self._broadcast(self._int_input(node, piecewise=True), len(mul or add))

        def apply(scale: list[Fraction], offset: list[Fraction]) -> tuple[list[Fraction], list[Fraction]]:
            if mul is not None:
                scale, offset = [s * m for s, m in zip(scale, mul)], [o * m for o, m in zip(offset, mul)]
            if add is not None:
                offset = [o + a for o, a in zip(offset, add)]
            return list(scale), list(offset)

        scale, offset = apply(x.scale, x.offset)
        self.values[node.output[0]] = IntTensor(
            x.name, scale, offset, list(x.lo), list(x.hi), x.dtype, x.weight, x.chain + (node.output[0],),
            x.knot, None if x.lower is None else apply(*x.lower))

    @staticmethod
    def _broadcast(x: IntTensor, channels: int) -> IntTensor:
        """A per-tensor affine (one entry) seen as `channels` identical ones."""
        if x.channels == channels:
            return x
        if x.channels != 1:
            raise ValueError(f"{x.name}: {x.channels} channels cannot broadcast to {channels}")
        return IntTensor(x.name, x.scale * channels, x.offset * channels, x.lo * channels, x.hi * channels,
                         x.dtype, x.weight, x.chain, None if x.knot is None else x.knot * channels,
                         None if x.lower is None else (x.lower[0] * channels, x.lower[1] * channels))

    def _shape(self, name: str) -> list[int]:
        return list(self.src.get_tensor_shape(name))

    def _op_PRelu(self, node) -> None:
        x = self._int_input(node)
        slope = _per_channel(self._const_input(node, 1), self._shape(node.input[0]), node) \
            if self._const_input(node, 1).size > 1 else [_frac(self._const_input(node, 1).item())]
        channels = max(x.channels, len(slope))
        x, slope = self._broadcast(x, channels), slope * (channels // len(slope))
        if any(q < 0 for q in slope):
            raise UnsupportedNodeError(node.name, node.op_type, "a negative slope is not monotone; clamp it at 0")
        knot, upper, lower = [], ([], []), ([], [])
        for c, q in enumerate(slope):
            s, o = x.scale[c], x.offset[c]
            if s > 0:  # real >= 0 from ceil(-o / s) up
                k, up, low = math.ceil(-o / s), (s, o), (q * s, q * o)
            elif s < 0:  # real < 0 from floor(-o / s) + 1 up
                k, up, low = math.floor(-o / s) + 1, (q * s, q * o), (s, o)
            else:
                k, up = x.lo[c], (Fraction(0), o if o >= 0 else q * o)
                low = up
            knot.append(k)
            for dst, src in ((upper, up), (lower, low)):
                dst[0].append(src[0])
                dst[1].append(src[1])
        self.values[node.output[0]] = IntTensor(x.name, upper[0], upper[1], list(x.lo), list(x.hi), x.dtype,
                                                knot=knot, lower=lower)

    def _residual_add(self, node) -> None:
        """The sum of two quantized tensors as a fixed-point stream with one shared scale."""
        channels = self._shape(node.output[0])[1]
        parts = [self._broadcast(self._int_input(node, i, piecewise=True), channels) for i in range(2)]
        terms = integer_terms([[p.pieces(c) for c in range(channels)] for p in parts])
        rank = len(self._shape(node.output[0]))
        attrs = {}
        for i in range(2):
            for key in ("knot", "mul_hi", "off_hi", "mul_lo", "off_lo"):
                attrs[f"{key}{i}"] = getattr(terms, key)[i]
        out = self.b.emit("ResidualAdd", [p.name for p in parts], node.name, domain=CUSTOM_DOMAIN,
                          shift=terms.shift, channel_axis=1 if rank > 2 else -1,
                          outputDataType=f"INT{terms.bits}", **attrs)
        dt = DataType[f"INT{terms.bits}"]
        self.b.dtypes[out] = dt
        self.fixed_point.append({"node": node.name, "bits": terms.bits, "acc_bits": terms.acc_bits,
                                 "scale": str(terms.scale), "shift": terms.shift,
                                 "error_bound": terms.error_bound})
        self.values[node.output[0]] = IntTensor(out, [terms.scale] * channels, [Fraction(0)] * channels,
                                                terms.lo, terms.hi, dt)

    def _const_operand(self, node) -> tuple[IntTensor, np.ndarray]:
        x = self._get(node.input[0], node)
        if isinstance(x, IntTensor):
            return x, self._const_input(node, 1)
        raise UnsupportedNodeError(node.name, node.op_type, "the tensor operand must come first")

    def _op_Add(self, node) -> None:
        if isinstance(self._get(node.input[1], node), IntTensor):
            self._residual_add(node)
            return
        _, c = self._const_operand(node)
        self._affine(node, None, _per_channel(c, self._shape(node.input[0]), node))

    def _op_Sub(self, node) -> None:
        _, c = self._const_operand(node)
        self._affine(node, None, [-v for v in _per_channel(c, self._shape(node.input[0]), node)])

    def _op_Mul(self, node) -> None:
        _, c = self._const_operand(node)
        self._affine(node, _per_channel(c, self._shape(node.input[0]), node), None)

    def _op_Div(self, node) -> None:
        _, c = self._const_operand(node)
        divisors = _per_channel(c, self._shape(node.input[0]), node)
        if any(d == 0 for d in divisors):
            raise UnsupportedNodeError(node.name, node.op_type, "division by zero")
        self._affine(node, [1 / d for d in divisors], None)

    # -- shape ops ---------------------------------------------------------------
    def _op_Flatten(self, node) -> None:
        x = self._get(node.input[0], node)
        if isinstance(x, RawTensor):
            # Shape ops ahead of the input quantizer are kept: the integer graph
            # takes the input in its original shape.
            attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
            extra = []
            for i in node.input[1:]:
                extra.append(self.b.const_int(i, self._const_input(node, 1)))
            self.values[node.output[0]] = RawTensor(self.b.emit(node.op_type, [x.name, *extra], node.name, **attrs))
            return
        x = self._int_input(node)
        shape = self._shape(node.input[0])
        out_shape = self._shape(node.output[0])
        if len(out_shape) != 2 or out_shape[1] != math.prod(shape[1:]):
            raise UnsupportedNodeError(node.name, node.op_type, "only flattening to (batch, features) is supported")
        pixels = math.prod(shape[2:])
        if x.channels != 1:
            # Channel c of an NCHW tensor becomes features c*H*W .. (c+1)*H*W-1.
            rep = lambda v: [e for e in v for _ in range(pixels)]  # noqa: E731
            x = IntTensor(x.name, rep(x.scale), rep(x.offset), rep(x.lo), rep(x.hi), x.dtype)
        extra = [self.b.const_int(f"{node.name}_shape", np.array([-1, out_shape[1]]))] if node.op_type == "Reshape" else []
        out = self.b.emit(node.op_type, [x.name, *extra], node.name,
                          **({"axis": 1} if node.op_type == "Flatten" else {}))
        self.b.dtypes[out] = x.dtype
        self.values[node.output[0]] = IntTensor(out, x.scale, x.offset, x.lo, x.hi, x.dtype)

    _op_Reshape = _op_Flatten

    # -- output ------------------------------------------------------------------
    def _finish(self) -> ModelWrapper:
        if self.input_dtype is None:
            raise UnsupportedNodeError("graph", "input", "the graph input has no input quantizer")
        outputs = []
        for o in self.src.graph.output:
            v = self.values.get(o.name)
            if not isinstance(v, IntTensor):
                raise UnsupportedNodeError("graph", "output", f"output {o.name!r} is not a quantized tensor")
            outputs.append(self._emit_output_affine(v, o.name))
        in_shape = self.src.get_tensor_shape(self.src.graph.input[0].name)
        graph = helper.make_graph(
            self.b.nodes,
            "streamlined",
            [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, in_shape)],
            [helper.make_tensor_value_info(o, TensorProto.FLOAT, self.src.get_tensor_shape(src.name))
             for o, src in zip(outputs, self.src.graph.output)],
        )
        model = ModelWrapper(qonnx_make_model(graph, producer_name="bnnflow"))
        for k, v in self.b.inits.items():
            model.set_initializer(k, v)
        model = model.transform(InferShapes())
        if self.fixed_point:
            model.set_metadata_prop(FIXED_POINT_KEY, json.dumps(self.fixed_point))
        model.set_tensor_datatype(INPUT_NAME, self.input_dtype)
        for k, v in self.b.dtypes.items():
            model.set_tensor_datatype(k, v)
        return model

    def _emit_output_affine(self, v: IntTensor, out_name: str) -> str:
        # The accumulator leaves the integer domain here; the Mul/Add reproduce the
        # QONNX graph's real-valued scores (exact where scales are powers of two).
        scale = np.array([float(s) for s in v.scale], dtype=np.float32)
        offset = np.array([float(o) for o in v.offset], dtype=np.float32)
        if any(Fraction(float(s)) != s for s in v.scale) or any(Fraction(float(o)) != o for o in v.offset):
            raise UnsupportedNodeError("graph", "output", f"output {out_name!r} affine is not representable in float")
        cur = v.name
        cur = self.b.emit("Mul", [cur, self.b.const("out_scale", scale)], "OutputScale")
        if np.any(offset != 0):
            cur = self.b.emit("Add", [cur, self.b.const("out_offset", offset)], "OutputOffset")
        return cur


def fixed_point_streams(model: ModelWrapper) -> list[dict]:
    """What streamlining recorded about each residual stream: node, bits, step, shift, error bound."""
    return json.loads(model.get_metadata_prop(FIXED_POINT_KEY) or "[]")


def streamline(model: ModelWrapper) -> ModelWrapper:
    """Return the integer graph equivalent to `model` (see the module docstring)."""
    return Streamliner(model).run()
