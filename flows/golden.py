"""The golden model: a vectorised numpy executor of the hardware-layer graph.

It runs whole batches through each op's own kernel (the code execute_onnx runs
node by node), and is the bit-exact reference for the RTL and the board.
"""
from __future__ import annotations

import numpy as np
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp

from .custom_ops import DOMAIN
from .errors import UnsupportedNodeError


def run_golden(model: ModelWrapper, x: np.ndarray, keep_all: bool = False) -> dict[str, np.ndarray]:
    """Execute the hardware graph on a batch; x holds integers in the graph input's layout.

    Returns the graph outputs (int64), or every tensor when keep_all is set.
    """
    ctx: dict[str, np.ndarray] = {model.graph.input[0].name: np.asarray(x).astype(np.int64)}
    consts = {i.name: model.get_initializer(i.name).astype(np.int64) for i in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Flatten":
            v = ctx[node.input[0]]
            ctx[node.output[0]] = v.reshape(v.shape[0], -1)
            continue
        if node.domain != DOMAIN:
            raise UnsupportedNodeError(node.name, node.op_type, "the golden model has no kernel for this op")
        outs = getCustomOp(node).compute([ctx[i] if i in ctx else consts[i] for i in node.input])
        ctx.update(zip(node.output, outs))
    if keep_all:
        return ctx
    return {o.name: ctx[o.name] for o in model.graph.output}
