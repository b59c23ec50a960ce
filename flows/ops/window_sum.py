"""The integer form of non-overlapping average pooling: per-channel sums over K x K windows."""
from __future__ import annotations

import numpy as np
from onnx import helper

from flows.ops import kernels
from flows.ops.base import KernelOp


class WindowSum(KernelOp):
    """Sums over non-overlapping K x K windows (stride K, no padding, floor mode); a popcount on bits.

    channel_axis is 1 in the streamlined (NCHW) graph, where the op stands for an
    AveragePool whose division by K*K moved into the tensor's scale, and -1 in
    hardware (NHWC).
    """

    def get_nodeattr_types(self):
        return {**self.base_attrs(), "K": ("i", True, 2), "channel_axis": ("i", False, -1), "PE": ("i", False, 1),
                "IFMDim": ("ints", False, []), "Channels": ("i", False, 0)}

    def compute(self, inputs):
        x = inputs[0]
        axis = self.get_nodeattr("channel_axis")
        if axis != -1:
            x = np.moveaxis(x, axis, -1)
        out = kernels.window_sum(x, self.get_nodeattr("K"))
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
