"""The golden model: a vectorised numpy executor of the hardware-layer graph.

It runs whole batches through each op's own kernel (the code execute_onnx runs
node by node), except that a window generator and the MVTU it feeds run as one
convolution, and is the bit-exact reference for the RTL and the board.
"""
from __future__ import annotations

import numpy as np
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp

from . import kernels
from .custom_ops import DOMAIN
from .errors import UnsupportedNodeError


def run_golden(model: ModelWrapper, x: np.ndarray, keep_all: bool = False, extra: tuple[str, ...] = (),
               chunk: int = 256) -> dict[str, np.ndarray]:
    """Execute the hardware graph on a batch; x holds integers in the graph input's layout.

    Returns the graph outputs and the `extra` tensors (int64), or every tensor when
    keep_all is set. Batches run `chunk` images at a time so that memory stays bounded
    (a convolutional layer's activations for 10,000 images would not fit).
    """
    x = np.asarray(x)
    if keep_all or len(x) <= chunk:
        ctx = _run(model, x)
        return ctx if keep_all else {k: ctx[k] for k in _wanted(model, extra)}
    wanted = _wanted(model, extra)
    parts = []
    for i in range(0, len(x), chunk):
        ctx = _run(model, x[i : i + chunk])
        parts.append({k: ctx[k] for k in wanted})
    return {k: np.concatenate([p[k] for p in parts]) for k in wanted}


def _wanted(model: ModelWrapper, extra: tuple[str, ...]) -> list[str]:
    return [o.name for o in model.graph.output] + list(extra)


def _run(model: ModelWrapper, x: np.ndarray) -> dict[str, np.ndarray]:
    ctx: dict[str, np.ndarray] = {model.graph.input[0].name: x.astype(np.int64)}
    consts = {i.name: model.get_initializer(i.name).astype(np.int64) for i in model.graph.initializer}
    fused: set[str] = set()
    for node in model.graph.node:
        if node.name in fused:
            continue
        window = _fused_window(model, node)
        if window is not None:
            ctx[window.output[0]] = _conv_mvtu(model, node, window, ctx[node.input[0]], consts)
            fused.add(window.name)
            continue
        if node.op_type == "Flatten":
            v = ctx[node.input[0]]
            ctx[node.output[0]] = v.reshape(v.shape[0], -1)
            continue
        if node.domain != DOMAIN:
            raise UnsupportedNodeError(node.name, node.op_type, "the golden model has no kernel for this op")
        outs = getCustomOp(node).compute([ctx[i] if i in ctx else consts[i] for i in node.input])
        ctx.update(zip(node.output, outs))
    return ctx


def _fused_window(model: ModelWrapper, node):
    """The MVTU a SlidingWindow feeds alone: the pair runs as one convolution."""
    if node.op_type != "SlidingWindow":
        return None
    consumers = model.find_consumers(node.output[0])
    return consumers[0] if len(consumers) == 1 and consumers[0].op_type == "MVTU" else None


def _conv_mvtu(model: ModelWrapper, window, mvtu, x: np.ndarray, consts: dict) -> np.ndarray:
    swg, unit = getCustomOp(window), getCustomOp(mvtu)
    xnor = bool(unit.get_nodeattr("binaryXnorMode"))
    acc = kernels.conv_accumulate(x, swg.get_nodeattr("K"), swg.get_nodeattr("Stride"), tuple(swg.get_nodeattr("Pads")),
                                  swg.get_nodeattr("PadValue"), consts[mvtu.input[1]], xnor)
    return acc if unit.get_nodeattr("noActivation") else kernels.threshold(acc, consts[mvtu.input[2]])
