"""`make bench`: golden model against qonnx's execute_onnx, and per-model cycles and FPS.

Both executors run the same hardware graph in the same process, so the ratio
is measured, not quoted. qonnx runs node by node per image; it is timed on a
subset and reported in images per second. Both run on one thread: torch's
(the golden model's convolutions) and numpy's BLAS (execute_onnx's products).
"""
from __future__ import annotations

import argparse
import ctypes
import time
import warnings

import numpy as np
import torch
from qonnx.core.onnx_exec import execute_onnx

from models.checkpoint import load_model
from models.registry import create_model, model_info

from flows.boards import load_board
from flows.build.steps import REPO
from flows.compile import lower
from flows.build.fold import AnalyticFit, fold_to_budget, layer_folds, predicted_fps
from flows.sim.golden import run_golden
from flows.frontend.lower import to_hw_layout

MODELS = ["tfc_w1a1_nobn", "cnv_w1a1_nobn", "binarydensenet_nobn"]


def _graphs(name: str):
    """(QONNX export, hardware graph, trained?) of a zoo model, from its checkpoint when shipped."""
    ckpt = REPO / "checkpoints" / f"{name}.pt"
    model = load_model(ckpt, name)[0] if ckpt.is_file() else create_model(name).eval()
    qonnx, _, hw = lower(model, model_info(name).input_shape)
    return qonnx, hw, ckpt.is_file()


def _rate(run, images: np.ndarray) -> tuple[float, list]:
    t0 = time.perf_counter()
    out = [run(img[None]) for img in images]
    return len(images) / (time.perf_counter() - t0), out


def bench_executors(name: str, batch: int, qonnx_images: int) -> dict:
    """Golden model on a batch against execute_onnx image by image, on the export and on the hardware graph."""
    qmodel, hw, trained = _graphs(name)
    raw = np.random.default_rng(0).integers(0, 256, size=(batch, *model_info(name).input_shape))
    images = to_hw_layout(raw)
    run_golden(hw, images[:2])  # warm-up: imports and first-call allocations are not throughput
    t0 = time.perf_counter()
    golden = run_golden(hw, images)["global_out"][:, 0]
    golden_rate = batch / (time.perf_counter() - t0)
    qin, qout = qmodel.graph.input[0].name, qmodel.graph.output[0].name
    export_rate, scores = _rate(lambda x: execute_onnx(qmodel, {qin: (x / 256).astype(np.float32)})[qout],
                                raw[:qonnx_images])
    hw_rate, labels = _rate(lambda x: execute_onnx(hw, {"global_in": x.astype(np.float32)})["global_out"],
                            images[:qonnx_images])
    if not (np.array_equal(np.concatenate(scores).argmax(1), golden[:qonnx_images])
            and np.array_equal(np.concatenate(labels)[:, 0], golden[:qonnx_images])):
        raise AssertionError(f"{name}: golden model and execute_onnx disagree")
    return {"model": name, "weights": "trained" if trained else "random", "golden": golden_rate,
            "export": export_rate, "hw": hw_rate}


def pin_threads(n: int) -> int | None:
    """Run torch and numpy's OpenBLAS on n threads; returns OpenBLAS's count, None where it is not found.

    The ratio compares executors, not thread pools: execute_onnx's products run in
    numpy's BLAS, which otherwise takes every core, the golden model's in torch.
    """
    torch.set_num_threads(n)
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line.rsplit("/", 1)[-1].lower()}
    except OSError:
        return None
    threads = None
    for path in sorted(paths):
        lib = ctypes.CDLL(path)
        for suffix in ("64_", ""):
            set_threads = getattr(lib, f"openblas_set_num_threads{suffix}", None)
            get_threads = getattr(lib, f"openblas_get_num_threads{suffix}", None)
            if set_threads is not None and get_threads is not None:
                set_threads(n)
                threads = get_threads()
                break
    return threads


def bench_folding(name: str, board: str, target_fps: float, max_utilisation: float) -> dict:
    """The folding `make build` picks: the target, capped by the board's budget."""
    _, hw, _ = _graphs(name)
    b = load_board(board)
    clock = b.default_clock_mhz
    fit = AnalyticFit(b, max_utilisation)
    fold_to_budget(hw, fit, max(1, int(clock * 1e6 // target_fps)), settle=fit.settle)
    folds = layer_folds(hw)
    slowest = max(folds, key=lambda f: f.cycles)
    return {"model": name, "cycles": slowest.cycles, "bottleneck": slowest.name,
            "fps": predicted_fps(hw, clock), "clock": clock}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bnnflow bench golden", description=__doc__)
    p.add_argument("--batch", type=int, default=1000)
    p.add_argument("--qonnx-images", type=int, default=50)
    p.add_argument("--board", default="Pynq-Z2")
    p.add_argument("--target-fps", type=float, default=1_000_000.0)
    p.add_argument("--max-utilisation", type=float, default=0.85)
    p.add_argument("--models", nargs="*", default=MODELS)
    args = p.parse_args(argv)
    warnings.filterwarnings("ignore")
    blas = pin_threads(1)
    print(f"golden model (batch of {args.batch}) vs qonnx execute_onnx (image by image, {args.qonnx_images} images); "
          f"threads: torch {torch.get_num_threads()}, numpy BLAS {blas if blas is not None else 'unknown'}")
    print(f"{'model':22s} {'weights':8s} {'golden img/s':>13s} {'export img/s':>13s} {'ratio':>7s} "
          f"{'hw-graph img/s':>15s} {'ratio':>7s}")
    for name in args.models:
        r = bench_executors(name, args.batch, args.qonnx_images)
        print(f"{r['model']:22s} {r['weights']:8s} {r['golden']:13,.0f} {r['export']:13,.1f} "
              f"{r['golden'] / r['export']:6,.0f}x {r['hw']:15,.1f} {r['golden'] / r['hw']:6,.0f}x")
    print(f"\npredicted throughput, automatic folding for {args.target_fps:,.0f} FPS on {args.board} "
          f"within {args.max_utilisation:.0%} of its resources")
    print(f"{'model':22s} {'cycles/image':>12s} {'bottleneck':>18s} {'FPS':>12s}")
    for name in args.models:
        r = bench_folding(name, args.board, args.target_fps, args.max_utilisation)
        print(f"{r['model']:22s} {r['cycles']:12,d} {r['bottleneck']:>18s} {r['fps']:12,.0f}  at {r['clock']:g} MHz")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
