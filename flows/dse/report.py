"""A sweep's table (results.csv), its Pareto fronts and its short report (report.md).

The report states only figures the sweep measured (or the folding fixes), each with the
formula that gives it: FPS = clock / bottleneck cycles, utilisation = resource / capacity.
"""
from __future__ import annotations

import csv
import statistics
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from flows.fileio import atomic_path, write_text

if TYPE_CHECKING:
    from flows.dse.run import DseConfig

COLUMNS = ("board", "folding_id", "folding_file", "cycles", "clock_mhz", "fps", "sim_images",
           "sim_cycles_per_image", "latency_cycles", "latency_us", "LUT", "FF", "BRAM36", "DSP", "fits",
           "estimate", "rtl_eq_golden", "status", "error", "seconds", "point_dir")
KINDS = ("LUT", "FF", "BRAM36", "DSP")


def write_csv(records: Sequence[dict], path: Path) -> None:
    """One row a point, in the order given; a column a point has no value for is empty."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
        w.writeheader()
        for r in records:
            w.writerow({k: _cell(r.get(k)) for k in COLUMNS})


def _cell(v: object) -> object:
    if v is None:
        return ""
    if isinstance(v, float):
        return int(v) if v.is_integer() else round(v, 3)
    return v


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def pareto_front(points: Sequence[tuple[float, float]]) -> list[bool]:
    """For (cost, value) pairs, whether each is on the Pareto front of less cost and more value:
    no other pair costs no more and gives no less, and is better in one of the two. Equal pairs
    are all on the front (none is better than the other)."""
    out = []
    for i, (c, v) in enumerate(points):
        dominated = any(c2 <= c and v2 >= v and (c2 < c or v2 > v)
                        for j, (c2, v2) in enumerate(points) if j != i)
        out.append(not dominated)
    return out


def board_fronts(records: Sequence[dict], kind: str) -> dict[str, list[dict]]:
    """Per board, its successful points on the front of `kind` (less) against FPS (more), by cost."""
    fronts = {}
    for board in dict.fromkeys(r["board"] for r in records):
        ok = [r for r in records if r["board"] == board and r["status"] == "ok" and r["fits"]]
        mask = pareto_front([(r[kind], r["fps"]) for r in ok])
        fronts[board] = sorted((r for r, m in zip(ok, mask) if m), key=lambda r: (r[kind], -r["fps"]))
    return fronts


def write_report(records: Sequence[dict], capacities: dict[str, dict], cfg: DseConfig, summary: dict,
                 path: Path) -> None:
    ok = [r for r in records if r["status"] == "ok"]
    failed = [r for r in records if r["status"] != "ok"]
    seconds = [r["seconds"] for r in records if r.get("seconds")]
    lines = [
        f"# Design-space exploration: {cfg.model}",
        "",
        f"Boards: {', '.join(cfg.boards)}. Resources: {cfg.estimate} estimate "
        f"({'Yosys synth_xilinx cell counts' if cfg.estimate == 'yosys' else 'the analytic model'}) "
        f"of the generated RTL, FIFO depths {'from simulated peaks' if cfg.size_fifos else 'by rule of thumb'}.",
        f"Points: {len(records)} ({len(ok)} built, {len(failed)} failed); "
        f"{summary['skipped']} were already finished and were skipped. "
        f"Sweep: {summary['sweep_seconds']:.0f} s wall, {summary['total_seconds']:.0f} s in all.",
    ]
    if seconds:
        lines.append(f"Per point: median {statistics.median(seconds):.1f} s, longest {max(seconds):.1f} s "
                     "(wall time of its task, on the run that built it).")
    lines += ["", "FPS = clock / bottleneck cycles per image (the folding's slowest layer); "
              "utilisation = estimate / board capacity.", ""]
    for board in cfg.boards:
        mine = [r for r in ok if r["board"] == board]
        fits = [r for r in mine if r["fits"]]
        cap = capacities[board]
        lines.append(f"## {board}")
        lines.append("")
        if not fits:
            lines += [f"No point fits {board}.", ""]
            continue
        best = min(fits, key=lambda r: r["cycles"])
        lean = min(fits, key=lambda r: r["LUT"])
        for what, r in (("Fastest that fits", best), ("Fewest LUTs", lean)):
            util = ", ".join(f"{k} {_num(r[k])} / {cap[k]:,} = {r[k] / cap[k]:.1%}" for k in KINDS if cap[k])
            lines.append(f"- {what}: {r['folding_id']}, FPS = {r['clock_mhz']:g} MHz / {r['cycles']:,} cycles = "
                         f"{r['fps']:,.0f}; {util}.")
            if "latency_cycles" in r:
                lines.append(f"  Simulated: {r['sim_cycles_per_image']:,.1f} cycles per image, latency "
                             f"{r['latency_cycles']:,} cycles / {r['clock_mhz']:g} MHz = {r['latency_us']:,.1f} us, "
                             f"RTL == golden on {r['sim_images']} images.")
        front = board_fronts(mine, "LUT")[board]
        lines.append(f"- Pareto front, FPS against LUT: {len(front)} of {len(fits)} fitting points: "
                     + ", ".join(f"{r['folding_id']} ({r['LUT']:,.0f} LUT, {r['fps']:,.0f} FPS)" for r in front) + ".")
        lines.append("")
    if failed:
        lines.append("## Failed points")
        lines.append("")
        lines += [f"- {r['board']}-{r['folding_id']}: {r['error']}" for r in failed]
        lines.append("")
    lines += ["Rebuild any point: `make build MODEL=" + cfg.model + " BOARD=<board> ESTIMATE=" + cfg.estimate
              + " FOLDING_CONFIG=" + _rel(cfg.path("foldings", "<id>.json")) + "`.", ""]
    write_text(path, "\n".join(lines))


def _num(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 100 or float(x).is_integer() else f"{x:,.4g}"


def _rel(path: Path) -> str:
    from flows.paths import REPO

    try:
        return str(path.relative_to(REPO))
    except ValueError:
        return str(path)
