"""Elementwise affines: Mul/Add/Sub/Div with a constant on either side, BatchNormalization, PReLU,
and the residual add of two quantized tensors.

Behind the input quantizer an affine only changes the exact per-channel map of
an IntTensor (no op is emitted: a following threshold or matrix product absorbs
it). Ahead of the input quantizer it is preprocessing (2x - 1, (x - mean) / std)
that the host applies in float32 before quantizing (flows.frontend.input_quant).
Each affine behind an accumulator is also recorded in `IntTensor.post`, the
float ops whose rounding the output rule bounds (flows.frontend.output_affine).
"""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from onnx import helper
from qonnx.core.datatype import DataType

from flows.errors import UnsupportedNodeError
from flows.frontend.fixed_point import integer_terms
from flows.frontend.values import IntTensor, RawTensor, _frac, _per_channel
from flows.ops import DOMAIN as CUSTOM_DOMAIN


class AffineMixin:
    """The Streamliner's elementwise handlers (see flows.frontend.streamline.Streamliner)."""

    def _op_BatchNormalization(self, node) -> None:
        gamma, beta, mean, var = (self._const_input(node, i).astype(np.float64) for i in range(1, 5))
        eps = next((helper.get_attribute_value(a) for a in node.attribute if a.name == "epsilon"), 1e-5)
        if isinstance(self._get(node.input[0], node), RawTensor):
            raise UnsupportedNodeError(node.name, node.op_type, "batch norm ahead of the input quantizer")
        # sqrt has no exact rational form: the multiplier is the float64 value, so a
        # threshold can differ from a float32 forward only within float64 rounding.
        mul = gamma / np.sqrt(var + np.float32(eps))
        m = [_frac(v) for v in mul]
        add = [_frac(b) - _frac(v) * _frac(u) for b, v, u in zip(beta, mul, mean)]
        self._affine(node, m, add, ("bn", m, [_frac(u) for u in mean], [_frac(b) for b in beta]))

    def _affine(self, node, mul: list[Fraction] | None, add: list[Fraction] | None, step: tuple) -> None:
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
            x.knot, None if x.lower is None else apply(*x.lower),
            (x.post or (("start", list(x.scale), list(x.offset)),)) + (step,))

    @staticmethod
    def _broadcast(x: IntTensor, channels: int) -> IntTensor:
        """A per-tensor affine (one entry) seen as `channels` identical ones."""
        if x.channels == channels:
            return x
        if x.channels != 1:
            raise ValueError(f"{x.name}: {x.channels} channels cannot broadcast to {channels}")
        return IntTensor(x.name, x.scale * channels, x.offset * channels, x.lo * channels, x.hi * channels,
                         x.dtype, x.weight, x.chain, None if x.knot is None else x.knot * channels,
                         None if x.lower is None else (x.lower[0] * channels, x.lower[1] * channels), x.post)

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

    # -- Mul / Add / Sub / Div ------------------------------------------------------
    def _operands(self, node):
        """(tensor, constant, constant_first) of a binary elementwise op."""
        a, b = (self._get(i, node) for i in node.input[:2])
        if isinstance(a, (IntTensor, RawTensor)) and not isinstance(b, (IntTensor, RawTensor)):
            return a, self._const_input(node, 1), False
        if isinstance(b, (IntTensor, RawTensor)) and not isinstance(a, (IntTensor, RawTensor)):
            return b, self._const_input(node, 0), True
        raise UnsupportedNodeError(node.name, node.op_type, "needs one tensor and one constant operand")

    def _raw_op(self, node, x: RawTensor, c: np.ndarray, first: bool) -> None:
        if node.op_type == "Div" and first:
            raise UnsupportedNodeError(node.name, node.op_type, "dividing a constant by the input is not affine")
        if x.reshaped and np.asarray(c).size != 1:
            raise UnsupportedNodeError(node.name, node.op_type,
                                       "a per-element constant after a reshape of the input (only scalars)")
        v = np.asarray(c, dtype=np.float32)
        self.values[node.output[0]] = RawTensor(
            x.name, x.ops + ((node.op_type, v.tolist(), list(v.shape), first),), x.reshaped)

    def _channels(self, node, c: np.ndarray, tensor: str) -> list[Fraction]:
        return _per_channel(c, self._shape(tensor), node)

    def _op_Add(self, node) -> None:
        if all(isinstance(self._get(i, node), IntTensor) for i in node.input[:2]):
            self._residual_add(node)
            return
        x, c, first = self._operands(node)
        if isinstance(x, RawTensor):
            return self._raw_op(node, x, c, first)
        add = self._channels(node, c, node.input[1 if first else 0])
        self._affine(node, None, add, ("add", add))

    def _op_Sub(self, node) -> None:
        x, c, first = self._operands(node)
        if isinstance(x, RawTensor):
            return self._raw_op(node, x, c, first)
        v = self._channels(node, c, node.input[1 if first else 0])
        if first:  # c - x
            self._affine(node, [Fraction(-1)] * len(v), v, ("mul", [Fraction(-1)] * len(v)))
            out = self.values[node.output[0]]
            out.post = out.post + (("add", v),)
        else:
            self._affine(node, None, [-a for a in v], ("add", [-a for a in v]))

    def _op_Mul(self, node) -> None:
        x, c, first = self._operands(node)
        if isinstance(x, RawTensor):
            return self._raw_op(node, x, c, first)
        m = self._channels(node, c, node.input[1 if first else 0])
        self._affine(node, m, None, ("mul", m))

    def _op_Div(self, node) -> None:
        x, c, first = self._operands(node)
        if isinstance(x, RawTensor):
            return self._raw_op(node, x, c, first)
        if first:
            raise UnsupportedNodeError(node.name, node.op_type, "dividing a constant by a tensor is not affine")
        divisors = self._channels(node, c, node.input[0])
        if any(d == 0 for d in divisors):
            raise UnsupportedNodeError(node.name, node.op_type, "division by zero")
        self._affine(node, [1 / d for d in divisors], None, ("div", divisors))
