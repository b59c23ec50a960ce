"""Measured resources and logic depth: synthesise one module instance with Yosys `synth_xilinx`,
count its cells and find its longest register-to-register path (flows.estimates.timing).

Results are cached by a content hash of everything synthesis reads (library
sources, parameters, the memory files the parameters name, the family), so an
unchanged layer is never synthesised twice, across builds and models.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from flows.errors import FlowError
from flows.fileio import write_json
from flows.estimates.resources import Resources
from flows.estimates.timing import CriticalPath, critical_path
from flows.paths import REPO

CACHE_DIR = REPO / "build" / ".cache" / "yosys"
WORKERS = 2
# synth_xilinx family per board family (hw/boards/*.json "family").
YOSYS_FAMILY = {"zynq7": "xc7", "zynq_us+": "xcup"}

# Slice LUTs each LUT-RAM/SRL primitive occupies.
LUTRAM_LUTS = {
    "RAM16X1S": 1, "RAM32X1S": 1, "RAM64X1S": 1, "RAM128X1S": 2, "RAM256X1S": 4,
    "RAM16X1D": 2, "RAM32X1D": 2, "RAM64X1D": 2, "RAM128X1D": 4,
    "RAM32M": 4, "RAM64M": 4, "RAM32M16": 8, "RAM64M8": 8, "SRL16E": 1, "SRLC32E": 1,
}
LUTS = {f"LUT{i}": 1 for i in range(1, 7)}
FFS = ("FDRE", "FDSE", "FDCE", "FDPE", "LDCE", "LDPE")
BRAM36 = {"RAMB36E1": 1.0, "RAMB18E1": 0.5, "RAMB36E2": 1.0, "RAMB18E2": 0.5}
DSPS = ("DSP48E1", "DSP48E2")


class SynthesisError(FlowError):
    """Yosys failed on a module instance."""


@dataclass(frozen=True)
class SynthJob:
    """One module instance to synthesise: `params` values are Verilog literals (strings quoted)."""

    module: str
    params: dict[str, str]
    sources: tuple[Path, ...]
    workdir: Path  # where the memory files named by string parameters live
    family: str

    def memory_files(self) -> list[Path]:
        files = [self.workdir / v.strip('"') for v in self.params.values() if v.startswith('"')]
        return [f for f in files if f.is_file()]

    def key(self) -> str:
        h = hashlib.sha256()
        h.update(json.dumps([self.module, self.family, sorted(self.params.items())]).encode())
        for f in sorted(self.sources) + self.memory_files():
            h.update(f.name.encode() + b"\0" + f.read_bytes())
        return h.hexdigest()


def count_cells(cells: dict[str, int]) -> Resources:
    """Resources from a flattened netlist's cell counts. LUTs are counted one per LUT cell (Vivado
    may pair two small LUTs in one LUT6, so this is an upper bound) plus LUT-RAM and SRL LUTs."""
    return Resources(
        LUT=sum(n * (LUTS.get(c, 0) + LUTRAM_LUTS.get(c, 0)) for c, n in cells.items()),
        FF=sum(n for c, n in cells.items() if c in FFS),
        BRAM36=sum(n * BRAM36.get(c, 0.0) for c, n in cells.items()),
        DSP=sum(n for c, n in cells.items() if c in DSPS),
    )


@dataclass(frozen=True)
class SynthResult:
    resources: Resources
    path: CriticalPath | None  # None: no path between registers or ports
    cached: bool


def _script(job: SynthJob, stat_file: Path, netlist: Path) -> str:
    sets = " ".join(f"-set {k} {v}" for k, v in job.params.items())
    files = " ".join(str(f.resolve()) for f in job.sources)
    return (
        f"read_verilog -defer {files}\n"
        f"chparam {sets} {job.module}\n"
        # -flatten: one module, so the counts include submodules (e.g. the MVTU's FIFO).
        f"synth_xilinx -top {job.module} -family {job.family} -flatten -noiopad -noclkbuf\n"
        f"tee -q -o {stat_file} stat -json -tech xilinx\n"
        f"write_json {netlist}\n"
    )


def _from_cache(entry: dict) -> SynthResult | None:
    """A cache entry written before the path was recorded counts as absent."""
    if "path" not in entry:
        return None
    return SynthResult(Resources(**entry["resources"]),
                       None if entry["path"] is None else CriticalPath.from_json(entry["path"]), True)


def synthesise(job: SynthJob, cache_dir: Path = CACHE_DIR) -> SynthResult:
    if shutil.which("yosys") is None:
        raise SynthesisError("yosys is not on PATH (make setup installs it); use --estimate analytic")
    cached = cache_dir / f"{job.key()}.json"
    if cached.is_file() and (hit := _from_cache(json.loads(cached.read_text()))) is not None:
        return hit
    with tempfile.TemporaryDirectory(prefix="bnnflow-yosys-") as tmp:
        script, stat_file, netlist = Path(tmp) / "synth.ys", Path(tmp) / "stat.json", Path(tmp) / "netlist.json"
        script.write_text(_script(job, stat_file, netlist))
        # Run where the memory files are: $readmemh resolves relative names against the cwd.
        proc = subprocess.run(["yosys", "-q", "-s", str(script)], cwd=job.workdir,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if proc.returncode != 0 or not stat_file.is_file():
            raise SynthesisError(f"yosys failed on {job.module} {job.params}:\n{proc.stdout[-3000:]}")
        stat = json.loads(stat_file.read_text())
        path = critical_path(json.loads(netlist.read_text()))
    cells = next(iter(stat["modules"].values()))["num_cells_by_type"]
    res = count_cells(cells)
    write_json(cached, {"module": job.module, "params": job.params, "family": job.family,
                        "cells": cells, "resources": res.as_dict(), "path": path and path.to_json()})
    return SynthResult(res, path, False)


def synthesise_all(jobs: dict[str, SynthJob], log: Callable[[str], None],
                   cache_dir: Path = CACHE_DIR, workers: int = WORKERS) -> dict[str, SynthResult]:
    """Synthesise named jobs in parallel, logging each as it finishes."""
    out: dict[str, SynthResult] = {}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        started = time.perf_counter()
        futures = {pool.submit(synthesise, job, cache_dir): name for name, job in jobs.items()}
        for i, fut in enumerate(as_completed(futures), 1):
            name = futures[fut]
            out[name] = r = fut.result()
            how = "cached" if r.cached else f"{time.perf_counter() - started:.0f} s elapsed"
            depth = f", {r.path.lut_levels} LUT levels" if r.path else ""
            log(f"  [{i}/{len(jobs)}] {name} ({jobs[name].module}): {r.resources.LUT:,.0f} LUT, "
                f"{r.resources.BRAM36:g} BRAM36{depth} ({how})")
    return out
