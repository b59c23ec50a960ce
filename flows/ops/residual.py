"""Ops of residual networks: the fixed-point residual add and a threshold on a multi-bit stream."""
from __future__ import annotations

import numpy as np
from onnx import helper

from flows.ops import kernels
from flows.ops.base import KernelOp

TERM_FIELDS = ("knot", "mul_hi", "off_hi", "mul_lo", "off_lo")


class ResidualAdd(KernelOp):
    """(term_0 + term_1 + round) >> shift; term_i a per-channel two-piece affine of input i.

    See flows.frontend.fixed_point for how the integer coefficients come from the real
    graph. channel_axis is 1 in the streamlined (NCHW) graph, -1 in hardware.
    """

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
            terms.append(kernels.piecewise_term(x, *(v.reshape(shape) for v in self.coefficients(i))))
        return [kernels.residual_add(terms, self.get_nodeattr("shift"))]

    def make_shape_compatible_op(self, model):
        # In the streamlined graph the operands' shapes are not inferred yet; an Add has the same output shape.
        return helper.make_node("Add", list(self.onnx_node.input), list(self.onnx_node.output))

    def cycles(self) -> int:
        return self.get_nodeattr("numPixels") * len(self.get_nodeattr("knot0")) // self.get_nodeattr("PE")


class StreamThreshold(KernelOp):
    """x >= T_c (x <= T_c where descending) of a multi-bit stream.

    Hardware (channel_axis -1): bits. Streamlined graph (channel_axis 1, bipolar 1):
    +-1, where a multi-bit stream's sign needs a descending comparison that
    qonnx's MultiThreshold cannot express.
    """

    def get_nodeattr_types(self):
        return {**self.base_attrs(), "thresholds": ("ints", True, []), "descending": ("ints", True, []),
                "inputDataType": ("s", False, ""), "channel_axis": ("i", False, -1), "bipolar": ("i", False, 0),
                "PE": ("i", False, 1), "numPixels": ("i", False, 1), "Channels": ("i", False, 0)}

    def compute(self, inputs):
        x = inputs[0]
        if self.get_nodeattr("channel_axis") != -1:
            x = np.moveaxis(x, self.get_nodeattr("channel_axis"), -1)
        bits = kernels.stream_threshold(x, np.array(self.get_nodeattr("thresholds")),
                                        np.array(self.get_nodeattr("descending")))
        if self.get_nodeattr("channel_axis") != -1:
            bits = np.moveaxis(bits, -1, self.get_nodeattr("channel_axis"))
        return [2 * bits - 1 if self.get_nodeattr("bipolar") else bits]

    def make_shape_compatible_op(self, model):
        return helper.make_node("Identity", [self.onnx_node.input[0]], list(self.onnx_node.output))

    def cycles(self) -> int:
        return self.get_nodeattr("numPixels") * len(self.get_nodeattr("thresholds")) // self.get_nodeattr("PE")
