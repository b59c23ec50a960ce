"""Atomic writes: an interrupted build leaves the old file or the new one, never half of one."""
from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import onnx

from flows.errors import ModelFileError


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; it replaces `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_json(path: str | Path, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def declare_domains(proto: onnx.ModelProto) -> None:
    """Add an opset import (version 1) for every node domain the model uses but does not declare.

    A rewrite that inserts a custom op (streamlining's ResidualAdd) leaves the
    graph without its domain, which the ONNX checker, and so load_onnx, refuses.
    """
    declared = {o.domain for o in proto.opset_import}
    for domain in sorted({n.domain for n in proto.graph.node} - declared - {"ai.onnx"}):
        proto.opset_import.append(onnx.helper.make_opsetid(domain, 1))


def save_onnx(model: Any, path: str | Path) -> None:
    """Save a ModelWrapper or ModelProto atomically, every node domain it uses declared."""
    proto = getattr(model, "model", model)
    declare_domains(proto)
    with atomic_path(path) as tmp:
        onnx.save(proto, str(tmp))


def load_onnx(path: str | Path):
    """Load an ONNX file into a qonnx ModelWrapper, with a clear error for bad files."""
    from qonnx.core.modelwrapper import ModelWrapper

    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: no such file")
    try:
        proto = onnx.load(str(path))
        onnx.checker.check_model(proto)
    except Exception as e:  # onnx raises DecodeError, ValidationError, ... depending on the damage
        raise ModelFileError(f"{path} is not a valid ONNX model: {e}") from None
    return ModelWrapper(proto)
