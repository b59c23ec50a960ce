"""Import pass: a QONNX file (or ModelWrapper) exactly as Brevitas exports it -> the tidied graph the
streamliner reads.

qonnx's cleanup renames every node (`Mul_0`); the export's own names
(`/features.0/Mul`) are what a user sees in netron, so they are kept in each
node's doc_string and `original_name` reads them back for messages and the
check table.
"""
from __future__ import annotations

from pathlib import Path

from qonnx.core.modelwrapper import ModelWrapper

from flows.errors import ModelFileError

ORIGINAL = "bnnflow original name: "


def import_qonnx(src: str | Path | ModelWrapper) -> ModelWrapper:
    """Load (if a path) and tidy a QONNX graph; every node remembers its exported name."""
    from flows.frontend.export import tidy

    if isinstance(src, ModelWrapper):
        model = ModelWrapper(src.model.__deepcopy__())
    else:
        path = Path(src)
        if not path.is_file():
            raise ModelFileError(f"{path}: no such file")
        try:
            model = ModelWrapper(str(path))
        except Exception as e:  # noqa: BLE001  (protobuf's errors name no file)
            raise ModelFileError(f"{path}: not an ONNX model ({type(e).__name__}: {e})") from None
    for node in model.graph.node:
        if not node.doc_string.startswith(ORIGINAL):
            node.doc_string = ORIGINAL + (node.name or node.op_type)
    return tidy(model)


def original_name(node) -> str:
    """The node's name in the exported file (its tidied name if it has none recorded)."""
    doc = node.doc_string or ""
    return doc[len(ORIGINAL):] if doc.startswith(ORIGINAL) else node.name
