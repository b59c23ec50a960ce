"""Quantizers: the input quantizer, and activation quantizers absorbed into integer thresholds.

A per-channel affine y = s*a + t (a the integer accumulator) followed by a
binary quantizer becomes a compare of `a` against an exact integer threshold:

    scale_c > 0:  sign(scale_c * a + offset_c) = +1  <=>  a >= ceil(-offset_c / scale_c)
    scale_c < 0:  negate the producing weights of channel c, then as above
    scale_c = 0:  a constant, as a threshold no accumulator value reaches (or always reaches)

Binary activations come as BipolarQuant (QuantIdentity with Brevitas' binary
quantizer), as a 1-bit signed Quant (qonnx reads it as a sign), or as a 1-bit
unsigned Quant (QuantReLU with bit_width=1: 0 or `scale`, which is the affine
scale/2 * (+-1) + scale/2 of a sign, so it streams as bits like the others).
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np
from onnx import helper
from qonnx.core.datatype import DataType
from qonnx.custom_op.general.intquant import max_int, min_int

from flows.errors import UnsupportedNodeError
from flows.frontend.values import (
    QONNX_DOMAIN, IntTensor, QuantConst, RawTensor, _frac, _quant_ints, _sign_threshold,
)
from flows.ops import DOMAIN as CUSTOM_DOMAIN


def _attrs(node) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


class QuantizerMixin:
    """The Streamliner's quantizer handlers (see flows.frontend.streamline.Streamliner)."""

    def _op_Quant(self, node) -> None:
        x = self._get(node.input[0], node)
        scale, zeropt, bits = (self._const_input(node, i) for i in (1, 2, 3))
        bits = int(bits)
        if isinstance(x, np.ndarray):
            self.values[node.output[0]] = QuantConst(_quant_ints(node, x, scale, zeropt, bits), scale)
            return
        attrs = _attrs(node)
        signed, narrow = bool(attrs.get("signed", 1)), bool(attrs.get("narrow", 0))
        if scale.size != 1 or zeropt.size != 1:
            raise UnsupportedNodeError(node.name, node.op_type, "activation quantizers must be per-tensor")
        s, z = _frac(scale.item()), _frac(zeropt.item())
        if s <= 0:
            raise UnsupportedNodeError(node.name, node.op_type, "quantizer scale must be positive")
        if isinstance(x, RawTensor):
            self._input_quant(node, x, s, z, bits, signed, narrow, attrs)
            return
        if bits != 1:
            raise UnsupportedNodeError(
                node.name, node.op_type,
                f"{bits}-bit requantization of an activation is not supported (binary activations only)",
            )
        a = self._int_input(node, piecewise=True)
        if signed:
            # qonnx (and Brevitas' export) read a signed 1-bit Quant as sign(x / s + z): +-1, then (q - z) * s.
            a = self._shifted(a, s * z)
            self._binary(node, a, strict=False, out_scale=s, out_offset=-z * s)
        else:
            # 0 or 1 after round(clip(x / s + z, 0, 1)): 1 exactly where x / s + z > 1/2 (half to even
            # rounds 1/2 down); the value (q - z) * s = s/2 * (+-1) + s/2 - z*s.
            a = self._shifted(a, s * (z - Fraction(1, 2)))
            self._binary(node, a, strict=True, out_scale=s / 2, out_offset=s / 2 - z * s)

    @staticmethod
    def _shifted(a: IntTensor, add: Fraction) -> IntTensor:
        if not add:
            return a
        lower = None if a.lower is None else (a.lower[0], [o + add for o in a.lower[1]])
        return IntTensor(a.name, a.scale, [o + add for o in a.offset], a.lo, a.hi, a.dtype, a.weight, a.chain,
                         a.knot, lower)

    def _input_quant(self, node, x: RawTensor, s: Fraction, z: Fraction, bits: int, signed: bool, narrow: bool,
                     attrs: dict) -> None:
        if bits > 16:
            raise UnsupportedNodeError(node.name, node.op_type, "input quantizer must have at most 16 bits")
        if z.denominator != 1:
            raise UnsupportedNodeError(node.name, node.op_type, "input zero point must be an integer")
        if bits == 1 and signed:
            self._bipolar_input(node, x, s, z)
            return
        qmin, qmax = int(min_int(signed, narrow, bits)), int(max_int(signed, narrow, bits))
        # The hardware takes unsigned codes q - qmin (a signed 8-bit input streams as q + 128);
        # the real value is s * (q - z) = s * code + s * (qmin - z).
        self.input_dtype = DataType[f"UINT{bits}"]
        self.b.dtypes[x.name] = self.input_dtype
        mode = attrs.get("rounding_mode", b"ROUND")
        self.input_quant = dict(ops=list(x.ops), kind="Quant", scale=float(s), zeropt=float(z), bits=bits,
                                signed=int(signed), narrow=int(narrow),
                                rounding_mode=mode.decode() if isinstance(mode, bytes) else mode, code_offset=-qmin)
        self.values[node.output[0]] = IntTensor(x.name, [s], [s * (qmin - z)], [0], [qmax - qmin], self.input_dtype)

    def _bipolar_input(self, node, x: RawTensor, s: Fraction, z: Fraction) -> None:
        # The sign of the raw input is the input quantizer: the integer graph takes the +-1
        # codes themselves (the host feeds sign(x / s + z), x / s + z >= 0 -> +1).
        self.input_dtype = DataType["BIPOLAR"]
        self.b.dtypes[x.name] = self.input_dtype
        self.input_quant = dict(ops=list(x.ops), kind="BipolarQuant", scale=float(s), zeropt=float(z), bits=1,
                                signed=1, narrow=0, rounding_mode="ROUND", code_offset=0)
        self.values[node.output[0]] = IntTensor(x.name, [s], [-z * s], [-1], [1], self.input_dtype)

    def _op_BipolarQuant(self, node) -> None:
        x = self._get(node.input[0], node)
        scale = self._const_input(node, 1)
        if isinstance(x, np.ndarray):
            self.values[node.output[0]] = QuantConst(np.where(x >= 0, 1.0, -1.0), scale)
            return
        if scale.size != 1:
            raise UnsupportedNodeError(node.name, node.op_type, "activation scale must be per-tensor")
        if isinstance(x, RawTensor):
            self._bipolar_input(node, x, _frac(scale.item()), Fraction(0))
            return
        s = _frac(scale.item())
        self._binary(node, self._int_input(node, piecewise=True), strict=False, out_scale=s, out_offset=Fraction(0))

    def _binary(self, node, a: IntTensor, strict: bool, out_scale: Fraction, out_offset: Fraction) -> None:
        """+1 where the real value of `a` is >= 0 (> 0 if strict), else -1; the output's real value
        is out_scale * (+-1) + out_offset."""
        # A decreasing channel negates its producer's weights where only this sign reads
        # them; elsewhere (a residual stream, a shared accumulator) the sign compares the
        # negated integer, which the hardware does as a descending threshold.
        negatable = a.knot is None and a.weight is not None and \
            all(len(self.src.find_consumers(t)) == 1 for t in a.chain)
        thresholds, signs = [], []
        for c in range(a.channels):
            t, descending = _sign_threshold(a, c, node, strict)
            if descending and negatable:
                self._negate_channel(a, c, node)
                a.scale[c], a.lo[c], a.hi[c] = -a.scale[c], -a.hi[c], -a.lo[c]
                t, descending = _sign_threshold(a, c, node, strict)
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
        c = a.channels
        self.values[node.output[0]] = IntTensor(out, [out_scale] * c, [out_offset] * c, [-1] * c, [1] * c,
                                                DataType["BIPOLAR"])

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

    def _op_Relu(self, node) -> None:
        """QuantReLU's ReLU: the identity where only unsigned quantizers with zero point 0 read it
        (they clip at 0 themselves)."""
        consumers = self.src.find_consumers(node.output[0])
        for c in consumers:
            ok = c.op_type == "Quant" and not _attrs(c).get("signed", 1)
            zp = self.src.get_initializer(c.input[2]) if ok else None
            if not ok or zp is None or np.any(zp != 0):
                raise UnsupportedNodeError(
                    node.name, node.op_type,
                    "a ReLU is not supported unless only unsigned quantizers with zero point 0 read it "
                    "(QuantReLU; they clip at 0 anyway)",
                )
        self.values[node.output[0]] = self._get(node.input[0], node)
