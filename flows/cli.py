"""bnnflow: the command line of the whole project (what every `make` target runs).

    bnnflow build --model M --board B    checkpoint -> verified accelerator under build/M-B/
    bnnflow list                         known models and boards
    bnnflow train ...                    train a zoo model (models.train)
    bnnflow bench golden|sim|resources|train ...   the benchmarks
    bnnflow fuzz ...                     random networks through the flow and the RTL
    bnnflow compare | sensitivity ...    training curves side by side; per-layer sensitivity
    bnnflow validate DEPLOY_DIR ...      a build's deploy package on the virtual board
    bnnflow dse --model M --boards B...  every candidate folding on every board (Dask): table, Pareto plot

`bnnflow COMMAND --help` gives each command's options.
"""
from __future__ import annotations

import argparse
import math
import signal
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
        model=args.model or "",
        onnx=args.onnx,
        data=args.data,
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
        size_fifos=args.size_fifos,
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


# Commands whose options belong to the module that runs them: bnnflow passes the rest of the line on.
DELEGATED = {
    "train": ("models.train_cli", "train a zoo model into runs/<model>/ (--publish: also checkpoints/)"),
    "fuzz": ("flows.testing.fuzz", "random networks through export, streamline, lower, golden and RTL"),
    "compare": ("models.compare", "overlay the training curves of several runs"),
    "sensitivity": ("models.layer_sensitivity", "accuracy cost of binarising each layer"),
}
BENCHES = {
    "golden": ("flows.bench.golden", "golden model vs qonnx execute_onnx; cycles and FPS per model"),
    "sim": ("flows.bench.sim", "Verilator cycles/s and simulated FPS"),
    "resources": ("flows.bench.resources", "Yosys vs analytic resources per layer"),
    "train": ("models.bench_train", "time a training epoch of every zoo model"),
    "bnn-pynq": ("flows.bench.bnn_pynq", "FINN's BNN-PYNQ nets from their QONNX files, beside FINN's figures"),
}


def _delegate(module: str, argv: list[str]) -> int:
    import importlib

    return int(importlib.import_module(module).main(argv) or 0)


def _validate(args: argparse.Namespace) -> int:
    """Run the deploy package's own validate.py, as a user on the board would (it imports nothing of ours)."""
    import subprocess

    script = Path(args.deploy_dir) / "validate.py"
    if not script.is_file():
        raise FlowError(f"{args.deploy_dir} is not a deploy package (no validate.py); "
                        "build one with `bnnflow build`, it is build/<model>-<board>/deploy/")
    return subprocess.call([sys.executable, str(script), *args.rest])


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
    p = argparse.ArgumentParser(prog="bnnflow", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="checkpoint -> verified accelerator")
    what = b.add_mutually_exclusive_group(required=True)
    what.add_argument("--model", help="a zoo model (`bnnflow list`), built from its checkpoint")
    what.add_argument("--onnx", type=Path, help="a QONNX file, as Brevitas exports it; build/<stem>-<board>/")
    b.add_argument("--data", type=Path, help="with --onnx: .npz of float32 `inputs` exactly as the graph takes them, "
                                             "optional `labels` and `classes`; random inputs without")
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
    b.add_argument("--n-sim", type=int, default=None,
                   help="inputs to simulate in RTL (default: 200, or every input where there are fewer)")
    b.add_argument("--data-dir", type=Path)
    b.add_argument("--size-fifos", action="store_true",
                   help="search smaller FIFO depths by simulation (two more Verilator compiles) instead of "
                        "the dataflow's rule depths, which the RTL simulation confirms")
    b.add_argument("--backend", choices=("bnnflow", "finn"), default="bnnflow",
                   help="finn: also write (and where possible run) a FINN build folder")
    b.add_argument("--estimate", choices=("yosys", "analytic"), default="analytic",
                   help="resource estimate: the analytic model (default, instant, its measured error printed) "
                        "or Yosys synthesis per layer (the sign-off, with timing evidence; cached)")
    b.add_argument("--estimates-only", action="store_true",
                   help="report resources without stopping when the design does not fit the board")
    b.set_defaults(func=_build)
    dse = sub.add_parser("dse", help="sweep candidate foldings across boards on Dask: table, Pareto plot, report")
    from flows.dse.cli import add_arguments as dse_arguments, main as dse_main

    dse_arguments(dse)
    dse.set_defaults(func=dse_main)
    ls = sub.add_parser("list", help="known models and boards")
    ls.set_defaults(func=_list)
    # Listed for --help; main() hands their command lines to their modules before argparse sees them.
    for name, (_, text) in DELEGATED.items():
        sub.add_parser(name, help=text)
    bench = sub.add_parser("bench", help="benchmarks: " + ", ".join(BENCHES))
    which = bench.add_subparsers(dest="bench", required=True)
    for name, (_, text) in BENCHES.items():
        which.add_parser(name, help=text)
    v = sub.add_parser("validate", help="run a deploy package's validate.py (--virtual: on the virtual board)")
    v.add_argument("deploy_dir", type=Path, help="build/<model>-<board>/deploy")
    v.add_argument("rest", nargs=argparse.REMAINDER, help="validate.py's options, e.g. --virtual -n 100")
    v.set_defaults(func=_validate)
    c = sub.add_parser("check", help="how every node of a QONNX file will be handled; exit 2 if one cannot be")
    c.add_argument("onnx", type=Path, help="the network, exactly as Brevitas exports it")
    c.set_defaults(func=_check)
    return p


def _check(args: argparse.Namespace) -> int:
    from flows.frontend.check import main_check

    return main_check(args.onnx)


def _delegated(argv: list[str]) -> tuple[str, list[str]] | None:
    if argv and argv[0] in DELEGATED:
        return DELEGATED[argv[0]][0], argv[1:]
    if len(argv) > 1 and argv[0] == "bench" and argv[1] in BENCHES:
        return BENCHES[argv[1]][0], argv[2:]
    return None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    warnings.filterwarnings("ignore", message=".*fast_hadamard_transform.*")
    delegated = _delegated(argv)
    if delegated is None:
        args = parser().parse_args(argv)
    try:
        code = _delegate(*delegated) if delegated else args.func(args)
    except USER_ERRORS as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # Every write is atomic and a step's record comes last: a rerun continues where this stopped.
        builds = argv[:1] == ["build"]
        print("interrupted" + (": the build folder keeps only complete steps; run the same command to continue"
                               if builds else ""), file=sys.stderr)
        return 130
    except OSError as e:
        # Disk full, permissions, a vanished folder: the system's reason and the file, not a traceback.
        where = f": {e.filename}" if e.filename else ""
        print(f"error: {e.strerror or e}{where}", file=sys.stderr)
        return 1
    return int(code or 0)


def run() -> None:
    """The `bnnflow` program: main(), then exit with its code. Once main() has returned the work is
    done, and an interrupt would only turn a finished build's exit into a death by signal (Python
    re-raises an uncaught SIGINT at exit), so it is ignored from there; main() itself leaves a
    caller's handlers alone (children inherit an ignored SIGINT)."""
    code = main()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.exit(code)


if __name__ == "__main__":
    run()
