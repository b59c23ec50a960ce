"""FINN's BNN-PYNQ networks through `bnnflow build --onnx`: cycles, FPS and resources beside FINN's figures.

    bnnflow bench bnn-pynq [--estimate analytic|yosys] [--nets tfc_1w1a cnv_1w1a]

Each network comes from brevitas_examples (pretrained=False, random BatchNorm statistics, exported
with export_qonnx as a user would), is built for the Pynq-Z2 at FINN's published folding (where
REFERENCES names one) and at TARGET_FPS=max (the fastest folding whose analytic estimate fits 85%
of the board), up to the resource estimate. FPS = 100 MHz / cycles per image of the slowest layer.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import warnings
from pathlib import Path

from flows.build.artefacts import FOLDED, RESOURCES
from flows.build.fold import bottleneck_cycles
from flows.build.steps import STEPS, BuildConfig, run_build
from flows.fileio import load_onnx, write_json
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
UP_TO = [s.name for s in STEPS].index("estimate") + 1


def _finn_config(onnx: Path, name: str, out: Path) -> Path:
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


def measure(name: str, work: Path, estimate: str) -> list[dict]:
    onnx = work / f"{name}.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bnn_pynq.export(bnn_pynq.build(name), name, onnx)
    runs = [("max", "max", {"fit_board": True})]
    if name in FINN_FOLDING:
        runs.insert(0, ("finn", "FINN's", {"folding_config": _finn_config(onnx, name, work / name)}))
    rows = []
    for key, label, how in runs:
        out = work / f"{name}-{key}"
        cfg = BuildConfig(onnx=onnx, output_dir=out, estimate=estimate, size_fifos=False, log=lambda s: None, **how)
        run_build(cfg, STEPS[:UP_TO])
        cycles = bottleneck_cycles(load_onnx(out / FOLDED))
        total = json.loads((out / RESOURCES).read_text())["total"]
        rows.append({"net": name, "folding": label, "cycles": cycles, "fps": 100e6 / cycles,
                     "LUT": total["LUT"], "BRAM36": total["BRAM36"], "finn": FINN_FIGURES.get(name, "n/a")})
        print(f"  {name} at {label} folding: {cycles:,} cycles", file=sys.stderr, flush=True)
    return rows


def table(rows: list[dict], estimate: str) -> str:
    lines = [f"| network | folding | cycles/image | FPS at 100 MHz | LUT ({estimate}) | BRAM36 ({estimate}) | FINN published |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['net']} | {r['folding']} | {r['cycles']:,} | {r['fps']:,.0f} | {r['LUT']:,.0f} | "
              f"{r['BRAM36']:g} | {r['finn']} |" for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bnnflow bench bnn-pynq", description=__doc__.splitlines()[0])
    p.add_argument("--nets", nargs="+", default=list(bnn_pynq.NETWORKS), choices=bnn_pynq.NETWORKS)
    p.add_argument("--estimate", choices=("analytic", "yosys"), default="analytic")
    a = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-bnn-pynq-") as tmp:
        rows = [r for name in a.nets for r in measure(name, Path(tmp), a.estimate)]
    print(table(rows, a.estimate))
    return 0


if __name__ == "__main__":
    sys.exit(main())
