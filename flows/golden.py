"""The golden model: a vectorised numpy executor of the hardware-layer graph.

It runs whole batches through flows.kernels (the same semantics the custom ops
give execute_onnx), and is the bit-exact reference for the RTL and the board.
"""
from __future__ import annotations

import numpy as np
from onnx import helper
from qonnx.core.modelwrapper import ModelWrapper

from . import kernels
from .errors import UnsupportedNodeError


def _attrs(node) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def run_golden(model: ModelWrapper, x: np.ndarray, keep_all: bool = False) -> dict[str, np.ndarray]:
    """Execute the hardware graph on a batch; x holds integers in the graph input's shape.

    Returns the graph outputs (int64), or every tensor when keep_all is set.
    """
    ctx: dict[str, np.ndarray] = {model.graph.input[0].name: np.asarray(x).astype(np.int64)}
    for node in model.graph.node:
        a = _attrs(node)
        if node.op_type == "MVTU":
            weights = model.get_initializer(node.input[1])
            thresholds = None if a.get("noActivation", 0) else model.get_initializer(node.input[2])
            out = kernels.mvtu(ctx[node.input[0]], weights, thresholds, bool(a.get("binaryXnorMode", 1)))
        elif node.op_type == "LabelSelect":
            out = kernels.label_select(ctx[node.input[0]], a.get("K", 1))
        elif node.op_type == "Flatten":
            v = ctx[node.input[0]]
            out = v.reshape(v.shape[0], -1)
        else:
            raise UnsupportedNodeError(node.name, node.op_type, "the golden model has no kernel for this op")
        ctx[node.output[0]] = out
    if keep_all:
        return ctx
    return {o.name: ctx[o.name] for o in model.graph.output}
