"""MaxPoolNHWC, non-overlapping max pooling, an OR on bits (hw/rtl/bnn_maxpool.v)."""
from __future__ import annotations

import numpy as np

from flows.ops.base import HwOp


def max_pool(x: np.ndarray, k: int, stride: int) -> np.ndarray:
    """Max pooling of (N, H, W, C) without padding (floor mode); on bits it is an OR."""
    n, h, w, c = x.shape
    oh, ow = (h - k) // stride + 1, (w - k) // stride + 1
    out = np.full((n, oh, ow, c), np.iinfo(np.int64).min, dtype=np.int64)
    for ky in range(k):
        for kx in range(k):
            out = np.maximum(out, x[:, ky : ky + stride * (oh - 1) + 1 : stride, kx : kx + stride * (ow - 1) + 1 : stride, :])
    return out


class MaxPoolNHWC(HwOp):
    """Non-overlapping max pooling (an OR on bits)."""

    FOLDS = "PE"
    TIMED = True

    def get_nodeattr_types(self):
        return {**self.base_attrs(), "K": ("i", True, 2), "Stride": ("i", True, 2), "PE": ("i", False, 1),
                "IFMDim": ("ints", True, []), "Channels": ("i", True, 0)}

    def compute(self, inputs):
        return [max_pool(inputs[0], self.get_nodeattr("K"), self.get_nodeattr("Stride"))]

    def cycles(self) -> int:
        h, w = self.get_nodeattr("IFMDim")
        return h * w * self.get_nodeattr("Channels") // self.get_nodeattr("PE")

    def rtl(self, b, inputs):
        node = self.onnx_node
        pe, (h, w) = self.get_nodeattr("PE"), self.get_nodeattr("IFMDim")
        s = b.reshape(inputs[0], pe, node.name)
        out = b.stream(node.name, pe, s.elem_bits, s.signed)
        params = {"IFM_H": h, "IFM_W": w, "CH": self.get_nodeattr("Channels"), "K": self.get_nodeattr("K"), "PE": pe,
                  "EW": s.elem_bits, "SIGNED": int(s.signed)}
        b.unit(node, "bnn_maxpool", params, s, out)
        return out

    def golden_step(self, model, consts):
        from flows.sim.golden import Kernel, MaxPool

        node = self.onnx_node
        return (list(node.input), list(node.output),
                MaxPool(self.get_nodeattr("K"), self.get_nodeattr("Stride"), Kernel(node, consts)), ())
