"""LabelSelect, top-k label select: indices of the k largest scores, ties to the lowest index
(hw/rtl/bnn_label_select.v, top-1)."""
from __future__ import annotations

import math

import numpy as np

from flows.errors import UnsupportedNodeError
from flows.ops.base import HwOp, divisors


def label_select(x: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest values along the last axis, ties to the lowest index."""
    order = np.argsort(-x.astype(np.int64), axis=-1, kind="stable")
    return order[..., :k].astype(np.int64)


class LabelSelect(HwOp):
    FOLDS = "PE"
    TIMED = True

    def get_nodeattr_types(self):
        return {
            **self.base_attrs(),
            "K": ("i", False, 1),
            "Labels": ("i", True, 0),
            "PE": ("i", False, 1),
            "inputDataType": ("s", True, ""),
        }

    def compute(self, inputs):
        return [label_select(inputs[0], self.get_nodeattr("K"))]

    def verify_node(self):
        labels, pe = self.get_nodeattr("Labels"), self.get_nodeattr("PE")
        return [f"PE={pe} does not divide Labels={labels}"] if labels % pe else []

    def cycles(self) -> int:
        return self.get_nodeattr("Labels") // self.get_nodeattr("PE")

    def fold_options(self, model):
        labels = self.get_nodeattr("Labels")
        return [(pe, None, labels // pe) for pe in divisors(labels)]

    def pe_bound(self):
        return f"Labels={self.get_nodeattr('Labels')}"

    def rtl(self, b, inputs):
        node = self.onnx_node
        if self.get_nodeattr("K") != 1:
            raise UnsupportedNodeError(node.name, node.op_type, "the hardware label select is top-1 only")
        labels, pe = self.get_nodeattr("Labels"), self.get_nodeattr("PE")
        s = b.reshape(inputs[0], pe, node.name)
        out_w = 8 * math.ceil(max(1, (labels - 1).bit_length()) / 8)
        out = b.stream(node.name, 1, out_w, False)
        params = {"N": labels, "PE": pe, "EW": s.elem_bits, "SIGNED": int(s.signed), "OUT_W": out_w}
        b.unit(node, "bnn_label_select", params, s, out)
        return out
