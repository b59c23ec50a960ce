"""Matrix-vector-threshold unit: y = threshold(x . W) or the raw accumulator."""
from __future__ import annotations

import numpy as np
from onnx import helper
from qonnx.core.datatype import DataType
from qonnx.custom_op.base import CustomOp

from .. import kernels


class MVTU(CustomOp):
    """Inputs: x (..., MW), weights (MW, MH) as bits, thresholds (MH, 1) unless noActivation.

    binaryXnorMode=1: x holds bits and the accumulator is popcount(xnor(x, w)).
    binaryXnorMode=0: x holds unsigned integers, acc = sum(+x if w else -x).
    PE divides MH and SIMD divides MW; the unit takes (MH/PE)*(MW/SIMD) cycles a vector.
    """

    def get_nodeattr_types(self):
        return {
            "MW": ("i", True, 0),
            "MH": ("i", True, 0),
            "PE": ("i", False, 1),
            "SIMD": ("i", False, 1),
            "binaryXnorMode": ("i", False, 1, {0, 1}),
            "noActivation": ("i", False, 0, {0, 1}),
            "inputDataType": ("s", True, ""),
            "accDataType": ("s", True, ""),
            "outputDataType": ("s", True, ""),
        }

    def make_shape_compatible_op(self, model):
        node = self.onnx_node
        return helper.make_node("MatMul", [node.input[0], node.input[1]], [node.output[0]])

    def infer_node_datatype(self, model):
        model.set_tensor_datatype(self.onnx_node.output[0], DataType[self.get_nodeattr("outputDataType")])

    def execute_node(self, context, graph):
        node = self.onnx_node
        thresholds = None if self.get_nodeattr("noActivation") else context[node.input[2]]
        out = kernels.mvtu(
            context[node.input[0]], context[node.input[1]], thresholds, bool(self.get_nodeattr("binaryXnorMode"))
        )
        context[node.output[0]] = out.astype(np.float32)

    def verify_node(self):
        info = []
        mw, mh = self.get_nodeattr("MW"), self.get_nodeattr("MH")
        if mh % self.get_nodeattr("PE"):
            info.append(f"PE={self.get_nodeattr('PE')} does not divide MH={mh}")
        if mw % self.get_nodeattr("SIMD"):
            info.append(f"SIMD={self.get_nodeattr('SIMD')} does not divide MW={mw}")
        return info

    def cycles(self) -> int:
        """Cycles per input vector in steady state."""
        mw, mh = self.get_nodeattr("MW"), self.get_nodeattr("MH")
        return (mh // self.get_nodeattr("PE")) * (mw // self.get_nodeattr("SIMD"))
