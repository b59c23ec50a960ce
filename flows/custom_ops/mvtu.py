"""Matrix-vector-threshold unit: y = threshold(x . W) or the raw accumulator."""
from __future__ import annotations

from .. import kernels
from .base import KernelOp


class MVTU(KernelOp):
    """Inputs: x (..., MW), weights (MW, MH) as bits, thresholds (MH, 1) unless noActivation.

    binaryXnorMode=1: x holds bits and the accumulator is popcount(xnor(x, w)).
    binaryXnorMode=0: x holds unsigned integers, acc = sum(+x if w else -x).
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
            "accDataType": ("s", True, ""),
            # vectors per image: output pixels of a convolution, 1 for a dense layer
            "numVectors": ("i", False, 1),
        }

    def compute(self, inputs):
        thresholds = None if self.get_nodeattr("noActivation") else inputs[2]
        return [kernels.mvtu(inputs[0], inputs[1], thresholds, bool(self.get_nodeattr("binaryXnorMode")))]

    def verify_node(self):
        info = []
        mw, mh = self.get_nodeattr("MW"), self.get_nodeattr("MH")
        if mh % self.get_nodeattr("PE"):
            info.append(f"PE={self.get_nodeattr('PE')} does not divide MH={mh}")
        if mw % self.get_nodeattr("SIMD"):
            info.append(f"SIMD={self.get_nodeattr('SIMD')} does not divide MW={mw}")
        return info

    def cycles(self) -> int:
        mw, mh = self.get_nodeattr("MW"), self.get_nodeattr("MH")
        per_vector = (mh // self.get_nodeattr("PE")) * (mw // self.get_nodeattr("SIMD"))
        return per_vector * self.get_nodeattr("numVectors")
