"""Verilator simulation speed and simulated throughput of stitched accelerators.

    bnnflow bench sim                 # tfc, binarydensenet, cnv_w1a1 (FINN folding)
    bnnflow bench sim --only tfc --images 10000

Weights are random (cycles do not depend on them); every run checks RTL == golden.
Simulated cycles/s counts the harness run only, not the (cached) compile: once
in one harness process, and once with the images split over --workers processes
(each shard from an empty pipeline; every simulated cycle counts).
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from qonnx.core.modelwrapper import ModelWrapper

from flows.compile import lower
from flows.fileio import write_json
from flows.build.fold import apply_folding_config, auto_fold, layer_folds
from flows.sim.golden import run_golden
from flows.backends.rtlgen import generate_rtl
from flows.sim.rtlsim import compile_accelerator, simulate

CLOCK_MHZ = 100.0
# FINN's published cnv_w1a1 folding (REFERENCES.md), in layer order onto our MVTUs.
CNV_FINN_FOLDING = [(16, 3), (32, 32), (16, 32), (16, 32), (4, 32), (1, 32), (1, 4), (1, 8), (5, 1)]


@dataclass(frozen=True)
class Case:
    name: str
    model: str
    images: int
    fold: Callable[[ModelWrapper, Path], ModelWrapper]


def _cnv_finn(hw: ModelWrapper, scratch: Path) -> ModelWrapper:
    mvtus = [n.name for n in hw.graph.node if n.op_type == "MVTU"]
    if len(mvtus) != len(CNV_FINN_FOLDING):
        raise ValueError(f"cnv has {len(mvtus)} MVTUs, FINN's folding names {len(CNV_FINN_FOLDING)}")
    cfg: dict = {"Defaults": {}}
    cfg.update({name: {"PE": pe, "SIMD": simd} for name, (pe, simd) in zip(mvtus, CNV_FINN_FOLDING)})
    cfg.update({n.name: {"PE": 1} for n in hw.graph.node if n.op_type == "LabelSelect"})
    # FINN's max pool takes a whole pixel per cycle and is never the bottleneck;
    # ours runs at the width of the MVTU that feeds it (PE 1 would take 50,176 cycles).
    for n in hw.graph.node:
        if n.op_type == "MaxPoolNHWC":
            cfg[n.name] = {"PE": cfg[hw.find_producer(n.input[0]).name]["PE"]}
    write_json(scratch / "folding_config.json", cfg)
    return apply_folding_config(hw, scratch / "folding_config.json")


CASES = {
    "tfc": Case("tfc_w1a1_nobn (Pynq-Z2 folding)", "tfc_w1a1_nobn", 2000,
                lambda hw, _: auto_fold(hw, 100)),
    "dense": Case("binarydensenet_nobn (20k-cycle folding)", "binarydensenet_nobn", 20,
                  lambda hw, _: auto_fold(hw, 20_000)),
    "cnv": Case("cnv_w1a1 CIFAR-10 (FINN folding)", "cnv_w1a1_cifar10", 20,
                _cnv_finn),
}


def _hardware(case: Case, scratch: Path) -> ModelWrapper:
    from models.registry import create_model, model_info

    torch.manual_seed(0)
    model = create_model(case.model).eval()
    return case.fold(lower(model, model_info(case.model).input_shape)[2], scratch)


def run_case(case: Case, images: int, scratch: Path, max_workers: int = 1) -> dict:
    hw = _hardware(case, scratch)
    rtl = scratch / "rtl"
    generate_rtl(hw, rtl)
    t0 = time.perf_counter()
    compile_accelerator(rtl)
    compile_s = time.perf_counter() - t0
    shape = hw.get_tensor_shape(hw.graph.input[0].name)
    x = np.random.default_rng(0).integers(0, 256, size=(images, *shape[1:]))
    golden = run_golden(hw, x)[hw.graph.output[0].name].reshape(images, -1)
    runs = {}
    for workers in sorted({1, max_workers}):
        t0 = time.perf_counter()
        res = simulate(rtl, x, timeout=1_000_000, workers=workers)
        runs[workers] = (res, time.perf_counter() - t0)
    res, sim_s = runs[1]
    shard_res, shard_s = runs[max_workers]
    return {
        "case": case.name, "images": images, "compile_s": compile_s, "sim_s": sim_s, "cycles": res.cycles,
        "mcycles_per_s": res.cycles / sim_s / 1e6, "cycles_per_image": res.cycles_per_image,
        "workers": max_workers, "sharded_s": shard_s, "sharded_mcycles_per_s": shard_res.cycles / shard_s / 1e6,
        "predicted": max(f.cycles for f in layer_folds(hw)),
        "fps": CLOCK_MHZ * 1e6 / res.cycles_per_image,
        "equal": all(np.array_equal(r.outputs, golden) for r, _ in runs.values()),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bnnflow bench sim", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", choices=sorted(CASES), action="append", help="cases to run (default: all)")
    p.add_argument("--images", type=int, help="images per case (default: per case)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                   help="harness processes for the sharded run (default: one per core, %(default)s)")
    args = p.parse_args(argv)
    par = f"Mcyc/s x{args.workers}"
    print(f"{'case':42s} {'images':>6s} {'compile s':>9s} {'sim s':>7s} {'Mcyc/s':>7s} {par:>11s} "
          f"{'cyc/img':>9s} {'pred':>7s} {f'FPS@{CLOCK_MHZ:g}MHz':>12s}  RTL==golden")
    ok = True
    for key in args.only or list(CASES):
        case = CASES[key]
        with tempfile.TemporaryDirectory(prefix=f"bench_sim-{key}-") as tmp:
            r = run_case(case, args.images or case.images, Path(tmp), args.workers)
        ok &= r["equal"]
        print(f"{r['case']:42s} {r['images']:6d} {r['compile_s']:9.1f} {r['sim_s']:7.2f} "
              f"{r['mcycles_per_s']:7.2f} {r['sharded_mcycles_per_s']:11.2f} {r['cycles_per_image']:9.1f} {r['predicted']:7d} {r['fps']:12,.0f}  "
              f"{'yes' if r['equal'] else 'NO'}", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
