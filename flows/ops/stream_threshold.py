"""StreamThreshold, bits of a multi-bit stream: x >= T_c, or x <= T_c (hw/rtl/bnn_threshold.v)."""
from __future__ import annotations

from typing import Sequence

import numpy as np
from onnx import helper

from flows.backends.rtl_words import check_beats, signed_field
from flows.frontend.fixed_point import signed_bits
from flows.ops.base import HwOp


def stream_threshold(x: np.ndarray, thresholds: np.ndarray, descending: np.ndarray) -> np.ndarray:
    """Bits of a multi-bit stream (last axis = channels): x >= T_c, or x <= T_c where descending_c."""
    t = thresholds.reshape(-1).astype(np.int64)
    return np.where(descending.reshape(-1) != 0, x <= t, x >= t).astype(np.int64)


def stream_threshold_words(thresholds: Sequence[int], descending: Sequence[int], pe: int,
                           t_bits: int) -> list[int]:
    """bnn_threshold ROM, one word per beat: lane p has T at bit p*(t_bits+1), its flag above it.

    thresholds/descending are per channel (C of each); a descending channel
    outputs x <= T instead of x >= T.
    """
    if len(thresholds) != len(descending):
        raise ValueError(f"{len(thresholds)} thresholds but {len(descending)} descending flags")
    beats = check_beats(len(thresholds), pe)
    fw = t_bits + 1
    words = []
    for b in range(beats):
        word = 0
        for p in range(pe):
            c = b * pe + p
            d = int(descending[c])
            if d not in (0, 1):
                raise ValueError(f"descending[{c}] = {d} is not 0 or 1")
            word |= signed_field(thresholds[c], t_bits, f"threshold[{c}]") << (p * fw)
            word |= d << (p * fw + t_bits)
        words.append(word)
    return words


class StreamThreshold(HwOp):
    """x >= T_c (x <= T_c where descending) of a multi-bit stream.

    Hardware (channel_axis -1): bits. Streamlined graph (channel_axis 1, bipolar 1):
    +-1, where a multi-bit stream's sign needs a descending comparison that
    qonnx's MultiThreshold cannot express.
    """

    FOLDS = "PE"
    TIMED = True

    def get_nodeattr_types(self):
        return {**self.base_attrs(), "thresholds": ("ints", True, []), "descending": ("ints", True, []),
                "inputDataType": ("s", False, ""), "channel_axis": ("i", False, -1), "bipolar": ("i", False, 0),
                "PE": ("i", False, 1), "numPixels": ("i", False, 1), "Channels": ("i", False, 0)}

    def compute(self, inputs):
        x = inputs[0]
        if self.get_nodeattr("channel_axis") != -1:
            x = np.moveaxis(x, self.get_nodeattr("channel_axis"), -1)
        bits = stream_threshold(x, np.array(self.get_nodeattr("thresholds")), np.array(self.get_nodeattr("descending")))
        if self.get_nodeattr("channel_axis") != -1:
            bits = np.moveaxis(bits, -1, self.get_nodeattr("channel_axis"))
        return [2 * bits - 1 if self.get_nodeattr("bipolar") else bits]

    def make_shape_compatible_op(self, model):
        return helper.make_node("Identity", [self.onnx_node.input[0]], list(self.onnx_node.output))

    def cycles(self) -> int:
        return self.get_nodeattr("numPixels") * len(self.get_nodeattr("thresholds")) // self.get_nodeattr("PE")

    def rtl(self, b, inputs):
        from flows.backends.design import Memory

        node = self.onnx_node
        t, desc = self.get_nodeattr("thresholds"), self.get_nodeattr("descending")
        pe = self.get_nodeattr("PE")
        s = b.reshape(inputs[0], pe, node.name)
        # Thresholds are clipped to one past the input range, so the input width bounds them.
        t_bits = max(s.elem_bits + 2, signed_bits(min(t), max(t)))
        pfile = f"{node.name}_params.hex"
        rom = Memory(pfile, pe * (t_bits + 1), stream_threshold_words(t, desc, pe, t_bits))
        out = b.stream(node.name, pe, 1, False)
        params = {"C": len(t), "PE": pe, "IN_BITS": s.elem_bits, "IN_SIGNED": int(s.signed), "T_BITS": t_bits,
                  "PARAM_FILE": f'"{pfile}"'}
        b.unit(node, "bnn_threshold", params, s, out, [rom])
        return out
