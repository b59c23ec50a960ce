"""A build folder that is never wrong: a lock, stage records written last, and a scratch area.

The folder always holds a prefix of one run: the outputs of steps 1..k of the same
configuration, each with a record in stages.json naming the digest it was built from
and the hash of every file it wrote. A record is written only after its step's
outputs are complete, and a step that must run again first drops its own record and
those of every later step, then their outputs, so a run killed at any point leaves
outputs that either carry a matching record or are rebuilt. build_config.json is
written last: it is present only when every step of that configuration is done.

One process at a time writes a folder (an flock on `.lock`, released by the kernel
even when the holder is killed). Temporary files of a build live in the folder's
`.tmp/`, so the next holder of the lock can remove whatever a killed run left.
"""
from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

from flows.errors import FlowError
from flows.fileio import write_json

RECORDS = "stages.json"
CONFIG = "build_config.json"
LOCK = ".lock"
SCRATCH = ".tmp"
# What a killed run can leave beside its outputs: atomic writes' temporaries, the deploy
# step's staging folder, FIFO sizing's scratch designs, half-built Verilator harnesses.
LEFTOVER_GLOBS = (".*.tmp", "**/.*.tmp", ".deploy-*", "rtl_fifo_*", "sim/obj/.*-*")


class BuildFolderLockedError(FlowError):
    """Another process is writing the build folder."""


def file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def output_hashes(root: Path, outputs: Sequence[str]) -> dict[str, str] | None:
    """{relative path: sha256} of every file the outputs name (a folder: every file in it);
    None when one is missing."""
    hashes: dict[str, str] = {}
    for rel in outputs:
        path = root / rel
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file())
        elif path.is_file():
            files = [path]
        else:
            return None
        for f in files:
            hashes[f.relative_to(root).as_posix()] = file_hash(f)
    return hashes


class BuildFolder:
    """The records of a locked build folder (see the module docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.records_file = self.root / RECORDS
        self.records: dict[str, dict] = {}
        if self.records_file.is_file():
            try:
                loaded = json.loads(self.records_file.read_text())
            except (OSError, json.JSONDecodeError):
                loaded = {}
            # Records of an older layout (a bare digest) prove nothing about the files.
            self.records = {k: v for k, v in loaded.items() if isinstance(v, dict)}

    def fresh(self, step: str, digest: str) -> bool:
        """Whether `step`'s record matches `digest` and every file it wrote is unchanged."""
        rec = self.records.get(step)
        if rec is None or rec.get("digest") != digest:
            return False
        for rel, want in rec.get("files", {}).items():
            path = self.root / rel
            if not path.is_file() or file_hash(path) != want:
                return False
        return True

    def chain(self, step: str) -> str:
        """What the next step's digest builds on: this step's digest and the content it wrote."""
        rec = self.records[step]
        return hashlib.sha256(json.dumps([rec["digest"], rec["files"]], sort_keys=True).encode()).hexdigest()

    def discard(self, steps: Sequence[str], outputs: Sequence[str]) -> None:
        """Forget `steps` and delete `outputs` (and the completion record): records first, so
        a kill in between leaves files without records, which the next run rebuilds."""
        dropped = [s for s in steps if self.records.pop(s, None) is not None]
        if dropped:
            write_json(self.records_file, self.records)
        (self.root / CONFIG).unlink(missing_ok=True)
        for rel in outputs:
            path = self.root / rel
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)

    def record(self, step: str, digest: str, outputs: Sequence[str]) -> None:
        files = output_hashes(self.root, outputs)
        if files is None:
            missing = [o for o in outputs if not (self.root / o).exists()]
            raise FlowError(f"step {step} finished without writing {', '.join(missing)} in {self.root}")
        self.records[step] = {"digest": digest, "files": files}
        write_json(self.records_file, self.records)

    def complete(self, settings: dict) -> None:
        write_json(self.root / CONFIG, settings)


def _remove_leftovers(root: Path) -> None:
    shutil.rmtree(root / SCRATCH, ignore_errors=True)
    for pattern in LEFTOVER_GLOBS:
        for p in root.glob(pattern):
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)


@contextmanager
def locked(root: Path) -> Iterator[BuildFolder]:
    """Hold the folder's lock for the block, with the build's temporary files in `.tmp/`.

    A second build of the same folder stops at once, naming the process that holds it.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            raise BuildFolderLockedError(
                f"build folder {root} is being written by {holder}; wait for it to finish, "
                "or build into another folder (--output-dir)") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"process {os.getpid()} (since {time.strftime('%Y-%m-%d %H:%M:%S')})\n".encode(), 0)
        _remove_leftovers(root)
        scratch = root / SCRATCH
        scratch.mkdir()
        with _temporary_files_in(scratch):
            try:
                yield BuildFolder(root)
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
        os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # releases the lock


@contextmanager
def _temporary_files_in(folder: Path) -> Iterator[None]:
    """Point tempfile (this process) and TMPDIR (its tools and workers) at `folder`."""
    saved_dir, saved_env = tempfile.tempdir, os.environ.get("TMPDIR")
    tempfile.tempdir = str(folder)
    os.environ["TMPDIR"] = str(folder)
    try:
        yield
    finally:
        tempfile.tempdir = saved_dir
        if saved_env is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = saved_env
