"""Top-k label select: indices of the k largest scores, ties to the lowest index."""
from __future__ import annotations

from flows.ops import kernels
from flows.ops.base import KernelOp


class LabelSelect(KernelOp):
    def get_nodeattr_types(self):
        return {
            **self.base_attrs(),
            "K": ("i", False, 1),
            "Labels": ("i", True, 0),
            "PE": ("i", False, 1),
            "inputDataType": ("s", True, ""),
        }

    def compute(self, inputs):
        return [kernels.label_select(inputs[0], self.get_nodeattr("K"))]

    def verify_node(self):
        labels, pe = self.get_nodeattr("Labels"), self.get_nodeattr("PE")
        return [f"PE={pe} does not divide Labels={labels}"] if labels % pe else []

    def cycles(self) -> int:
        return self.get_nodeattr("Labels") // self.get_nodeattr("PE")
