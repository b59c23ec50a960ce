"""ScoreAffine, integer class scores m_c * acc_c + n_c (hw/rtl/bnn_score_affine.v)."""
from __future__ import annotations

import math

import numpy as np
from qonnx.core.datatype import DataType

from flows.ops.base import HwOp


def score_bits(multipliers: list[int], offsets: list[int], acc_lo: int, acc_hi: int) -> int:
    """Signed width that holds every score m*acc + n over the accumulator range."""
    peak = max(abs(m * v + n) for m, n in zip(multipliers, offsets) for v in (acc_lo, acc_hi))
    return math.ceil(math.log2(peak + 1)) + 1


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


class ScoreAffine(HwOp):
    """Integer scores m_c * acc_c + n_c: the class decision of a per-channel output affine.

    The real scores are S * (m_c * acc_c + n_c) for one shared scale S > 0, so the
    argmax of these integers is the argmax of the real scores, exactly. No folding of
    its own: it takes its input's lanes when they divide the classes, else one.
    """

    def get_nodeattr_types(self):
        return {**self.base_attrs(), "Multipliers": ("ints", True, []), "Offsets": ("ints", True, []),
                "inputDataType": ("s", True, "")}

    def compute(self, inputs):
        m = np.array(self.get_nodeattr("Multipliers"), dtype=np.int64)
        n = np.array(self.get_nodeattr("Offsets"), dtype=np.int64)
        return [inputs[0] * m + n]

    def rtl(self, b, inputs):
        from flows.backends.design import Memory

        node, s = self.onnx_node, inputs[0]
        m, n = self.get_nodeattr("Multipliers"), self.get_nodeattr("Offsets")
        channels = len(m)
        pe = s.elems if channels % s.elems == 0 else 1
        s = b.reshape(s, pe, node.name)
        # The module sign-extends inputs into the score width, which must be wider.
        out_bits = max(DataType[self.get_nodeattr("outputDataType")].bitwidth(), s.elem_bits + 1)
        m_bits = max(2, max(abs(v) for v in m).bit_length() + 1)
        pfile = f"{node.name}_params.hex"
        rom = Memory(pfile, pe * (m_bits + out_bits), score_affine_words(m, n, pe, m_bits, out_bits))
        out = b.stream(node.name, pe, out_bits, True)
        params = {"C": channels, "PE": pe, "IN_BITS": s.elem_bits, "IN_SIGNED": int(s.signed), "M_BITS": m_bits,
                  "OUT_BITS": out_bits, "PARAM_FILE": f'"{pfile}"'}
        b.unit(node, "bnn_score_affine", params, s, out, [rom], cycles=channels // pe)
        return out
