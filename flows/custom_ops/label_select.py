"""Top-k label select: indices of the k largest scores, ties to the lowest index."""
from __future__ import annotations

import numpy as np
from onnx import helper
from qonnx.core.datatype import DataType
from qonnx.custom_op.base import CustomOp

from .. import kernels


class LabelSelect(CustomOp):
    def get_nodeattr_types(self):
        return {
            "K": ("i", False, 1),
            "Labels": ("i", True, 0),
            "PE": ("i", False, 1),
            "inputDataType": ("s", True, ""),
            "outputDataType": ("s", True, ""),
        }

    def make_shape_compatible_op(self, model):
        k = self.get_nodeattr("K")
        # Hidden ops have no inferred shapes yet; the batch size is the graph input's.
        batch = model.get_tensor_shape(model.graph.input[0].name)[0]
        return self.make_const_shape_op([batch, k])

    def infer_node_datatype(self, model):
        model.set_tensor_datatype(self.onnx_node.output[0], DataType[self.get_nodeattr("outputDataType")])

    def execute_node(self, context, graph):
        node = self.onnx_node
        out = kernels.label_select(context[node.input[0]], self.get_nodeattr("K"))
        context[node.output[0]] = out.astype(np.float32)

    def verify_node(self):
        labels, pe = self.get_nodeattr("Labels"), self.get_nodeattr("PE")
        return [f"PE={pe} does not divide Labels={labels}"] if labels % pe else []

    def cycles(self) -> int:
        return self.get_nodeattr("Labels") // self.get_nodeattr("PE")
