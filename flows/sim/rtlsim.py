"""Stage 6: cycle-accurate simulation of the generated accelerator with Verilator.

The stitched top is compiled once into the generic C++ AXI-Stream harness; a
batch of images streams through it back to back, and the harness's per-beat
cycle stamps give cycles per image, latency and initiation interval.
`size_fifos` replaces the rule-based link FIFO depths with measured ones.
"""
from __future__ import annotations

import math
import os
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable
from pathlib import Path

import numpy as np
from qonnx.core.modelwrapper import ModelWrapper

from flows.fileio import write_json
from flows.backends.manifest import Manifest
from flows.backends.rtlgen import TOP, generate_rtl
from flows.sim.verilator import Harness, SimResult, SimulationError, build_harness, run_harness


@dataclass(frozen=True)
class RtlSimResult:
    outputs: np.ndarray  # (images, output elements)
    cycles: int
    latency: int  # cycles from the first input beat to the first image's last output beat
    interval: float  # steady-state cycles between consecutive images' outputs
    in_cycles: np.ndarray
    out_cycles: np.ndarray
    fifo_peaks: dict[str, int] | None = None  # link stream -> most words its FIFO held

    @property
    def cycles_per_image(self) -> float:
        return self.interval


class RtlDeadlockError(SimulationError):
    """The accelerator stopped moving data.

    `stalled_stream` is the link where data stopped: the most downstream full link
    FIFO (None if no link FIFO is full); `full_streams` are all full links, upstream
    first, the others being back-pressure queued behind the stall.
    """

    def __init__(self, message: str, err: SimulationError, full_streams: list[str]) -> None:
        super().__init__(message, err.returncode, err.stderr)
        self.full_streams = full_streams
        self.stalled_stream = full_streams[-1] if full_streams else None


def _link_levels(levels: dict[str, int]) -> dict[str, int]:
    """Harness FIFO scopes (TOP.bnn_top.<stream>_i) to link stream names; module-internal FIFOs drop out."""
    prefix = f"TOP.{TOP}."
    return {scope[len(prefix):-2]: n for scope, n in levels.items()
            if scope.startswith(prefix) and scope.endswith("_i") and "." not in scope[len(prefix):]}


def _deadlock_error(manifest: Manifest, err: SimulationError) -> RtlDeadlockError:
    levels = _link_levels(err.fifo_levels)
    # The manifest lists FIFOs in graph order, so the last full one is the most
    # downstream: every full FIFO before it only queues behind it.
    fifos = manifest.fifos
    full = [f["stream"] for f in fifos if levels.get(f["stream"], 0) >= f["depth"]]
    held = ", ".join(f"{f['stream']} {levels[f['stream']]}/{f['depth']}" for f in fifos if levels.get(f["stream"]))
    if full:
        stalled = next(f for f in fifos if f["stream"] == full[-1])
        where = (f"data stopped at link FIFO {stalled['stream']} (full, depth {stalled['depth']}): its consumer "
                 "waits for another stream, e.g. a fork branch FIFO too shallow for the branches' skew")
    else:
        where = "no link FIFO is full, so a module stopped on its own"
    summary = err.stderr.strip().splitlines()[0] if err.stderr.strip() else str(err)
    return RtlDeadlockError(f"accelerator deadlock: {where}. Words held: {held or 'none'}. {summary}",
                            err, full)


def compile_accelerator(rtl_dir: str | Path) -> Harness:
    """Verilate the accelerator in rtl_dir into the C++ harness (cached by content)."""
    rtl_dir = Path(rtl_dir).resolve()
    manifest = Manifest.read(rtl_dir)
    return build_harness([rtl_dir / f for f in manifest.verilog], manifest.top,
                         build_root=rtl_dir.parent / "sim" / "obj")


# A shard is a separate harness process starting from an empty pipeline; each
# needs enough images for its steady-state interval to mean something.
MIN_SHARD_IMAGES = 16


def default_workers(n_images: int) -> int:
    """Harness processes for a batch: one per core, each with at least MIN_SHARD_IMAGES images."""
    return max(1, min(os.cpu_count() or 1, n_images // MIN_SHARD_IMAGES))


def simulate(rtl_dir: str | Path, images: np.ndarray, in_prob: float = 1.0, out_prob: float = 1.0,
             seed: int = 1, timeout: int = 200_000, fifo_stats: bool = False,
             image_interval: int = 0, progress: Callable[[int, int], None] | None = None,
             workers: int | None = None) -> RtlSimResult:
    """Stream `images` (integers, any shape with the batch first) through the accelerator in rtl_dir.

    `fifo_stats` records each link FIFO's peak fill; `image_interval` > 0 starts image k
    no earlier than cycle k * image_interval; `progress` is called with (images done, images)
    about every million cycles. A deadlock raises RtlDeadlockError naming the link where
    data stopped.

    `workers` > 1 splits the batch into that many consecutive shards, each simulated
    by its own harness process (default: `default_workers`; always one with
    `fifo_stats` or `image_interval`, which need one timeline). Outputs are in image
    order; cycle stamps are laid end to end as if the shards ran one after another,
    each from an empty pipeline, so `cycles` is every simulated cycle; the interval is
    the mean over all shards' steady states, the latency the first shard's.
    """
    rtl_dir = Path(rtl_dir).resolve()
    manifest = Manifest.read(rtl_dir)
    fin, fout = manifest.input, manifest.output
    harness = compile_accelerator(rtl_dir)
    n = images.shape[0]
    flat = np.asarray(images).reshape(n, -1)
    per_image_in = fin.elems_per_beat * fin.beats_per_image
    if flat.shape[1] != per_image_in:
        raise ValueError(f"images have {flat.shape[1]} elements, the accelerator takes {per_image_in}")
    if fifo_stats or image_interval:
        workers = 1
    elif workers is None:
        workers = default_workers(n)
    per_image = fout.beats_per_image
    shards = np.array_split(flat, max(1, min(workers, n)))
    done = [0] * len(shards)
    lock = threading.Lock()

    def shard_progress(k: int) -> Callable[[int, int], None] | None:
        if progress is None:
            return None

        def report(beats: int, _: int) -> None:
            with lock:
                done[k] = beats // per_image
                progress(sum(done), n)
        return report

    def run(k: int) -> SimResult:
        return run_harness(harness, shards[k], fin.elem_bits, fout.elem_bits, len(shards[k]) * per_image,
                           out_signed=fout.signed, in_prob=in_prob, out_prob=out_prob, seed=seed + k,
                           timeout=timeout, cwd=rtl_dir, in_elems_per_beat=fin.elems_per_beat,
                           out_elems_per_beat=fout.elems_per_beat, fifo_stats=fifo_stats,
                           in_interval=image_interval, in_group=fin.beats_per_image, progress=shard_progress(k))

    try:
        if len(shards) == 1:
            results = [run(0)]
        else:
            with ThreadPoolExecutor(len(shards)) as pool:
                results = list(pool.map(run, range(len(shards))))
    except SimulationError as e:
        if e.deadlock:
            raise _deadlock_error(manifest, e) from None
        raise
    return _merge_shards(results, per_image)


def _merge_shards(results: list[SimResult], per_image: int) -> RtlSimResult:
    outputs, in_stamps, out_stamps = [], [], []
    offset = steady_cycles = steady_images = 0
    for res in results:
        images = len(res.outputs) // per_image
        outputs.append(res.outputs.reshape(images, -1))
        done = res.stats.out_cycles[per_image - 1 :: per_image]
        steady_cycles += int(done[-1] - done[0])
        steady_images += images - 1
        in_stamps.append(res.stats.in_cycles + offset)
        out_stamps.append(res.stats.out_cycles + offset)
        offset += res.stats.cycles
    first = results[0].stats
    first_done = first.out_cycles[per_image - 1]
    interval = steady_cycles / steady_images if steady_images else float(first_done)
    peaks = _link_levels(results[0].fifo_peaks) if results[0].fifo_peaks is not None else None
    return RtlSimResult(np.concatenate(outputs), offset, int(first_done - first.in_cycles[0]), interval,
                        np.concatenate(in_stamps), np.concatenate(out_stamps), peaks)


# Deep enough that no link FIFO fills while sizing: the input is paced at the
# accelerator's own image rate, so a link holds at most about an image.
SIZING_DEPTH = 1 << 16
# Sized links are this much deeper than the peak seen, so a FIFO never reports
# full where the deep one did not and the paced schedule repeats exactly.
SIZING_MARGIN = 1


class FifoSizingError(RuntimeError):
    """The sized FIFOs changed the outputs or the throughput of the accelerator."""


def _verify_depths(model: ModelWrapper, rtl_dir: Path, images: np.ndarray, depths: dict[str, int],
                   ref: RtlSimResult, timeout: int) -> RtlSimResult:
    generate_rtl(model, rtl_dir, depths)
    try:
        sized = simulate(rtl_dir, images, timeout=timeout, workers=1)
    except RtlDeadlockError as e:
        raise FifoSizingError(f"the sized FIFOs deadlock: {e}") from None
    if not np.array_equal(sized.outputs, ref.outputs):
        raise FifoSizingError("the sized FIFOs changed the outputs")
    if sized.interval > ref.interval:
        raise FifoSizingError(f"the sized FIFOs slow the accelerator from {ref.interval:.1f} "
                              f"to {sized.interval:.1f} cycles per image")
    return sized


def size_fifos(model: ModelWrapper, rtl_dir: str | Path, images: np.ndarray,
               margin: int = SIZING_MARGIN, timeout: int = 200_000) -> dict[str, int]:
    """Measure every link FIFO's peak fill on `images` and regenerate rtl_dir with those depths.

    Three simulations, in scratch folders beside rtl_dir: deep FIFOs at full input rate
    (reference outputs and initiation interval), deep FIFOs with images paced at that
    interval (peak fill per link: an unpaced source would queue every image in front of
    the bottleneck), and the sized design at full rate, which must give the same outputs
    and no longer interval. The sized design takes, per link, the shallower of the peak
    (+ margin) and the rule-based depth, falling back to the peaks alone if that fails
    the check. Writes the sized accelerator to rtl_dir, with the depths and peaks in
    manifest.json ("fifos", "fifo_sizing"), and returns {stream: depth}.
    """
    if images.shape[0] < 2:
        raise ValueError("sizing needs at least two images: the interval between them sets the pace")
    rtl_dir = Path(rtl_dir).resolve()
    rules = {f["stream"]: f.get("rule_depth", f["depth"]) for f in Manifest.read(rtl_dir).fifos}
    streams = list(rules)
    # Siblings of rtl_dir share its compiled-harness cache, so regenerating
    # rtl_dir with the verified depths reuses the sized design's build.
    deep_dir, sized_dir = (rtl_dir.with_name(f"{rtl_dir.name}_fifo_{k}") for k in ("deep", "sized"))
    generate_rtl(model, deep_dir, {s: SIZING_DEPTH for s in streams})
    # One timeline throughout, so the three intervals compare like with like.
    ref = simulate(deep_dir, images, timeout=timeout, workers=1)
    interval = math.ceil(ref.interval)
    # A paced source idles up to an interval between images; that is not a deadlock.
    paced = simulate(deep_dir, images, timeout=timeout + interval, fifo_stats=True, image_interval=interval)
    if not np.array_equal(paced.outputs, ref.outputs):
        raise FifoSizingError("pacing the input changed the outputs")
    peaks = {s: paced.fifo_peaks.get(s, 0) for s in streams}
    measured = {s: max(2, p + margin) for s, p in peaks.items()}
    # A producer that outruns its consumer within an image (a window generator
    # feeding a slow MVTU) fills a deep FIFO without needing it; where the rule
    # is shallower, try it first and keep the measured depth only if it fails.
    tighter = {s: min(d, rules[s]) for s, d in measured.items()}
    candidates = [tighter, measured] if tighter != measured else [measured]
    failures = []
    for depths in candidates:
        try:
            sized = _verify_depths(model, sized_dir, images, depths, ref, timeout)
            break
        except FifoSizingError as e:
            failures.append(str(e))
    else:
        raise FifoSizingError("; ".join(failures))
    manifest = generate_rtl(model, rtl_dir, depths)
    manifest["fifo_sizing"] = {"images": int(images.shape[0]), "interval": sized.interval,
                               "deep_interval": ref.interval, "margin": margin, "peaks": peaks,
                               "rejected": failures}
    write_json(rtl_dir / "manifest.json", manifest)
    for d in (deep_dir, sized_dir):
        shutil.rmtree(d, ignore_errors=True)
    return depths
