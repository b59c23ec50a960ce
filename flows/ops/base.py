"""Shared plumbing of the hardware-layer custom ops: each op is its kernel plus attributes."""
from __future__ import annotations

import numpy as np
from qonnx.core.datatype import DataType
from qonnx.custom_op.base import CustomOp


class KernelOp(CustomOp):
    """A custom op whose execution is a numpy kernel from flows.ops.kernels.

    Subclasses implement `compute(inputs) -> outputs` on integer arrays and list
    their attributes; shapes follow from running the kernel on zeros, so shape
    and semantics cannot disagree.
    """

    def base_attrs(self) -> dict:
        return {"outputDataType": ("s", True, "")}

    def compute(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        raise NotImplementedError

    def _inputs(self, fetch) -> list[np.ndarray]:
        return [fetch(name) for name in self.onnx_node.input]

    def make_shape_compatible_op(self, model):
        def zeros(name):
            init = model.get_initializer(name)
            return init if init is not None else np.zeros(model.get_tensor_shape(name), dtype=np.int64)

        outs = self.compute(self._inputs(zeros))
        if len(outs) != 1:
            raise ValueError(f"{self.onnx_node.name}: shape inference covers single-output ops only")
        return self.make_const_shape_op(list(outs[0].shape))

    def infer_node_datatype(self, model):
        for out in self.onnx_node.output:
            model.set_tensor_datatype(out, DataType[self.get_nodeattr("outputDataType")])

    def execute_node(self, context, graph):
        outs = self.compute(self._inputs(lambda n: np.asarray(context[n]).astype(np.int64)))
        for name, value in zip(self.onnx_node.output, outs):
            # Wide residual streams exceed float32's exact integers; float64 holds them.
            exact32 = value.size == 0 or np.abs(value).max() < 2**24
            context[name] = value.astype(np.float32 if exact32 else np.float64)

    def verify_node(self):
        return []

    def cycles(self) -> int:
        """Cycles per image in steady state (0 for ops that add no throughput limit)."""
        return 0
