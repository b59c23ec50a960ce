"""One design point, as one Dask task: the build steps up to the estimate (and the RTL
simulation of n images) in the point's own folder, then its record, point.json, written last.

The record is the point's result and its proof of completion: a rerun skips a point whose
record says "ok" and matches the point's key (Point.key). A failure is recorded with its error
in one line; the task itself never raises, so one bad point does not stop a sweep.
"""
from __future__ import annotations

import json
import shutil
import time
import traceback
from pathlib import Path

import numpy as np

from flows.dse.points import Point
from flows.fileio import write_json

RECORD = "point.json"
LOG = "build.log"
# The stages every point shares, built once per sweep and copied into each point's folder
# with their records, so a point's build finds them up to date instead of redoing them.
FRONT = ("export", "streamline", "lower")
FRONT_FILES = ("01_qonnx.onnx", "02_streamlined.onnx", "03_hw.onnx")


def read_record(point_dir: str | Path) -> dict | None:
    path = Path(point_dir) / RECORD
    try:
        rec = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return rec if isinstance(rec, dict) else None


def finished(point: Point) -> dict | None:
    """The point's record when it is complete and was built from what the point asks for."""
    rec = read_record(point.point_dir)
    if rec and rec.get("status") == "ok" and rec.get("key") == point.key():
        return rec
    return None


def step_names(point: Point) -> list[str]:
    names = [*FRONT, "fold"]
    if point.n_sim or point.size_fifos:
        names.append("golden")  # the reference that FIFO sizing and the simulation compare with
    names += ["rtl", "estimate"]
    if point.n_sim:
        names.append("rtlsim")
    return names


def _seed_front(point: Point) -> None:
    """Copy the sweep's front stages (files and their records) into a point folder that has no
    build yet. run_build checks every copied file's hash, so a stale copy is simply rebuilt."""
    dest, base = Path(point.point_dir), Path(point.base_dir)
    if (dest / "stages.json").exists() or not (base / "stages.json").is_file():
        return
    records = json.loads((base / "stages.json").read_text())
    if not all(s in records for s in FRONT):
        return
    dest.mkdir(parents=True, exist_ok=True)
    for name in FRONT_FILES:
        shutil.copyfile(base / name, dest / name)
    write_json(dest / "stages.json", {s: records[s] for s in FRONT})


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}".strip().rstrip(":")


def failed_record(point: Point, error: str, seconds: float = 0.0) -> dict:
    return {"board": point.board, "folding_id": point.folding_id, "folding_file": point.folding_file,
            "cycles": point.cycles, "estimate": point.estimate, "status": "failed", "error": error,
            "seconds": round(seconds, 2), "point_dir": point.point_dir, "key": point.key()}


def run_point(point: Point) -> dict:
    """Build one point and return its record (also written to point_dir/point.json)."""
    t0 = time.perf_counter()
    folder = Path(point.point_dir)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / RECORD).unlink(missing_ok=True)  # no record while the point is being rebuilt
    log_file = open(folder / LOG, "a")

    def log(line: str) -> None:
        log_file.write(line + "\n")
        log_file.flush()

    try:
        log(f"== {time.strftime('%Y-%m-%d %H:%M:%S')} {point.name}: {', '.join(step_names(point))}")
        rec = _build(point, log)
        rec["seconds"] = round(time.perf_counter() - t0, 2)
    except Exception as e:  # noqa: BLE001 - a point's failure is data, not the end of the sweep
        log(traceback.format_exc())
        rec = failed_record(point, _one_line(e), time.perf_counter() - t0)
        if "RTL simulation differs" in str(e):  # step_rtlsim's check: say so in the table
            rec.update(_rtl_vs_golden(point))
    finally:
        log_file.close()
    write_json(folder / RECORD, rec)
    return rec


def _build(point: Point, log) -> dict:
    from flows.build import fold as folding
    from flows.build.steps import STEPS, BuildConfig, run_build

    _seed_front(point)
    cfg = BuildConfig(model=point.model, board=point.board, checkpoint=point.checkpoint,
                      output_dir=Path(point.point_dir), folding_config=Path(point.folding_file),
                      estimate=point.estimate, estimates_only=True, size_fifos=point.size_fifos,
                      n_sim=max(1, point.n_sim), log=log)
    names = step_names(point)
    model = run_build(cfg, [s for s in STEPS if s.name in names])
    est = json.loads(cfg.path("estimate", "resources.json").read_text())
    cycles = folding.bottleneck_cycles(model)
    rec = {"board": point.board, "folding_id": point.folding_id, "folding_file": point.folding_file,
           "cycles": cycles, "clock_mhz": cfg.clock_mhz, "fps": cfg.clock_mhz * 1e6 / cycles,
           **{k: est["total"][k] for k in ("LUT", "FF", "BRAM36", "DSP")},
           "capacity": {k: est["capacity"][k] for k in ("LUT", "FF", "BRAM36", "DSP")},
           "fits": bool(est["fits"]), "estimate": est["method"], "status": "ok", "error": "",
           "point_dir": point.point_dir, "key": point.key()}
    if point.n_sim:
        sim = json.loads(cfg.path("sim", "results.json").read_text())
        rec.update(sim_images=sim["images"], sim_cycles_per_image=sim["cycles_per_image"],
                   latency_cycles=sim["latency_cycles"], latency_us=sim["latency_cycles"] / cfg.clock_mhz,
                   rtl_eq_golden=True)
    return rec


def _rtl_vs_golden(point: Point) -> dict:
    """After a failure: whether the RTL simulation ran and differed from the golden model."""
    folder = Path(point.point_dir)
    try:
        out = np.load(folder / "sim" / "outputs.npz")["outputs"][:, 0]
        pred = np.load(folder / "golden.npz")["pred"][: len(out)]
    except (OSError, KeyError, ValueError):
        return {}
    return {"sim_images": int(len(out)), "rtl_eq_golden": bool(np.array_equal(out, pred))}
