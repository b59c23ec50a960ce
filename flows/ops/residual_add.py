"""ResidualAdd, the fixed-point residual add of two streams (hw/rtl/bnn_residual_add.v)."""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
from onnx import helper
from qonnx.core.datatype import DataType

from flows.backends.rtl_words import check_beats, signed_field
from flows.frontend.fixed_point import signed_bits
from flows.ops.base import HwOp

# The per-channel constants of one input's term, in the order of a bnn_residual_add lane's fields.
TERM_FIELDS = ("knot", "mul_hi", "off_hi", "mul_lo", "off_lo")
RESIDUAL_FIELDS = TERM_FIELDS


def piecewise_term(x: np.ndarray, knot: np.ndarray, mul_hi: np.ndarray, off_hi: np.ndarray,
                   mul_lo: np.ndarray, off_lo: np.ndarray) -> np.ndarray:
    """Per channel: mul_hi * x + off_hi where x >= knot, else mul_lo * x + off_lo (all int64)."""
    x = x.astype(np.int64)
    return np.where(x >= knot, mul_hi * x + off_hi, mul_lo * x + off_lo)


def residual_add(terms: list[np.ndarray], shift: int) -> np.ndarray:
    """Sum of the per-input terms, rounded half up and shifted right by `shift` bits (floor)."""
    total = sum(terms)
    if shift:
        total = total + (1 << (shift - 1))
    return total >> shift


def residual_add_words(params: Mapping[str, Sequence[Sequence[int]]], pe: int, f_bits: int) -> list[int]:
    """bnn_residual_add ROM, one word per beat: field f of input i, lane p at ((p*2+i)*5+f)*f_bits.

    params maps each of TERM_FIELDS to [per-channel list of input 0, of input 1].
    """
    missing = [f for f in TERM_FIELDS if f not in params]
    if missing:
        raise ValueError(f"missing residual-add constants: {missing}")
    c = len(params["knot"][0])
    for f in TERM_FIELDS:
        if len(params[f]) != 2 or any(len(per_in) != c for per_in in params[f]):
            raise ValueError(f"{f} must be two lists (input 0, input 1) of {c} channels")
    beats = check_beats(c, pe)
    words = []
    for b in range(beats):
        word = 0
        for p in range(pe):
            ch = b * pe + p
            for i in range(2):
                for f, name in enumerate(TERM_FIELDS):
                    v = signed_field(params[name][i][ch], f_bits, f"{name}[input {i}][{ch}]")
                    word |= v << (((p * 2 + i) * len(TERM_FIELDS) + f) * f_bits)
        words.append(word)
    return words


class ResidualAdd(HwOp):
    """(term_0 + term_1 + round) >> shift; term_i a per-channel two-piece affine of input i.

    See flows.frontend.fixed_point for how the integer coefficients come from the real
    graph. channel_axis is 1 in the streamlined (NCHW) graph, -1 in hardware.
    """

    FOLDS = "PE"
    TIMED = True

    def get_nodeattr_types(self):
        terms = {f"{k}{i}": ("ints", True, []) for i in range(2) for k in TERM_FIELDS}
        return {**self.base_attrs(), **terms, "shift": ("i", False, 0), "channel_axis": ("i", False, -1),
                "PE": ("i", False, 1), "numPixels": ("i", False, 1), "Channels": ("i", False, 0)}

    def coefficients(self, i: int) -> list[np.ndarray]:
        return [np.array(self.get_nodeattr(f"{k}{i}"), dtype=np.int64) for k in TERM_FIELDS]

    def compute(self, inputs):
        axis = self.get_nodeattr("channel_axis")
        terms = []
        for i, x in enumerate(inputs):
            shape = [1] * x.ndim
            shape[axis] = -1
            terms.append(piecewise_term(x, *(v.reshape(shape) for v in self.coefficients(i))))
        return [residual_add(terms, self.get_nodeattr("shift"))]

    def make_shape_compatible_op(self, model):
        # In the streamlined graph the operands' shapes are not inferred yet; an Add has the same output shape.
        return helper.make_node("Add", list(self.onnx_node.input), list(self.onnx_node.output))

    def cycles(self) -> int:
        return self.get_nodeattr("numPixels") * len(self.get_nodeattr("knot0")) // self.get_nodeattr("PE")

    def rtl(self, b, inputs):
        from flows.backends.design import Memory

        node = self.onnx_node
        pe = self.get_nodeattr("PE")
        parts = [b.reshape(p, pe, f"{node.name}_in{i}") for i, p in enumerate(inputs)]
        coeffs = {k: [self.get_nodeattr(f"{k}{i}") for i in range(2)] for k in TERM_FIELDS}
        flat = [v for rows in coeffs.values() for row in rows for v in row]
        f_bits = signed_bits(min(flat), max(flat))
        shift = self.get_nodeattr("shift")
        # Widest selected term over each input's whole code range, both terms, and the rounding constant.
        peak = sum(max(abs(m) * (1 << p.elem_bits) + abs(k) for key_m, key_k in (("mul_hi", "off_hi"), ("mul_lo", "off_lo"))
                       for m, k in zip(coeffs[key_m][i], coeffs[key_k][i]))
                   for i, p in enumerate(parts))
        acc_bits = max(signed_bits(-peak, peak + (1 << shift)), max(p.elem_bits for p in parts) + 1)
        out_bits = DataType[self.get_nodeattr("outputDataType")].bitwidth()
        pfile = f"{node.name}_params.hex"
        rom = Memory(pfile, pe * 10 * f_bits, residual_add_words(coeffs, pe, f_bits))
        out = b.stream(node.name, pe, out_bits, True)
        params = {"C": len(coeffs["knot"][0]), "PE": pe, "IN0_BITS": parts[0].elem_bits,
                  "IN0_SIGNED": int(parts[0].signed), "IN1_BITS": parts[1].elem_bits,
                  "IN1_SIGNED": int(parts[1].signed), "F_BITS": f_bits, "ACC_BITS": acc_bits, "SHIFT": shift,
                  "OUT_BITS": out_bits, "PARAM_FILE": f'"{pfile}"'}
        b.instance("bnn_residual_add", f"{node.name}_i", params,
                   {"s0_axis": parts[0].name, "s1_axis": parts[1].name, "m_axis": out.name}, [rom], node.op_type)
        b.layer(node, params)
        return out
