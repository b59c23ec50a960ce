"""WindowSum, the integer form of non-overlapping average pooling: per-channel sums over K x K
windows (hw/rtl/bnn_pool_sum.v)."""
from __future__ import annotations

import numpy as np
from onnx import helper
from qonnx.core.datatype import DataType

from flows.ops.base import HwOp


def window_sum(x: np.ndarray, k: int) -> np.ndarray:
    """Per-channel sums over non-overlapping k x k windows of (N, H, W, C), floor mode: a popcount for bits.

    Average pooling without its division: the division is a scale the next layer absorbs exactly.
    """
    n, h, w, c = x.shape
    oh, ow = h // k, w // k
    used = x[:, : oh * k, : ow * k, :].astype(np.int64)
    return used.reshape(n, oh, k, ow, k, c).sum(axis=(2, 4))


class WindowSum(HwOp):
    """Sums over non-overlapping K x K windows (stride K, no padding, floor mode); a popcount on bits.

    channel_axis is 1 in the streamlined (NCHW) graph, where the op stands for an
    AveragePool whose division by K*K moved into the tensor's scale, and -1 in
    hardware (NHWC).
    """

    FOLDS = "PE"
    TIMED = True

    def get_nodeattr_types(self):
        return {**self.base_attrs(), "K": ("i", True, 2), "channel_axis": ("i", False, -1), "PE": ("i", False, 1),
                "IFMDim": ("ints", False, []), "Channels": ("i", False, 0)}

    def compute(self, inputs):
        x = inputs[0]
        axis = self.get_nodeattr("channel_axis")
        if axis != -1:
            x = np.moveaxis(x, axis, -1)
        out = window_sum(x, self.get_nodeattr("K"))
        return [out if axis == -1 else np.moveaxis(out, -1, axis)]

    def make_shape_compatible_op(self, model):
        if self.get_nodeattr("channel_axis") == -1:
            return super().make_shape_compatible_op(model)
        # Streamlined input shapes are not inferred yet; an AveragePool of the same window has this shape.
        k = self.get_nodeattr("K")
        return helper.make_node("AveragePool", [self.onnx_node.input[0]], list(self.onnx_node.output),
                                kernel_shape=[k, k], strides=[k, k])

    def cycles(self) -> int:
        h, w = self.get_nodeattr("IFMDim")
        return h * w * self.get_nodeattr("Channels") // self.get_nodeattr("PE")

    def output_burst(self) -> int:
        # A row of windows' sums leaves in a burst while their last input row arrives, and none
        # during the rows before: a join whose other input is steady (a residual add beside a
        # window generator) waits out the gaps unless the burst is held.
        (_, w), k = self.get_nodeattr("IFMDim"), self.get_nodeattr("K")
        return (w // k) * self.get_nodeattr("Channels") // self.get_nodeattr("PE")

    def rtl(self, b, inputs):
        node = self.onnx_node
        pe, (h, w) = self.get_nodeattr("PE"), self.get_nodeattr("IFMDim")
        out_dt = DataType[self.get_nodeattr("outputDataType")]
        s = b.reshape(inputs[0], pe, node.name)
        out = b.stream(node.name, pe, out_dt.bitwidth(), out_dt.signed())
        params = {"IFM_H": h, "IFM_W": w, "CH": self.get_nodeattr("Channels"), "K": self.get_nodeattr("K"), "PE": pe,
                  "EW": s.elem_bits, "SIGNED": int(s.signed), "OUT_BITS": out_dt.bitwidth()}
        b.unit(node, "bnn_pool_sum", params, s, out)
        return out
