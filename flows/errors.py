"""Errors the flow raises: each names the node, layer, file or value at fault."""
from __future__ import annotations


class FlowError(RuntimeError):
    """Base of every error the flow reports to the user (printed without a traceback)."""


class UnsupportedNodeError(FlowError):
    def __init__(self, node_name: str, op_type: str, reason: str) -> None:
        super().__init__(f"node {node_name!r} (op {op_type}): {reason}")
        self.node_name = node_name
        self.op_type = op_type


class ModelFileError(FlowError):
    """A model file is missing, truncated or not ONNX."""


class BuildConfigError(FlowError):
    """A build request names something that does not exist (model, board, checkpoint)."""
