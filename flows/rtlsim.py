"""Stage 6: cycle-accurate simulation of the generated accelerator with Verilator.

The stitched top is compiled once into the generic C++ AXI-Stream harness; a
batch of images streams through it back to back, and the harness's per-beat
cycle stamps give cycles per image, latency and initiation interval.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .verilator import Harness, build_harness, run_harness


@dataclass(frozen=True)
class RtlSimResult:
    outputs: np.ndarray  # (images, output elements)
    cycles: int
    latency: int  # cycles from the first input beat to the first image's last output beat
    interval: float  # steady-state cycles between consecutive images' outputs
    in_cycles: np.ndarray
    out_cycles: np.ndarray

    @property
    def cycles_per_image(self) -> float:
        return self.interval


def _manifest(rtl_dir: Path) -> dict:
    return json.loads((rtl_dir / "manifest.json").read_text())


def compile_accelerator(rtl_dir: str | Path) -> Harness:
    """Verilate the accelerator in rtl_dir into the C++ harness (cached by content)."""
    rtl_dir = Path(rtl_dir).resolve()
    manifest = _manifest(rtl_dir)
    return build_harness([rtl_dir / f for f in manifest["verilog"]], manifest["top"],
                         build_root=rtl_dir.parent / "sim" / "obj")


def simulate(rtl_dir: str | Path, images: np.ndarray, in_prob: float = 1.0, out_prob: float = 1.0,
             seed: int = 1, timeout: int = 200_000) -> RtlSimResult:
    """Stream `images` (integers, any shape with the batch first) through the accelerator in rtl_dir."""
    rtl_dir = Path(rtl_dir).resolve()
    manifest = _manifest(rtl_dir)
    fin, fout = manifest["input"], manifest["output"]
    harness = compile_accelerator(rtl_dir)
    n = images.shape[0]
    flat = np.asarray(images).reshape(n, -1)
    if flat.shape[1] != fin["elems_per_beat"] * fin["beats_per_image"]:
        raise ValueError(f"images have {flat.shape[1]} elements, the accelerator takes "
                         f"{fin['elems_per_beat'] * fin['beats_per_image']}")
    per_image = fout["beats_per_image"]
    res = run_harness(harness, flat, fin["elem_bits"], fout["elem_bits"], n * per_image,
                      out_signed=fout["signed"], in_prob=in_prob, out_prob=out_prob, seed=seed,
                      timeout=timeout, cwd=rtl_dir, in_elems_per_beat=fin["elems_per_beat"],
                      out_elems_per_beat=fout["elems_per_beat"])
    out = res.outputs.reshape(n, -1)
    done = res.stats.out_cycles[per_image - 1 :: per_image]
    interval = float(np.diff(done).mean()) if n > 1 else float(done[0])
    return RtlSimResult(out, res.stats.cycles, int(done[0] - res.stats.in_cycles[0]), interval,
                        res.stats.in_cycles, res.stats.out_cycles)
