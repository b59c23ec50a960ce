"""FINN's BNN-PYNQ networks built from their QONNX files with `bnnflow build --onnx`, beside FINN's figures.

    bnnflow bench bnn-pynq [--estimate analytic|yosys] [--nets tfc_1w1a cnv_1w1a] [--n-fc 100] [--n-cnv 10]

Each network comes from brevitas_examples (pretrained=False, random BatchNorm statistics, exported
with export_qonnx as a user would). Its inputs (random floats in [0, 1), as the datasets give them)
go into a DATA file, and the network is built for the Pynq-Z2 from the command line exactly as a
user types it, every step on: at FINN's published folding (where REFERENCES names one) and at
TARGET_FPS=max (the fastest folding whose analytic estimate fits 85% of the board). The build
itself fails unless the RTL equals the golden model on every simulated input; this bench also
checks the golden model's class against Brevitas' on every input whose maximum score is unique.

Cycles per image are the RTL simulation's (the steady-state interval between images);
FPS = 100 MHz / cycles per image.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from flows.build.artefacts import GOLDEN, RESOURCES, SIM_RESULTS, GoldenOutputs
from flows.build.steps import STEPS, BuildConfig, run_build
from flows.fileio import write_json
from flows.testing import bnn_pynq

# FINN's published foldings (finn-examples folding_config, shared/REFERENCES.md), MVTUs in order.
FINN_FOLDING = {
    "tfc_1w1a": [(16, 49), (8, 8), (8, 8), (10, 8)],
    "cnv_1w1a": [(16, 3), (32, 32), (16, 32), (16, 32), (4, 32), (1, 32), (1, 4), (1, 8), (5, 1)],
}
# FINN's published figures on the xc7z020 at 100 MHz (REFERENCES.md): FPS, LUT, BRAM36.
FINN_FIGURES = {
    "tfc_1w1a": "837,019 FPS (finn-examples)",
    "lfc_1w1a": "~119k FPS, 28,360 LUT, 110 BRAM36 (BNN-PYNQ)",
    "cnv_1w1a": "3,020 FPS, 21,135 LUT, 98 BRAM36 + 9 BRAM18 (finn PR #209)",
}


def finn_folding_config(onnx: Path, name: str, out: Path) -> Path:
    """FINN's PE/SIMD on our MVTUs; a max pool runs at its producer's PE (FINN's takes a pixel a cycle)."""
    cfg = BuildConfig(onnx=onnx, output_dir=out / "lowered", log=lambda s: None)
    hw = run_build(cfg, STEPS[:[s.name for s in STEPS].index("lower") + 1])
    mvtus = [n.name for n in hw.graph.node if n.op_type == "MVTU"]
    folding: dict = {"Defaults": {}}
    folding.update({m: {"PE": pe, "SIMD": simd} for m, (pe, simd) in zip(mvtus, FINN_FOLDING[name], strict=True)})
    for n in hw.graph.node:
        if n.op_type == "MaxPoolNHWC":
            folding[n.name] = {"PE": folding[hw.find_producer(n.input[0]).name]["PE"]}
    path = out / "finn_folding.json"
    write_json(path, folding)
    return path


def _bnnflow() -> list[str]:
    """The console command as `make` runs it, from this interpreter's environment."""
    return [sys.executable, "-m", "flows.cli"]


def build_from_command_line(onnx: Path, data: Path, out: Path, n_sim: int, estimate: str,
                            folding: list[str], log_file: Path) -> float:
    """`bnnflow build --onnx ... --data ...` in a process of its own; its output goes to `log_file`.
    Returns the wall time; raises with the log's last lines if the build fails."""
    cmd = [*_bnnflow(), "build", "--onnx", str(onnx), "--data", str(data), "--board", "Pynq-Z2",
           "--output-dir", str(out), "--n-sim", str(n_sim), "--estimate", estimate, *folding]
    t0 = time.perf_counter()
    with open(log_file, "w") as f:
        rc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT).returncode
    if rc:
        tail = "".join(log_file.read_text().splitlines(keepends=True)[-5:])
        raise RuntimeError(f"{' '.join(cmd)} exited {rc}:\n{tail}")
    return time.perf_counter() - t0


def agreement_with_brevitas(pred: np.ndarray, scores: np.ndarray) -> tuple[int, int]:
    """(inputs whose maximum score is unique, how many of them golden classes as Brevitas does)."""
    unique = bnn_pynq.unique_max(scores)
    return int(unique.sum()), int((pred[unique] == scores.argmax(axis=1)[unique]).sum())


def measure(name: str, work: Path, estimate: str, n: int) -> list[dict]:
    onnx, data = work / f"{name}.onnx", work / f"{name}_inputs.npz"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = bnn_pynq.build(name)
        bnn_pynq.export(model, name, onnx)
    x = bnn_pynq.random_inputs(name, n)
    np.savez(data, inputs=x)
    scores = bnn_pynq.scores(model, x)
    runs = [("max", "max", ["--target-fps", "max"])]
    if name in FINN_FOLDING:
        runs.insert(0, ("finn", "FINN's", ["--folding-config", str(finn_folding_config(onnx, name, work / name))]))
    rows = []
    for key, label, folding in runs:
        out = work / f"{name}-{key}"
        seconds = build_from_command_line(onnx, data, out, n, estimate, folding, work / f"{name}-{key}.log")
        sim = json.loads((out / SIM_RESULTS).read_text())
        total = json.loads((out / RESOURCES).read_text())["total"]
        unique, agree = agreement_with_brevitas(GoldenOutputs.load(out / GOLDEN).pred, scores)
        cycles = sim["cycles_per_image"]
        rows.append({"net": name, "folding": label, "cycles": cycles, "predicted": sim["predicted_cycles_per_image"],
                     "fps": 100e6 / cycles, "LUT": total["LUT"], "BRAM36": total["BRAM36"], "rtl": sim["images"],
                     "unique": unique, "agree": agree, "seconds": seconds, "finn": FINN_FIGURES.get(name, "n/a")})
        print(f"  {name} at {label} folding: {cycles:,.0f} cycles per image in RTL, RTL == golden on "
              f"{sim['images']}, golden == Brevitas on {agree}/{unique} unique-max inputs ({seconds:.0f} s)",
              file=sys.stderr, flush=True)
        if agree != unique:
            raise RuntimeError(f"{name}: golden differs from Brevitas on {unique - agree} inputs with a unique maximum")
    return rows


def table(rows: list[dict], estimate: str) -> str:
    lines = [f"| network | folding | cycles/image (RTL) | FPS at 100 MHz | LUT ({estimate}) | BRAM36 ({estimate}) "
             "| RTL == golden | golden == Brevitas | FINN published |",
             "|---|---|---:|---:|---:|---:|---:|---:|---|"]
    lines += [f"| {r['net']} | {r['folding']} | {r['cycles']:,.0f} | {r['fps']:,.0f} | {r['LUT']:,.0f} | "
              f"{r['BRAM36']:g} | {r['rtl']}/{r['rtl']} | {r['agree']}/{r['unique']} | {r['finn']} |" for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bnnflow bench bnn-pynq", description=__doc__.splitlines()[0])
    p.add_argument("--nets", nargs="+", default=list(bnn_pynq.NETWORKS), choices=bnn_pynq.NETWORKS)
    p.add_argument("--estimate", choices=("analytic", "yosys"), default="analytic")
    p.add_argument("--n-fc", type=int, default=100, help="inputs built and simulated for the FC nets")
    p.add_argument("--n-cnv", type=int, default=10, help="inputs built and simulated for CNV")
    p.add_argument("--keep", type=Path, default=None, help="build here and keep the folders and logs")
    a = p.parse_args(argv)
    if min(a.n_fc, a.n_cnv) < 1:
        p.error(f"--n-fc and --n-cnv must be at least 1 (got {a.n_fc} and {a.n_cnv})")
    with tempfile.TemporaryDirectory(prefix="bench-bnn-pynq-") as tmp:
        work = a.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        rows = [r for name in a.nets
                for r in measure(name, work, a.estimate, a.n_cnv if name.startswith("cnv") else a.n_fc)]
    print(table(rows, a.estimate))
    return 0


if __name__ == "__main__":
    sys.exit(main())
