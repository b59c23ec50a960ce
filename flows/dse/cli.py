"""`bnnflow dse`: its options (light to import: flows.cli builds every parser at start-up)."""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from flows.dse import DEFAULT_MAX_POINTS, ESTIMATES


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True)
    p.add_argument("--boards", nargs="+", default=["Pynq-Z2"], help="boards to sweep (default Pynq-Z2)")
    p.add_argument("--estimate", choices=ESTIMATES, default="yosys",
                   help="resources of each point: Yosys synthesis per layer (cached) or the analytic model")
    p.add_argument("--sim", type=int, default=0, metavar="N", help="also simulate N test images in RTL per point")
    p.add_argument("--points", type=int, default=DEFAULT_MAX_POINTS, metavar="N",
                   help=f"at most N points per board, evenly spread from the fastest folding that fits down to "
                        f"the slowest (default {DEFAULT_MAX_POINTS}; 0: every candidate)")
    p.add_argument("--max-utilisation", type=float, default=0.85,
                   help="the fastest folding of a board has every analytic resource within this share of it")
    p.add_argument("--size-fifos", action="store_true",
                   help="FIFO depths from simulated peaks (two Verilator compiles a point); default: rule of thumb")
    p.add_argument("--checkpoint", type=Path)
    p.add_argument("--output-dir", type=Path, help="default build/dse/<model>")
    p.add_argument("--scheduler", default=os.environ.get("DASK_SCHEDULER") or None,
                   help="address of a running Dask scheduler (tcp://host:8786; default $DASK_SCHEDULER); "
                        "without it a LocalCluster runs on this machine's cores")
    p.add_argument("--workers", type=int, help="LocalCluster worker processes (default: one per core)")


def main(args: argparse.Namespace) -> int:
    from flows.dse.run import DseConfig, run_dse

    cfg = DseConfig(model=args.model, boards=args.boards, estimate=args.estimate, n_sim=args.sim,
                    max_points=args.points, max_utilisation=args.max_utilisation, size_fifos=args.size_fifos,
                    checkpoint=args.checkpoint, output_dir=args.output_dir, scheduler=args.scheduler,
                    workers=args.workers)
    summary = run_dse(cfg)
    return 1 if summary["ok"] == 0 else 0
