"""Checkpoints: one torch file holding a registry model's weights and how they were made.

Format (a dict):
    format      "bnnflow-checkpoint"
    version     1
    model       registry name, e.g. "tfc_w1a1_nobn"
    state_dict  the model's state_dict
    meta        plain values: dataset, epochs, test_accuracy, step, seed, timestamp, ...
    optimizer, scheduler, epoch   only in checkpoints a training run can resume from

Files are read with torch.load(weights_only=True) only, so a checkpoint from a
stranger cannot run code: one that would is refused, saying so, and not loaded.
Weights that are NaN or inf are refused when read, naming the first such entry.
Writes are atomic so a crash never leaves half a file.
"""
from __future__ import annotations

import os
import pickle
import re
import secrets
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from .layers import layer_weight_bits
from .registry import UnknownModelError, create_model

FORMAT = "bnnflow-checkpoint"
VERSION = 1
RESUME_KEYS = ("optimizer", "scheduler", "epoch")


class CheckpointError(RuntimeError):
    """A checkpoint is missing, unreadable, not ours, or does not fit the model."""


def save_checkpoint(
    path: str | os.PathLike,
    model_name: str,
    model: nn.Module,
    meta: dict[str, Any],
    resume: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint atomically; `resume` may hold optimizer, scheduler and epoch."""
    payload: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "model": model_name,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        # Weight widths change the network but not the tensors' shapes: recorded so that a
        # checkpoint never loads into a model quantised otherwise.
        "weight_bits": layer_weight_bits(model),
        "meta": dict(meta),
    }
    for key, value in (resume or {}).items():
        if key not in RESUME_KEYS:
            raise ValueError(f"unknown resume entry {key!r}; expected one of {RESUME_KEYS}")
        payload[key] = value
    return _atomic_save(payload, Path(path))


def _atomic_save(payload: dict[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    # The temporary file lives in the target directory so os.replace is a
    # rename within one filesystem, which is atomic.
    tmp = _temp_name(path)
    try:
        with open(tmp, "xb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def _temp_name(path: Path) -> Path:
    # Unlike mkstemp's private 0600 files, open(..., "x") honours the umask,
    # so the checkpoint stays readable by whoever can read its folder.
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


def _fsync_dir(folder: Path) -> None:
    # Makes the rename itself durable; not every platform can open a directory.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Load and validate a checkpoint file without building a model."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        code = _code_global(str(exc))
        if code is not None:
            named = f" ({code})" if code else ""
            raise CheckpointError(
                f"checkpoint {path} was not loaded: it names a Python callable or class{named}, "
                "so loading it would run code; a checkpoint holds only tensors and plain values"
            ) from None
        raise CheckpointError(f"checkpoint {path} is corrupt or not a torch file") from None
    except Exception as exc:  # torch raises many types for truncated or foreign files
        raise CheckpointError(f"checkpoint {path} is not a readable torch file: {_first_line(exc)}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a bnnflow checkpoint (format marker missing)")
    if payload.get("version") != VERSION:
        raise CheckpointError(f"checkpoint {path} has version {payload.get('version')!r}; this code reads {VERSION}")
    if not isinstance(payload.get("model"), str):
        raise CheckpointError(f"checkpoint {path} does not name its model")
    state = payload.get("state_dict")
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"checkpoint {path} has no valid state_dict")
    if not isinstance(payload.get("meta", {}), dict):
        raise CheckpointError(f"checkpoint {path} has a malformed meta entry")
    widths = payload.get("weight_bits", {})
    if not isinstance(widths, dict) or not all(isinstance(b, int) for b in widths.values()):
        raise CheckpointError(f"checkpoint {path} has a malformed weight_bits entry")
    _check_finite(state, path)
    return payload


# torch's weights-only unpickler refuses a global with "Unsupported global: GLOBAL mod.name
# was not an allowed global" (most globals) or "unsupported GLOBAL mod.name whose module mod
# is blocked" (os, subprocess, ...); its wording and case change between releases.
_GLOBAL_REFUSAL = re.compile(r"unsupported\s+global\b:?\s*(?:global\s+)?([A-Za-z_][\w.]*)?", re.IGNORECASE)


def _code_global(message: str) -> str | None:
    """The global a weights-only load refused ("" if unnamed), or None if it refused something else."""
    match = _GLOBAL_REFUSAL.search(message)
    if match is None:
        return None
    return match.group(1) or ""


def _check_finite(state: dict[str, torch.Tensor], path: Path) -> None:
    """Refuse NaN or inf weights here: downstream (export, folding) they fail with misleading messages."""
    for name, tensor in state.items():
        if not tensor.is_floating_point():
            continue
        nan, inf = int(torch.isnan(tensor).sum()), int(torch.isinf(tensor).sum())
        if nan or inf:
            counts = ", ".join(f"{n} {kind}" for n, kind in ((nan, "NaN"), (inf, "inf")) if n)
            raise CheckpointError(
                f"checkpoint {path} has non-finite values in {name} ({counts} of {tensor.numel()}); "
                "the run that wrote it diverged or the file is damaged"
            )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def holds_real_weights(payload: dict[str, Any]) -> bool:
    """Whether a checkpoint was written in step 1 of a two-step run, before any weight was quantised."""
    meta = payload.get("meta", {})
    return bool(meta.get("two_step")) and meta.get("step") == 1


def load_weights(model: nn.Module, payload: dict[str, Any], path: str | os.PathLike) -> None:
    """load_state_dict with a message that lists every key, shape or weight width that does not fit.

    Checkpoints written before widths were recorded carry none, and load unchecked. So does
    step 1 of a two-step run, whose weights are still real: any widths may start step 2 from it.
    """
    widths = layer_weight_bits(model)
    recorded = {} if holds_real_weights(payload) else payload.get("weight_bits", {})
    differ = [f"layer {name} has {bits}-bit weights in the checkpoint, {widths[name]}-bit in the model"
              for name, bits in recorded.items() if name in widths and widths[name] != bits]
    if differ:
        raise CheckpointError(f"checkpoint {path} was trained with other weight widths: {'; '.join(differ)}")
    state_dict = payload["state_dict"]
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    mismatched = [
        f"{k}: checkpoint {tuple(state_dict[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in expected
        if k in state_dict and state_dict[k].shape != expected[k].shape
    ]
    problems = []
    if missing:
        problems.append(f"missing keys {missing}")
    if unexpected:
        problems.append(f"unexpected keys {unexpected}")
    if mismatched:
        problems.append(f"shape mismatches {mismatched}")
    if problems:
        raise CheckpointError(f"checkpoint {path} does not fit the model: {'; '.join(problems)}")
    model.load_state_dict(state_dict, strict=True)


def load_model(path: str | os.PathLike, name: str | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """Build the checkpoint's model from the registry, load its weights, return (model in eval mode, meta).

    If `name` is given the checkpoint must be for that model.
    """
    payload = read_checkpoint(path)
    stored = payload["model"]
    if name is not None and name != stored:
        raise CheckpointError(f"checkpoint {path} is for model {stored!r}, not {name!r}")
    try:
        model = create_model(stored)
    except UnknownModelError as exc:
        raise CheckpointError(f"checkpoint {path}: {exc}") from None
    load_weights(model, payload, path)
    return model.eval(), dict(payload.get("meta", {}))
