"""Build and drive the generic AXI-Stream Verilator testbench (axis_tb.cpp).

Typical use::

    h = build_harness(["hw/rtl/bnn_fifo.v"], "bnn_fifo", {"WIDTH": 16, "DEPTH": 4})
    res = run_harness(h, values, in_elem_bits=8, out_elem_bits=8, n_out_beats=10)
    res.outputs  # (n_out_beats, out_elems_per_beat) int64 array

Builds are cached under a directory keyed by a hash of everything that goes
into them, so repeated runs with the same sources and parameters only pay for
the simulation. $readmemh files are read by the simulator at run time, relative
to its working directory, so one build can be reused with different ROM
contents by passing a relative file name as the parameter and ``cwd`` to
:func:`run_harness`.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence, Union

import numpy as np
from flows.paths import HW

TB_SOURCE = HW / "sim" / "axis_tb.cpp"

VERILATOR_FLAGS = (
    "--cc", "--exe", "-O3", "--x-assign", "fast", "--x-initial", "fast", "-Wno-fatal",
    "--prefix", "Vtop",
    # Let the gate optimiser substitute large expressions into their one use
    # (e.g. an MVTU's thresholded output vector into the FIFO write that is
    # only taken once per neuron group) instead of evaluating them every
    # cycle: 7% faster on cnv_w1a1. The default limit is 100 statements.
    "--gate-stmts", "10000",
)
# -O3 over -O2 is a few per cent of simulation speed for no portability cost
# (no -march: the cached binaries may run on another machine).
CXX_OPT = "-O3"

ParamValue = Union[int, str]
PathLike = Union[str, os.PathLike]


class VerilatorBuildError(RuntimeError):
    """Verilation or C++ compilation of a harness failed; the message has the tool output."""


class SimulationError(RuntimeError):
    """The simulation binary exited non-zero (deadlock, AXI violation, bad input).

    On a deadlock, `fifo_levels` maps each bnn_fifo instance (its hierarchical
    scope name) to the words it held when the harness gave up.
    """

    def __init__(self, message: str, returncode: int, stderr: str) -> None:
        super().__init__(message)
        self.returncode = returncode
        self.stderr = stderr
        self.fifo_levels = {m.group(1): int(m.group(2)) for m in _FIFO_LEVEL_RE.finditer(stderr)}
        self.deadlock = "DEADLOCK" in stderr


_FIFO_LEVEL_RE = re.compile(r"^tb: fifo (\S+) holds (\d+)$", re.M)


@dataclass(frozen=True)
class Harness:
    binary: Path
    top: str
    in_width: int   # s_axis_tdata width in bits
    out_width: int  # m_axis_tdata width in bits


@dataclass(frozen=True)
class SimStats:
    cycles: int
    in_cycles: np.ndarray   # cycle at which each input beat was accepted
    out_cycles: np.ndarray  # cycle at which each output beat was accepted


@dataclass(frozen=True)
class SimResult:
    outputs: np.ndarray  # (n_out_beats, out_elems_per_beat), int64
    stats: SimStats
    fifo_peaks: dict[str, int] | None = None  # bnn_fifo scope -> peak words held, when asked for


def default_build_root() -> Path:
    env = os.environ.get("BNNFLOW_SIM_CACHE")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "bnnflow" / "verilator"


def _format_param(value: ParamValue) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    return str(int(value))


def _run_tool(cmd: Sequence[str], cwd: Path | None = None) -> None:
    proc = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        raise VerilatorBuildError(
            f"command failed with exit code {proc.returncode}: {' '.join(cmd)}\n{proc.stdout}"
        )


_PORT_RE = re.compile(r"VL_(?:IN|OUT)\w*\(&?(s_axis_tdata|m_axis_tdata),(\d+),(\d+)")


def _port_widths(header: Path) -> tuple[int, int]:
    widths = {m.group(1): int(m.group(2)) - int(m.group(3)) + 1
              for m in _PORT_RE.finditer(header.read_text())}
    missing = {"s_axis_tdata", "m_axis_tdata"} - widths.keys()
    if missing:
        raise VerilatorBuildError(f"top module lacks port(s) {sorted(missing)} (looked in {header})")
    return widths["s_axis_tdata"], widths["m_axis_tdata"]


# Cycles between progress reports: about a second of a large design.
PROGRESS_CYCLES = 1 << 20

# Verilator's runtime library is most of the C++ compile time and identical in
# every build, so its objects are compiled once per Verilator version and reused.
RUNTIME_OBJS = ("verilated.o", "verilated_threads.o", "verilated_dpi.o")


@functools.cache
def _verilator_version() -> str:
    # Asked once per process: `verilator` is a Perl wrapper whose start-up
    # (60 ms) was a quarter of simulating a whole tfc test batch.
    return subprocess.run(["verilator", "--version"], stdout=subprocess.PIPE, text=True).stdout


def _runtime_dir(root: Path) -> Path:
    key = hashlib.sha256(f"{_verilator_version()}\0{CXX_OPT}\0{RUNTIME_OBJS}".encode()).hexdigest()[:20]
    return root / f"runtime-{key}"


def _build_key(sources: Sequence[Path], top: str, params: Mapping[str, ParamValue],
               defines: Sequence[str]) -> str:
    h = hashlib.sha256()
    for part in (_verilator_version(), top, repr(VERILATOR_FLAGS), CXX_OPT, TB_SOURCE.read_text(),
                 repr(sorted(defines))):
        h.update(part.encode())
        h.update(b"\0")
    for src in sources:
        h.update(src.name.encode() + b"\0" + src.read_bytes() + b"\0")
    for k in sorted(params):
        h.update(f"{k}={_format_param(params[k])}\0".encode())
    return h.hexdigest()[:20]


def _reuse_runtime(runtime: Path, obj: Path) -> None:
    for o in RUNTIME_OBJS:
        if (runtime / o).is_file():
            shutil.copy(runtime / o, obj / o)  # fresh mtime: make treats it as up to date


def _publish_runtime(runtime: Path, obj: Path) -> None:
    """Cache each runtime object this build compiled and the cache lacks, one file at a time.

    Which objects a build compiles depends on its design (one without DPI has no
    verilated_dpi.o), so the cache fills from whichever builds come first. Each file
    appears whole, by rename, so a concurrent build sees it complete or not at all.
    """
    runtime.mkdir(parents=True, exist_ok=True)
    for o in RUNTIME_OBJS:
        if not (obj / o).is_file() or (runtime / o).is_file():
            continue
        fd, tmp = tempfile.mkstemp(prefix=f".{o}-", dir=runtime)
        os.close(fd)
        try:
            shutil.copy2(obj / o, tmp)
            os.replace(tmp, runtime / o)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def build_harness(
    sources: Sequence[PathLike],
    top: str,
    params: Mapping[str, ParamValue] | None = None,
    build_root: PathLike | None = None,
    jobs: int | None = None,
    defines: Sequence[str] = (),
) -> Harness:
    """Verilate `sources` with top module `top` and `-G` overrides `params` into a testbench binary.

    `defines` are Verilog macros set with `+define+`. Reuses a previous build with identical
    inputs. Raises VerilatorBuildError with the tool
    output if verilation or compilation fails.
    """
    params = dict(params or {})
    srcs = [Path(s).resolve() for s in sources]
    root = Path(build_root) if build_root is not None else default_build_root()
    out_dir = root / f"{top}-{_build_key(srcs, top, params, defines)}"
    binary = out_dir / "Vtop"
    widths_file = out_dir / "widths"
    if binary.is_file() and widths_file.is_file():
        in_w, out_w = (int(x) for x in widths_file.read_text().split())
        return Harness(binary, top, in_w, out_w)

    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{top}-", dir=root))
    try:
        obj = tmp / "obj"
        cmd = ["verilator", *VERILATOR_FLAGS, "--top-module", top, "--Mdir", str(obj),
               "-CFLAGS", CXX_OPT]
        cmd += [f"-G{k}={_format_param(v)}" for k, v in params.items()]
        cmd += [f"+define+{d}" for d in defines]
        cmd += [str(s) for s in srcs] + [str(TB_SOURCE)]
        _run_tool(cmd)
        in_w, out_w = _port_widths(obj / "Vtop.h")
        runtime = _runtime_dir(root)
        _reuse_runtime(runtime, obj)
        _run_tool([
            "make", "-C", str(obj), "-f", "Vtop.mk", f"-j{jobs or os.cpu_count() or 1}",
            f"USER_CPPFLAGS=-DTB_IN_W={in_w} -DTB_OUT_W={out_w}",
            f"OPT_FAST={CXX_OPT}", f"OPT_GLOBAL={CXX_OPT}", "Vtop",
        ])
        _publish_runtime(runtime, obj)
        shutil.copy2(obj / "Vtop", tmp / "Vtop")
        (tmp / "widths").write_text(f"{in_w} {out_w}\n")
        shutil.rmtree(obj)
        try:
            tmp.rename(out_dir)
        except OSError:
            # A concurrent build of the same key won the race; its result is identical.
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return Harness(binary, top, in_w, out_w)


def pack_beats(values: np.ndarray, elem_bits: int, elems_per_beat: int,
               beat_bits: int | None = None) -> bytes:
    """Pack element values into little-endian beats of ceil(beat_bits/8) bytes.

    `values` is (n_beats, elems_per_beat) or flat (length a multiple of elems_per_beat).
    Element i of a beat goes to bits [i*elem_bits, (i+1)*elem_bits); negative values are
    stored as two's complement. beat_bits defaults to elem_bits * elems_per_beat.
    """
    if not 1 <= elem_bits <= 64:
        raise ValueError("elem_bits must be in 1..64")
    beat_bits = beat_bits if beat_bits is not None else elem_bits * elems_per_beat
    if beat_bits < elem_bits * elems_per_beat:
        raise ValueError("beat_bits is smaller than elem_bits * elems_per_beat")
    nbytes = (beat_bits + 7) // 8
    if elem_bits in (8, 16, 32, 64) and nbytes * 8 == elem_bits * elems_per_beat:
        # Whole-byte elements filling the beat are just a little-endian cast,
        # much faster than the bit-matrix path on a whole test set.
        v = np.asarray(values).astype(np.int64).reshape(-1, elems_per_beat)
        return v.astype(np.dtype(f"<u{elem_bits // 8}")).tobytes()
    v = np.asarray(values).astype(np.int64).reshape(-1, elems_per_beat).view(np.uint64)
    shifts = np.arange(elem_bits, dtype=np.uint64)
    bits = ((v[:, :, None] >> shifts) & np.uint64(1)).astype(np.uint8)
    bits = bits.reshape(v.shape[0], elems_per_beat * elem_bits)
    padded = np.zeros((v.shape[0], nbytes * 8), dtype=np.uint8)
    padded[:, :bits.shape[1]] = bits
    return np.packbits(padded, axis=1, bitorder="little").tobytes()


def unpack_beats(data: bytes, elem_bits: int, elems_per_beat: int, signed: bool = False,
                 beat_bits: int | None = None) -> np.ndarray:
    """Inverse of pack_beats: returns an int64 array of shape (n_beats, elems_per_beat)."""
    if not 1 <= elem_bits <= 64:
        raise ValueError("elem_bits must be in 1..64")
    beat_bits = beat_bits if beat_bits is not None else elem_bits * elems_per_beat
    nbytes = (beat_bits + 7) // 8
    raw = np.frombuffer(data, dtype=np.uint8)
    if raw.size % nbytes:
        raise ValueError(f"{raw.size} bytes is not a whole number of {nbytes}-byte beats")
    bits = np.unpackbits(raw.reshape(-1, nbytes), axis=1, bitorder="little")
    bits = bits[:, :elem_bits * elems_per_beat].reshape(-1, elems_per_beat, elem_bits)
    vals = np.zeros(bits.shape[:2], dtype=np.uint64)
    for b in range(elem_bits):
        vals |= bits[:, :, b].astype(np.uint64) << np.uint64(b)
    out = vals.view(np.int64)
    if signed and elem_bits < 64:
        out = np.where(out >= (1 << (elem_bits - 1)), out - (1 << elem_bits), out)
    return out


def parse_stats(path: PathLike) -> SimStats:
    """Read the harness's --stats-bin file (uint64 cycles, n_in, n_out, then the cycle stamps)."""
    raw = np.fromfile(path, dtype=np.uint64)
    n_in, n_out = int(raw[1]), int(raw[2])
    stamps = raw[3:].astype(np.int64)
    if stamps.size != n_in + n_out:
        raise ValueError(f"{path}: {stamps.size} cycle stamps, header says {n_in} + {n_out}")
    return SimStats(cycles=int(raw[0]), in_cycles=stamps[:n_in], out_cycles=stamps[n_in:])


def parse_fifo_stats(path: PathLike) -> dict[str, int]:
    peaks = {}
    for line in Path(path).read_text().splitlines():
        scope, peak = line.split()
        peaks[scope] = int(peak)
    return peaks


def _elems_per_beat(port_bits: int, elem_bits: int, elems: int | None, side: str) -> int:
    if elems is None:
        if port_bits % elem_bits:
            raise ValueError(f"{side}: {elem_bits}-bit elements do not divide the {port_bits}-bit port")
        return port_bits // elem_bits
    if elems * elem_bits > port_bits:
        raise ValueError(f"{side}: {elems} elements of {elem_bits} bits exceed the {port_bits}-bit port")
    return elems


def run_harness(
    harness: Harness,
    in_values: np.ndarray,
    in_elem_bits: int,
    out_elem_bits: int,
    n_out_beats: int,
    out_signed: bool = False,
    in_prob: float = 1.0,
    out_prob: float = 1.0,
    seed: int = 1,
    timeout: int = 100000,
    cwd: PathLike | None = None,
    in_elems_per_beat: int | None = None,
    out_elems_per_beat: int | None = None,
    fifo_stats: bool = False,
    in_interval: int = 0,
    in_group: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> SimResult:
    """Stream `in_values` through the harness and collect `n_out_beats` output beats.

    Elements per beat default to what fills the port exactly; a port padded to whole
    bytes names its element counts. `cwd` is where the simulator runs (and where
    relative $readmemh paths resolve); a temporary directory by default.
    `fifo_stats` records every bnn_fifo's peak fill level; `in_interval` > 0 offers
    input beat i no earlier than cycle (i // in_group) * in_interval. `progress` is called
    with (output beats received, n_out_beats) about every million simulated cycles.
    Raises SimulationError on a non-zero exit (deadlock, AXI protocol violation).
    """
    in_epb = _elems_per_beat(harness.in_width, in_elem_bits, in_elems_per_beat, "input")
    out_epb = _elems_per_beat(harness.out_width, out_elem_bits, out_elems_per_beat, "output")
    with tempfile.TemporaryDirectory(prefix="axis_tb-") as tmp:
        t = Path(tmp)
        (t / "in.bin").write_bytes(pack_beats(in_values, in_elem_bits, in_epb, harness.in_width))
        cmd = [str(harness.binary), str(t / "in.bin"), str(t / "out.bin"), str(n_out_beats),
               "--in-prob", repr(float(in_prob)), "--out-prob", repr(float(out_prob)),
               "--seed", str(seed), "--timeout", str(timeout), "--stats-bin", str(t / "stats.bin")]
        if fifo_stats:
            cmd += ["--fifo-stats", str(t / "fifos.txt")]
        if in_interval:
            cmd += ["--in-interval", str(in_interval), "--in-group", str(in_group)]
        if progress is not None:
            cmd += ["--progress", str(PROGRESS_CYCLES)]
        with subprocess.Popen(cmd, cwd=cwd if cwd is not None else t, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True) as proc:
            messages = []
            for line in proc.stderr:
                if line.startswith("progress ") and progress is not None:
                    done, total = (int(v) for v in line.split()[1:])
                    progress(done, total)
                else:
                    messages.append(line)
        if proc.returncode != 0:
            stderr = "".join(messages)
            raise SimulationError(
                f"{harness.top} simulation failed (exit {proc.returncode}): {stderr.strip()}",
                proc.returncode, stderr,
            )
        outputs = unpack_beats((t / "out.bin").read_bytes(), out_elem_bits, out_epb,
                               out_signed, harness.out_width)
        stats = parse_stats(t / "stats.bin")
        peaks = parse_fifo_stats(t / "fifos.txt") if fifo_stats else None
    return SimResult(outputs=outputs, stats=stats, fifo_peaks=peaks)
