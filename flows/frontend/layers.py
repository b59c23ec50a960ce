"""Layers of the streamliner: matrix products, convolutions, padding, pooling, concatenation, shape ops.

Each handler reads IntTensor inputs (flows.frontend.values), emits the integer
op, and gives its output's exact per-channel affine and integer range.
"""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from onnx import helper
from qonnx.core.datatype import DataType

from flows.errors import UnsupportedNodeError
from flows.frontend.values import IntTensor, QuantConst, RawTensor, _frac, _int_dtype, _per_channel
from flows.ops import DOMAIN as CUSTOM_DOMAIN


U = Fraction(1, 2**24)  # float32's unit roundoff


def _exact_in_float32(step: Fraction, peak: int) -> bool:
    """Every multiple k * step with |k| <= peak is a float32 (normal or zero)."""
    if step == 0:
        return True
    num, den = abs(step.numerator), step.denominator
    if den & (den - 1):
        return False
    return (num * max(peak, 1)).bit_length() <= 24 and abs(step) >= Fraction(1, 2**126)


def _accumulation_error(x: IntTensor, scale: list[Fraction], offset: list[Fraction], lo, hi, k: int) -> tuple:
    """The float network's own rounding in this product, for the output rule (zero where it is exact).

    The float network multiplies real inputs by real weights and sums; with
    dyadic scales every product and partial sum is exact, else each of the k
    additions rounds (|error| <= k * u * sum |x * w|).
    """
    start = (("start", list(scale), list(offset)),)
    peak = max(max(abs(int(v)) for v in lo), max(abs(int(v)) for v in hi))
    offsets_exact = all(_exact_in_float32(o, 1) for o in x.offset)
    if offsets_exact and all(_exact_in_float32(s, peak) for s in scale):
        return start
    xmax = max(max(abs(s * v + o) for v in (lo_, hi_)) for s, o, lo_, hi_ in
               zip(x.scale, x.offset, x.lo, x.hi)) if x.channels else Fraction(0)
    bound = [2 * k * U * k * xmax * abs(s / x.scale[0]) if x.scale[0] else Fraction(0) for s in scale]
    return start + (("err", bound),)


class LayerMixin:
    """The Streamliner's layer handlers (see flows.frontend.streamline.Streamliner)."""

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
            out.post += (("add", bias),)

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
        xo = list(x.offset if x.channels == k else x.offset * k)
        xlo = np.array(x.lo if x.channels == k else x.lo * k)
        xhi = np.array(x.hi if x.channels == k else x.hi * k)
        wname = self.b.const(f"{node.name}_weights", ints)
        out = self.b.emit("MatMul", [x.name, wname], node.name)
        pos, neg = np.clip(ints, 0, None), np.clip(-ints, 0, None)
        lo = (pos * xlo[:, None] - neg * xhi[:, None]).sum(0)
        hi = (pos * xhi[:, None] - neg * xlo[:, None]).sum(0)
        scale = [xs * _frac(s) for s in wscale[0]]
        if len(set(xo)) == 1:  # one offset for every input: it meets only the column sums
            offset = [_frac(s) * xo[0] * int(ints[:, c].sum()) for c, s in enumerate(wscale[0])]
        else:
            offset = [_frac(s) * sum(o * int(v) for o, v in zip(xo, ints[:, c]) if o) for c, s in enumerate(wscale[0])]
        dt = _int_dtype(int(lo.min()), int(hi.max()))
        self.b.dtypes[out] = dt
        t = IntTensor(
            out, scale, offset, [int(v) for v in lo], [int(v) for v in hi], dt, weight=wname, chain=(node.output[0],),
            post=_accumulation_error(x, scale, offset, lo, hi, k),
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
        post = _accumulation_error(x, scale, offset, lo, hi, flat[0].size)
        if len(node.input) > 2 and node.input[2]:
            bias = _per_channel(self._const_input(node, 2).reshape(1, -1), [1, len(scale)], node)
            offset = [o + b for o, b in zip(offset, bias)]
            post += (("add", bias),)
        dt = _int_dtype(int(lo.min()), int(hi.max()))
        self.b.dtypes[out] = dt
        self.values[node.output[0]] = IntTensor(out, scale, offset, [int(v) for v in lo], [int(v) for v in hi], dt,
                                                weight=wname, chain=(node.output[0],),
                                                post=post)
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

    # -- shape ops ---------------------------------------------------------------
    def _op_Flatten(self, node) -> None:
        x = self._get(node.input[0], node)
        if isinstance(x, RawTensor):
            self._raw_shape_op(node, x)
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

    def _raw_shape_op(self, node, x: RawTensor) -> None:
        """Shape ops ahead of the input quantizer are kept: the integer graph takes the input in its
        original shape (the host quantizes it elementwise)."""
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        extra = [self.b.const_int(i, self._const_input(node, k + 1)) for k, i in enumerate(node.input[1:]) if i]
        if node.op_type == "Reshape":
            # Brevitas writes opset 14's allowzero on Reshape; the integer graph is opset 11, whose
            # Reshape has no such attribute (execute_onnx refuses it). It only matters for a 0 in the shape.
            if attrs.pop("allowzero", 0) and any(int(v) == 0 for v in self._const_input(node, 1).reshape(-1)):
                raise UnsupportedNodeError(node.name, node.op_type, "allowzero=1 with a 0 in the target shape")
        self.values[node.output[0]] = RawTensor(self.b.emit(node.op_type, [x.name, *extra], node.name, **attrs),
                                                x.ops, reshaped=True)

    def _op_Transpose(self, node) -> None:
        x = self._get(node.input[0], node)
        if isinstance(x, RawTensor):
            self._raw_shape_op(node, x)
            return
        perm = [int(v) for v in next((helper.get_attribute_value(a) for a in node.attribute if a.name == "perm"),
                                     [])]
        if isinstance(x, IntTensor) and x.channels == 1 and perm[:1] == [0]:
            # A per-tensor affine is the same on every element: only the integers move.
            out = self.b.emit("Transpose", [x.name], node.name, perm=perm)
            self.b.dtypes[out] = x.dtype
            self.values[node.output[0]] = IntTensor(out, x.scale, x.offset, x.lo, x.hi, x.dtype)
            return
        raise UnsupportedNodeError(node.name, node.op_type,
                                   "transposing a quantized activation with per-channel scales is not supported")

    def _op_Identity(self, node) -> None:
        self.values[node.output[0]] = self._get(node.input[0], node)

    def _op_Dropout(self, node) -> None:
        # Inference: the identity (the mask output, if any, is never read by a supported op).
        self.values[node.output[0]] = self._get(node.input[0], node)

