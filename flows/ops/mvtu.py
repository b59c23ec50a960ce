"""Matrix-vector-threshold unit: y = threshold(x . W) or the raw accumulator."""
from __future__ import annotations

from qonnx.core.datatype import DataType

from flows.ops import kernels
from flows.ops.base import KernelOp


class MVTU(KernelOp):
    """Inputs: x (..., MW), weights (MW, MH), thresholds (MH, 1) unless noActivation.

    weightDataType BINARY: the weights are bits (1 = +1, 0 = -1); INTk (integer
    inputs only): signed integers, as FINN's MVAU keeps them.
    binaryXnorMode=1: x holds bits and the accumulator is popcount(xnor(x, w)).
    binaryXnorMode=0: x holds unsigned integers, acc = sum(x * w).
    PE divides MH and SIMD divides MW; the unit takes (MH/PE)*(MW/SIMD) cycles a vector,
    numVectors vectors an image.
    """

    def get_nodeattr_types(self):
        return {
            **self.base_attrs(),
            "MW": ("i", True, 0),
            "MH": ("i", True, 0),
            "PE": ("i", False, 1),
            "SIMD": ("i", False, 1),
            "binaryXnorMode": ("i", False, 1, {0, 1}),
            "noActivation": ("i", False, 0, {0, 1}),
            "inputDataType": ("s", True, ""),
            "weightDataType": ("s", False, "BINARY"),
            "accDataType": ("s", True, ""),
            # vectors per image: output pixels of a convolution, 1 for a dense layer
            "numVectors": ("i", False, 1),
        }

    def compute(self, inputs):
        thresholds = None if self.get_nodeattr("noActivation") else inputs[2]
        return [kernels.mvtu(inputs[0], inputs[1], thresholds, bool(self.get_nodeattr("binaryXnorMode")),
                             self.binary_weights)]

    @property
    def binary_weights(self) -> bool:
        return self.get_nodeattr("weightDataType") == "BINARY"

    @property
    def weight_bits(self) -> int:
        """Bits per weight in the unit's ROM."""
        return DataType[self.get_nodeattr("weightDataType")].bitwidth()

    def verify_node(self):
        info = []
        mw, mh = self.get_nodeattr("MW"), self.get_nodeattr("MH")
        if mh % self.get_nodeattr("PE"):
            info.append(f"PE={self.get_nodeattr('PE')} does not divide MH={mh}")
        if mw % self.get_nodeattr("SIMD"):
            info.append(f"SIMD={self.get_nodeattr('SIMD')} does not divide MW={mw}")
        if not self.binary_weights and self.get_nodeattr("binaryXnorMode"):
            info.append(f"weightDataType={self.get_nodeattr('weightDataType')} needs integer inputs, not XNOR")
        return info

    def cycles(self) -> int:
        mw, mh = self.get_nodeattr("MW"), self.get_nodeattr("MH")
        per_vector = (mh // self.get_nodeattr("PE")) * (mw // self.get_nodeattr("SIMD"))
        return per_vector * self.get_nodeattr("numVectors")
