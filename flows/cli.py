"""Command line: `python -m flows.cli build --model M --board B` (what `make build` runs)."""
from __future__ import annotations

import argparse
import math
import sys
import warnings
from pathlib import Path

from models.checkpoint import CheckpointError
from models.datasets import DatasetError
from models.registry import UnknownModelError, list_models, model_info

from flows.boards import list_boards
from flows.errors import FlowError

USER_ERRORS = (FlowError, DatasetError, CheckpointError, UnknownModelError)


def _build(args: argparse.Namespace) -> None:
    from flows.build.steps import BuildConfig, run_build

    cfg = BuildConfig(
        model=args.model,
        board=args.board,
        checkpoint=args.checkpoint,
        output_dir=args.output_dir,
        clock_mhz=args.clock_mhz,
        target_fps=1_000_000.0 if args.target_fps == "max" else args.target_fps,
        fit_board=args.target_fps == "max",
        max_utilisation=args.max_utilisation,
        folding_config=args.folding_config,
        n_sim=args.n_sim,
        data_dir=args.data_dir,
        backend=args.backend,
        estimate=args.estimate,
        estimates_only=args.estimates_only,
        size_fifos=not args.no_fifo_sizing,
    )
    print(f"building {cfg.model} for {cfg.board} ({cfg.board_data.part}) into {cfg.output_dir}")
    run_build(cfg)


def _list(args: argparse.Namespace) -> None:
    print(f"{'model':30s} {'dataset':14s} {'input':10s} {'train lr':>8s}  description")
    for name in list_models():
        info = model_info(name)
        shape = "x".join(str(d) for d in info.input_shape)
        print(f"{name:30s} {info.dataset:14s} {shape:10s} {info.lr:8.0e}  {info.description}")
    print("boards: " + ", ".join(list_boards()))


def _target_fps(text: str) -> float | str:
    if text.strip().lower() == "max":
        return "max"
    try:
        fps = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is neither a number of images/s nor `max`") from None
    if not (math.isfinite(fps) and fps > 0):
        raise argparse.ArgumentTypeError(f"{text!r}: the target must be a positive finite number of images/s, or `max`")
    return fps


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bnnflow", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="checkpoint -> verified accelerator")
    b.add_argument("--model", required=True)
    b.add_argument("--board", default="Pynq-Z2")
    b.add_argument("--checkpoint", type=Path)
    b.add_argument("--output-dir", type=Path)
    b.add_argument("--clock-mhz", type=float)
    b.add_argument("--target-fps", type=_target_fps, default=1_000_000.0,
                   help="images/s the automatic folding aims at, or `max`: as fast as fits; a target whose "
                        "analytic estimate exceeds --max-utilisation of the board gets the fastest folding that fits")
    b.add_argument("--max-utilisation", type=float, default=0.85,
                   help="the share of each board resource (LUT, FF, BRAM36, DSP) an automatic folding may use "
                        "(default 0.85; the rest is headroom for routing and the shell)")
    b.add_argument("--folding-config", type=Path, help="FINN-format folding_config.json")
    b.add_argument("--n-sim", type=int, default=200, help="test images to simulate in RTL")
    b.add_argument("--data-dir", type=Path)
    b.add_argument("--no-fifo-sizing", action="store_true",
                   help="keep rule-of-thumb FIFO depths (skips two Verilator compiles)")
    b.add_argument("--backend", choices=("bnnflow", "finn"), default="bnnflow",
                   help="finn: also write (and where possible run) a FINN build folder")
    b.add_argument("--estimate", choices=("yosys", "analytic"), default="yosys",
                   help="resource estimate: Yosys synthesis per layer (cached) or the analytic model")
    b.add_argument("--estimates-only", action="store_true",
                   help="report resources without stopping when the design does not fit the board")
    b.set_defaults(func=_build)
    ls = sub.add_parser("list", help="known models and boards")
    ls.set_defaults(func=_list)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    warnings.filterwarnings("ignore", message=".*fast_hadamard_transform.*")
    try:
        args.func(args)
    except USER_ERRORS as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # Every write is atomic and a step's record comes last: a rerun continues where this stopped.
        print("interrupted: the build folder keeps only complete steps; run the same command to continue",
              file=sys.stderr)
        return 130
    except OSError as e:
        # Disk full, permissions, a vanished folder: the system's reason and the file, not a traceback.
        where = f": {e.filename}" if e.filename else ""
        print(f"error: {e.strerror or e}{where}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
