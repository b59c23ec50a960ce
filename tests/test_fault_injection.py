"""Fault injection: a build killed or interrupted anywhere, or run twice at once, never leaves a wrong folder.

Each case starts from a complete build A of tfc_w1a1_nobn, switches the folder to another
folding (B, TARGET_FPS=500000), stops that run at a chosen point, and builds A again: every
artefact must then equal an uninterrupted build of A (the reproduction of issue 26, at every
step). Runs are real `bnnflow build` processes; the stop points come from BNNFLOW_FAULT
(flows/build/steps.py: a step's start, or its outputs written but not yet recorded) or from a
signal sent while a step is running.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flows.build.steps import STEPS

REPO = Path(__file__).resolve().parent.parent
MODEL = "tfc_w1a1_nobn"
A_ARGS = ["--estimate", "analytic", "--n-sim", "20"]
B_ARGS = A_ARGS + ["--target-fps", "500000"]
# Files whose content carries a wall-clock time or a compiler's build id, and the JSON keys that do.
VOLATILE_FILES = {"deploy/virtual/sim/Vtop", "stages.json", ".lock"}
VOLATILE_KEYS = {"seconds", "output_dir"}


def _env(cache: Path, fault: str | None = None) -> dict[str, str]:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache), "PYTHONUNBUFFERED": "1"}
    env.pop("BNNFLOW_FAULT", None)
    if fault:
        env["BNNFLOW_FAULT"] = fault
    return env


def _sigint_default() -> None:
    """A build started from a terminal has SIGINT at its default. pytest-xdist's workers ignore it,
    and a child inherits an ignored signal, so each build here restores it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _build_cmd(out: Path, args: list[str]) -> list[str]:
    return [sys.executable, "-m", "flows.cli", "build", "--model", MODEL, "--output-dir", str(out), *args]


def _build(out: Path, args: list[str], cache: Path, fault: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(_build_cmd(out, args), cwd=REPO, env=_env(cache, fault), capture_output=True, text=True,
                          preexec_fn=_sigint_default,
                          timeout=600)


def _strip(obj):
    if isinstance(obj, dict):
        return {k: _strip(v) for k, v in obj.items() if k not in VOLATILE_KEYS}
    if isinstance(obj, list):
        return [_strip(v) for v in obj]
    return obj


def fingerprint(folder: Path) -> dict[str, object]:
    """Every artefact of a build folder, by relative path (timings and compiled binaries left out)."""
    out: dict[str, object] = {}
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder).as_posix()
        if not p.is_file() or rel in VOLATILE_FILES or rel.startswith("sim/obj/"):
            continue
        out[rel] = _strip(json.loads(p.read_text())) if p.suffix == ".json" else p.read_bytes()
    return out


def _assert_same(folder: Path, reference: dict[str, object]) -> None:
    got = fingerprint(folder)
    assert sorted(got) == sorted(reference), f"files differ: {sorted(set(got) ^ set(reference))}"
    differ = [k for k in reference if got[k] != reference[k]]
    assert not differ, f"artefacts differ from an uninterrupted build: {differ}"


def _assert_no_leftovers(folder: Path, tmp: Path) -> None:
    left = [p.relative_to(folder).as_posix() for pattern in (".tmp", ".*.tmp", "**/.*.tmp", ".deploy-*",
                                                              "rtl_fifo_*", "sim/obj/.*-*")
            for p in folder.glob(pattern)]
    assert not left, f"temporary files left behind: {left}"
    # (Files are allowed: a library writes a session id there when it is imported.)
    folders = [p.name for p in tmp.iterdir() if p.is_dir()]
    assert not folders, f"temporary folders left in TMPDIR: {folders}"


@pytest.fixture(scope="module")
def refs(tmp_path_factory):
    """Uninterrupted builds A and B, and the Verilator/Yosys cache they warmed."""
    root = tmp_path_factory.mktemp("faults")
    cache = root / "cache"
    a, b = root / "A", root / "B"
    for out, args in ((a, A_ARGS), (b, B_ARGS)):
        r = _build(out, args, cache)
        assert r.returncode == 0, r.stderr
    assert fingerprint(a)["folding_config.json"] != fingerprint(b)["folding_config.json"]
    return {"root": root, "cache": cache, "A": a, "B": b, "A_print": fingerprint(a), "B_print": fingerprint(b)}


def _folder_at_a(refs, tmp_path: Path, with_b_harnesses: bool = True) -> Path:
    """A copy of build A; with B's compiled Verilator harnesses beside A's (sim/obj is a cache by
    content), so that B's steps run in seconds."""
    folder = tmp_path / "build"
    shutil.copytree(refs["A"], folder)
    if with_b_harnesses:
        shutil.copytree(refs["B"] / "sim" / "obj", folder / "sim" / "obj", dirs_exist_ok=True)
    return folder


# B shares export, streamline and lower with A: those are up to date in the switch and never reach
# a fault point, so they are killed in a first build instead.
FRONT = ("export", "streamline", "lower")


@pytest.mark.parametrize("step", [s.name for s in STEPS if s.name not in FRONT])
def test_kill_after_outputs_before_record_then_rebuild(refs, tmp_path, step):
    """SIGKILL in the window between a step's last write and its record: the worst boundary."""
    folder = _folder_at_a(refs, tmp_path)
    killed = _build(folder, B_ARGS, refs["cache"], f"{step}:written:KILL")
    assert killed.returncode == -signal.SIGKILL
    assert not (folder / "build_config.json").exists(), "an unfinished folder claims to be complete"
    rerun = _build(folder, A_ARGS, refs["cache"])
    assert rerun.returncode == 0, rerun.stderr
    _assert_same(folder, refs["A_print"])


@pytest.mark.parametrize("step", FRONT)
def test_first_build_killed_in_the_front_end_then_rebuilt(refs, tmp_path, step):
    folder = tmp_path / "build"
    shutil.copytree(refs["A"] / "sim" / "obj", folder / "sim" / "obj")  # A's harnesses: a cache by content
    assert _build(folder, A_ARGS, refs["cache"], f"{step}:written:KILL").returncode == -signal.SIGKILL
    assert _build(folder, A_ARGS, refs["cache"]).returncode == 0
    _assert_same(folder, refs["A_print"])


@pytest.mark.parametrize("step", ["rtl", "deploy"])
def test_interrupt_at_step_start_is_one_line_and_resumes(refs, tmp_path, step):
    folder = _folder_at_a(refs, tmp_path)
    scratch = tmp_path / "tmpdir"
    scratch.mkdir()
    env = {**_env(refs["cache"], f"{step}:start:INT"), "TMPDIR": str(scratch)}
    r = subprocess.run(_build_cmd(folder, B_ARGS), cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
                       preexec_fn=_sigint_default)
    assert r.returncode == 130
    assert r.stderr.strip().startswith("interrupted:") and len(r.stderr.strip().splitlines()) == 1, r.stderr
    _assert_no_leftovers(folder, scratch)
    # Continuing the interrupted run finishes B exactly.
    assert _build(folder, B_ARGS, refs["cache"]).returncode == 0
    _assert_same(folder, refs["B_print"])


def _stop_during(folder: Path, refs, step: str, sig: int, delay: float, scratch: Path) -> int:
    """Start build B, send `sig` `delay` seconds after it announces `step`; its exit code."""
    marker = f"] {step}"
    env = {**_env(refs["cache"]), "TMPDIR": str(scratch)}
    with subprocess.Popen(_build_cmd(folder, B_ARGS), cwd=REPO, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, preexec_fn=_sigint_default) as proc:
        for line in proc.stdout:
            if marker in line and line.startswith("["):
                time.sleep(delay)
                proc.send_signal(sig)
                break
        proc.stdout.read()
        return proc.wait(timeout=600)


@pytest.mark.parametrize("step,delay,sig", [("rtl", 0.05, signal.SIGKILL), ("rtlsim", 1.0, signal.SIGINT),
                                            ("rtlsim", 1.0, signal.SIGKILL), ("deploy", 0.1, signal.SIGKILL),
                                            ("deploy", 0.1, signal.SIGINT)],
                         ids=["rtl-KILL", "rtlsim-INT", "rtlsim-KILL", "deploy-KILL", "deploy-INT"])
def test_stop_in_the_middle_of_a_step(refs, tmp_path, step, delay, sig):
    """B's rtlsim step compiles its harness from scratch here (about 3 s): the stops land between
    the writes of rtl/, in Verilator and the C++ compiler, and in the deploy package's."""
    folder = _folder_at_a(refs, tmp_path, with_b_harnesses=step == "deploy")
    scratch = tmp_path / "tmpdir"
    scratch.mkdir()
    code = _stop_during(folder, refs, step, sig, delay, scratch)
    # A stop that lands after the last step finds a finished build (exit 0); still a valid case.
    assert code in ((-signal.SIGKILL, 0) if sig == signal.SIGKILL else (130, 0))
    rerun = _build(folder, A_ARGS, refs["cache"])
    assert rerun.returncode == 0, rerun.stderr
    _assert_same(folder, refs["A_print"])
    _assert_no_leftovers(folder, scratch)


def test_second_build_of_a_folder_stops_naming_the_holder(refs, tmp_path):
    folder = _folder_at_a(refs, tmp_path)
    with subprocess.Popen(_build_cmd(folder, B_ARGS), cwd=REPO, env=_env(refs["cache"]), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, preexec_fn=_sigint_default) as first:
        for line in first.stdout:
            if line.startswith("[") and "] fold" in line:
                break
        first.send_signal(signal.SIGSTOP)  # holds the folder for as long as the second build needs
        try:
            second = _build(folder, A_ARGS, refs["cache"])
        finally:
            first.send_signal(signal.SIGCONT)
        first.stdout.read()
        assert first.wait(timeout=600) == 0
    assert second.returncode == 2
    assert f"process {first.pid}" in second.stderr and "is being written by" in second.stderr, second.stderr
    assert len(second.stderr.strip().splitlines()) == 1
    _assert_same(folder, refs["B_print"])


def test_stale_record_of_an_older_layout_is_not_trusted(refs, tmp_path):
    """A folder from before per-file records: bare digests prove nothing, so everything reruns."""
    folder = _folder_at_a(refs, tmp_path)
    records = json.loads((folder / "stages.json").read_text())
    (folder / "stages.json").write_text(json.dumps({k: v["digest"] for k, v in records.items()}))
    (folder / "rtl" / "bnn_top.v").write_text("// half-written\n")
    r = _build(folder, A_ARGS, refs["cache"])
    assert r.returncode == 0 and "up to date" not in r.stdout
    _assert_same(folder, refs["A_print"])


def test_edited_output_is_rebuilt(refs, tmp_path):
    folder = _folder_at_a(refs, tmp_path)
    (folder / "rtl" / "bnn_top.v").write_text("// edited by hand\n")
    r = _build(folder, A_ARGS, refs["cache"])
    assert r.returncode == 0
    assert "[6/12] rtl\n" in r.stdout and "[5/12] golden: up to date" in r.stdout
    _assert_same(folder, refs["A_print"])
