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


def save_onnx(model: Any, path: str | Path) -> None:
    """Save a ModelWrapper or ModelProto atomically."""
    proto = getattr(model, "model", model)
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
