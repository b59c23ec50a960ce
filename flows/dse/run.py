"""The sweep: every design point (a folding on a board, flows.dse.points) is one Dask task
(flows.dse.task.run_point); the results become results.csv, pareto.png and report.md.

    bnnflow dse --model tfc_w1a1_nobn --boards Pynq-Z2 Pynq-Z1 --estimate analytic
    make dse MODEL=tfc_w1a1_nobn BOARDS="Pynq-Z2 Pynq-Z1" ESTIMATE=analytic [SIM=n]

By default a dask.distributed LocalCluster runs one single-threaded worker process per core.
--scheduler tcp://host:8786 (DASK_SCHEDULER=... with make, or in the environment) sends the
same tasks to a running cluster instead; its workers need this checkout and its Python
environment, and must see build/ at the same path (a shared filesystem), because a task
reads its inputs and writes its folder there.

Everything lives under build/dse/<model>/:
    base/                 export, streamline, lower: built once, copied into every point
    foldings/<id>.json    a FINN-format folding_config.json per folding (FOLDING_CONFIG=...)
    points/<board>-<id>/  a build folder (run_build), its build.log and point.json (written last)
    results.csv, pareto.png, report.md
A rerun skips the points whose point.json says "ok" for the same folding, checkpoint and settings;
failed points run again. A change to the code does not redo finished points (a sweep outlives
many edits): delete points/ to rebuild them all. The Yosys cache (build/.cache/yosys) and the Verilator runtime cache are
safe with tasks at once: every entry is written to a temporary name and renamed into place.
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from flows.boards import load_board
from flows.dse import DEFAULT_MAX_POINTS, ESTIMATES
from flows.dse.points import Point, board_foldings, candidate_foldings, \
    fastest_fitting_cycles, write_foldings
from flows.dse.report import write_csv, write_report
from flows.dse.task import FRONT, failed_record, finished, run_point
from flows.errors import BuildConfigError
from flows.fileio import write_json
from flows.paths import REPO

@dataclass
class DseConfig:
    model: str
    boards: Sequence[str]
    estimate: str = "yosys"
    n_sim: int = 0                  # RTL-simulated test images per point (0: none)
    max_points: int = DEFAULT_MAX_POINTS  # per board (0: every candidate down to the slowest)
    max_utilisation: float = 0.85   # what "fits" means for the fastest folding of a board
    size_fifos: bool = False        # FIFO depths from simulated peaks (two Verilator runs a point)
    checkpoint: Path | None = None
    output_dir: Path | None = None  # build/dse/<model>
    scheduler: str | None = None    # tcp://host:port of a running cluster; None: a LocalCluster
    workers: int | None = None      # LocalCluster workers (default: one per core)
    log: Callable[[str], None] = field(default=print, repr=False)

    def __post_init__(self) -> None:
        self.boards = list(dict.fromkeys(self.boards))
        if not self.boards:
            raise BuildConfigError("no boards to sweep: name at least one (BOARDS=\"Pynq-Z2 Pynq-Z1\")")
        for b in self.boards:
            load_board(b)  # an unknown board stops here, naming the known ones
        if self.estimate not in ESTIMATES:
            raise BuildConfigError(f"estimate {self.estimate!r} is not one of {', '.join(ESTIMATES)}")
        for name, value in (("images to simulate (SIM, --sim)", self.n_sim),
                            ("points per board (POINTS, --points)", self.max_points)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise BuildConfigError(f"{name}: {value!r} is not a whole number >= 0")
        if not 0 < self.max_utilisation <= 1:
            raise BuildConfigError(f"--max-utilisation {self.max_utilisation:g} is not in (0, 1]")
        if self.workers is not None and self.workers < 1:
            raise BuildConfigError(f"--workers {self.workers} is not a positive number of worker processes")
        self.output_dir = Path(self.output_dir or REPO / "build" / "dse" / self.model)

    def path(self, *parts: str) -> Path:
        return self.output_dir.joinpath(*parts)


def plan(cfg: DseConfig) -> list[Point]:
    """Build the shared front stages, write the foldings, and list every board's points."""
    from flows.build.steps import STEPS, BuildConfig, run_build

    base = BuildConfig(model=cfg.model, board=cfg.boards[0], checkpoint=cfg.checkpoint,
                       output_dir=cfg.path("base"), estimate=cfg.estimate, log=lambda line: None)
    t0 = time.perf_counter()
    hw = run_build(base, [s for s in STEPS if s.name in FRONT])
    cfg.log(f"export, streamline, lower: {cfg.path('base')} ({time.perf_counter() - t0:.1f} s)")
    foldings = candidate_foldings(hw)
    chosen = {}
    for board in cfg.boards:
        fastest = fastest_fitting_cycles(hw, board, cfg.max_utilisation)
        chosen[board] = board_foldings(foldings, fastest, cfg.max_points)
        span = (f"{chosen[board][0].cycles:,} to {chosen[board][-1].cycles:,} cycles per image"
                if chosen[board] else f"none: not even the slowest folding fits {cfg.max_utilisation:.0%}")
        cfg.log(f"{board}: {len(chosen[board])} points, {span} "
                f"(of {sum(f.cycles >= (fastest or 0) for f in foldings)} candidates from the fastest that fits)")
    used = {f.id: f for fs in chosen.values() for f in fs}
    files = write_foldings(list(used.values()), cfg.path("foldings"))
    checkpoint = str(base.checkpoint)
    return [Point(model=cfg.model, board=board, folding_id=f.id, cycles=f.cycles, folding_file=str(files[f.id]),
                  point_dir=str(cfg.path("points", f"{board}-{f.id}")), base_dir=str(cfg.path("base")),
                  checkpoint=checkpoint, estimate=cfg.estimate, n_sim=cfg.n_sim, size_fifos=cfg.size_fifos)
            for board in cfg.boards for f in chosen[board]]


def _client(cfg: DseConfig):
    """(client, cluster): a Client of cfg.scheduler, or of a new LocalCluster (closed by the caller)."""
    from dask.distributed import Client, LocalCluster

    if cfg.scheduler:
        return Client(cfg.scheduler, timeout="30s"), None
    n = cfg.workers or os.cpu_count() or 1
    # Processes, one thread each: a build sets its process's temporary folder (flows.build.folder).
    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":8787",
                           silence_logs=logging.ERROR)
    return Client(cluster), cluster


def run_points(points: Sequence[Point], client, log: Callable[[str], None],
               on_record: Callable[[dict], None] = lambda rec: None) -> tuple[list[dict], int]:
    """Run the unfinished points on `client`; (every point's record, how many were skipped)."""
    from dask.distributed import as_completed

    records: dict[str, dict] = {}
    todo = []
    for p in points:
        rec = finished(p)
        if rec is not None:
            records[p.name] = rec
        else:
            todo.append(p)
    skipped = len(points) - len(todo)
    if skipped:
        log(f"{skipped} of {len(points)} points already finished (their point.json); {len(todo)} to run")
    # The fastest foldings take longest: start them first so the last tasks are short.
    todo.sort(key=lambda p: p.cycles)
    if not todo:
        return [records[p.name] for p in points], skipped
    futures = {client.submit(run_point, p, pure=False, key=f"dse-{p.name}-{time.time_ns()}"): p for p in todo}
    for i, fut in enumerate(as_completed(futures), 1):
        p = futures[fut]
        try:
            rec = fut.result()
        except Exception as e:  # noqa: BLE001 - a lost worker fails its point, not the sweep
            rec = failed_record(p, f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
            write_json(Path(p.point_dir) / "point.json", rec)
        records[p.name] = rec
        on_record(rec)
        log(f"[{i}/{len(todo)}] {p.name}: {_describe(rec)}")
    return [records[p.name] for p in points if p.name in records], skipped


def _describe(rec: dict) -> str:
    if rec["status"] != "ok":
        return f"FAILED {rec['error']} ({rec['seconds']:.1f} s)"
    sim = ""
    if "latency_cycles" in rec:
        sim = f", latency {rec['latency_cycles']:,} cycles, RTL == golden on {rec['sim_images']} images"
    return (f"{rec['fps']:,.0f} FPS, {rec['LUT']:,.0f} LUT, {rec['BRAM36']:g} BRAM36"
            f"{'' if rec['fits'] else ' (does not fit)'}{sim} ({rec['seconds']:.1f} s)")


def run_dse(cfg: DseConfig, client=None, extra_points: Sequence[Point] = ()) -> dict:
    """The whole sweep; returns a summary (also in report.md). `client`: an existing Dask client
    (else one is made from cfg); `extra_points` are swept beside the planned ones."""
    from flows.build.folder import locked

    t0 = time.perf_counter()
    cfg.output_dir.mkdir(parents=True, exist_ok=True)
    with locked(cfg.output_dir):  # one sweep of a model at a time
        points = plan(cfg) + list(extra_points)
        cluster = None
        if client is None and any(finished(p) is None for p in points):  # no cluster for a finished sweep
            client, cluster = _client(cfg)
        try:
            if client is not None:
                where = cfg.scheduler or "a LocalCluster"
                cfg.log(f"Dask: {where}, {len(client.scheduler_info().get('workers', {}))} workers; "
                        f"dashboard {client.dashboard_link}")
            done: list[dict] = []

            def on_record(rec: dict) -> None:  # the table grows as points finish
                done.append(rec)
                write_csv(done, cfg.path("results.csv"))

            t_sweep = time.perf_counter()
            records, skipped = run_points(points, client, cfg.log, on_record)
            sweep_s = time.perf_counter() - t_sweep
        finally:
            if cluster is not None:
                client.close()
                cluster.close()
        write_csv(records, cfg.path("results.csv"))
        capacities = {b: load_board(b).capacity for b in cfg.boards}
        summary = {"points": len(points), "skipped": skipped, "ran": len(points) - skipped,
                   "ok": sum(r["status"] == "ok" for r in records),
                   "failed": sum(r["status"] != "ok" for r in records),
                   "sweep_seconds": sweep_s, "total_seconds": time.perf_counter() - t0,
                   "results": str(cfg.path("results.csv")), "plot": str(cfg.path("pareto.png")),
                   "report": str(cfg.path("report.md"))}
        from flows.dse.plot import plot_pareto

        plot_pareto(records, capacities, cfg.path("pareto.png"), title=f"{cfg.model}: {cfg.estimate} estimate")
        write_report(records, capacities, cfg, summary, cfg.path("report.md"))
    cfg.log(f"{summary['points']} points ({summary['skipped']} already done, {summary['ok']} ok, "
            f"{summary['failed']} failed) in {summary['total_seconds']:.0f} s: "
            f"{summary['results']}, {summary['plot']}, {summary['report']}")
    return summary
