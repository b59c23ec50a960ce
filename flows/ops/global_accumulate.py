"""GlobalAccumulate, the per-channel sum over all pixels, a popcount on bits (hw/rtl/bnn_global_acc.v).

The model for adding a layer (docs/architecture.md walks it end to end).
"""
from __future__ import annotations

import numpy as np
from qonnx.core.datatype import DataType

from flows.ops.base import HwOp


def global_accumulate(x: np.ndarray) -> np.ndarray:
    """Per-channel sum over all pixels of (N, H, W, C): a popcount for bits. Output (N, C)."""
    return x.astype(np.int64).sum(axis=(1, 2))


class GlobalAccumulate(HwOp):
    """Per-channel sum over all pixels; output (N, 1, 1, C). Folds by PE (channels a beat)."""

    FOLDS = "PE"
    TIMED = True

    def get_nodeattr_types(self):
        return {**self.base_attrs(), "PE": ("i", False, 1), "Pixels": ("i", True, 0), "Channels": ("i", True, 0)}

    def compute(self, inputs):
        x = inputs[0]
        return [global_accumulate(x).reshape(x.shape[0], 1, 1, x.shape[-1])]

    def cycles(self) -> int:
        return self.get_nodeattr("Pixels") * self.get_nodeattr("Channels") // self.get_nodeattr("PE")

    def rtl(self, b, inputs):
        node = self.onnx_node
        pe = self.get_nodeattr("PE")
        out_bits = DataType[self.get_nodeattr("outputDataType")].bitwidth()
        s = b.reshape(inputs[0], pe, node.name)
        out = b.stream(node.name, pe, out_bits, False)
        params = {"PIXELS": self.get_nodeattr("Pixels"), "CH": self.get_nodeattr("Channels"), "PE": pe,
                  "EW": s.elem_bits, "SIGNED": int(s.signed), "OUT_BITS": out_bits, "OUT_PE": pe}
        b.unit(node, "bnn_global_acc", params, s, out)
        return out

    def golden_step(self, model, consts):
        from flows.sim.golden import Kernel, PixelSum

        node = self.onnx_node
        return list(node.input), list(node.output), PixelSum(Kernel(node, consts)), ()
