"""`make bench`: golden model against qonnx's execute_onnx, and per-model cycles and FPS.

Both executors run the same hardware graph in the same process, so the ratio
is measured, not quoted. qonnx runs node by node per image; it is timed on a
subset and reported in images per second.
"""
from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import torch
from qonnx.core.onnx_exec import execute_onnx

from models.checkpoint import load_model
from models.registry import create_model, model_info

from .boards import load_board
from .build import REPO
from .export import export_qonnx
from .fold import auto_fold, layer_folds, predicted_fps
from .golden import run_golden
from .lower import lower_to_hw, to_hw_layout
from .streamline import streamline

MODELS = ["tfc_w1a1_nobn", "cnv_w1a1_nobn", "binarydensenet_nobn"]


def _hardware_graph(name: str):
    ckpt = REPO / "checkpoints" / f"{name}.pt"
    model = load_model(ckpt, name)[0] if ckpt.is_file() else create_model(name).eval()
    return lower_to_hw(streamline(export_qonnx(model, model_info(name).input_shape))), ckpt.is_file()


def bench_executors(name: str, batch: int, qonnx_images: int) -> dict:
    hw, trained = _hardware_graph(name)
    images = to_hw_layout(np.random.default_rng(0).integers(0, 256, size=(batch, *model_info(name).input_shape)))
    t0 = time.perf_counter()
    golden = run_golden(hw, images)["global_out"][:, 0]
    golden_rate = batch / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    ref = [execute_onnx(hw, {"global_in": img[None].astype(np.float32)})["global_out"][0, 0] for img in images[:qonnx_images]]
    qonnx_rate = qonnx_images / (time.perf_counter() - t0)
    if not np.array_equal(np.array(ref), golden[:qonnx_images]):
        raise AssertionError(f"{name}: golden model and execute_onnx disagree")
    return {"model": name, "weights": "trained" if trained else "random", "golden": golden_rate,
            "qonnx": qonnx_rate, "ratio": golden_rate / qonnx_rate}


def bench_folding(name: str, board: str, target_fps: float) -> dict:
    hw, _ = _hardware_graph(name)
    clock = load_board(board).default_clock_mhz
    auto_fold(hw, max(1, int(clock * 1e6 // target_fps)))
    folds = layer_folds(hw)
    slowest = max(folds, key=lambda f: f.cycles)
    return {"model": name, "cycles": slowest.cycles, "bottleneck": slowest.name,
            "fps": predicted_fps(hw, clock), "clock": clock}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--batch", type=int, default=1000)
    p.add_argument("--qonnx-images", type=int, default=50)
    p.add_argument("--board", default="Pynq-Z2")
    p.add_argument("--target-fps", type=float, default=1_000_000.0)
    p.add_argument("--models", nargs="*", default=MODELS)
    args = p.parse_args(argv)
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    print(f"golden model vs qonnx execute_onnx, batch of {args.batch} (qonnx timed on {args.qonnx_images} images)")
    print(f"{'model':22s} {'weights':8s} {'golden img/s':>14s} {'qonnx img/s':>12s} {'ratio':>8s}")
    for name in args.models:
        r = bench_executors(name, args.batch, args.qonnx_images)
        print(f"{r['model']:22s} {r['weights']:8s} {r['golden']:14,.0f} {r['qonnx']:12,.1f} {r['ratio']:7,.0f}x")
    print(f"\npredicted throughput, automatic folding for {args.target_fps:,.0f} FPS on {args.board}")
    print(f"{'model':22s} {'cycles/image':>12s} {'bottleneck':>18s} {'FPS':>12s}")
    for name in args.models:
        r = bench_folding(name, args.board, args.target_fps)
        print(f"{r['model']:22s} {r['cycles']:12,d} {r['bottleneck']:>18s} {r['fps']:12,.0f}  at {r['clock']:g} MHz")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
