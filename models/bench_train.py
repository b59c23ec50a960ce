"""Time training per zoo model on this machine and print a table.

    bnnflow bench train [--models a b] [--batches 5] [--threads 1]

Each model trains `--batches` batches of `--batch-size` (Adam + AGC, binary
weights, the recipe's step 2) on random images of its input shape after one
warm-up batch; the epoch time is that mean batch time times the batches of one
epoch of its default dataset (Fashion-MNIST: 60,000 images). The table also
gives the weight bits and the multiply-accumulates per image.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from .agc import AGC
from .layers import classifier_layer, set_weight_binarization, weighted_layers
from .registry import create_model, list_models, model_info
from .train import PRECISIONS, build_optimizer, logits_of, mixed_precision

TRAIN_IMAGES = {"fashion_mnist": 60_000, "cifar10": 50_000}


@dataclass(frozen=True)
class Bench:
    model: str
    weight_bits: int
    macs_per_image: int
    seconds_per_batch: dict[str, float]  # by precision
    batches_per_epoch: int  # batches of one epoch of the model's dataset

    def epoch_seconds(self, precision: str) -> float:
        return self.seconds_per_batch[precision] * self.batches_per_epoch


def weight_bits_of(model: nn.Module) -> int:
    """Bits of every weight: one per binary weight, more for an integer stem's, 32 for a real-valued network's."""
    return sum(layer.weight.numel() * getattr(layer, "weight_bits", 32) for layer in weighted_layers(model))


def macs_per_image(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Multiply-accumulates of the conv and linear layers for one image."""
    total = 0

    def count(layer: nn.Module, _inputs, output) -> None:
        nonlocal total
        out = logits_of(output)
        per_output = layer.weight[0].numel()  # fan-in of one output value
        total += out[0].numel() * per_output

    hooks = [m.register_forward_hook(count) for m in weighted_layers(model)]
    try:
        with torch.no_grad():
            model.eval()(torch.zeros((1, *input_shape)))
    finally:
        for hook in hooks:
            hook.remove()
    return total


def bench_model(name: str, batches: int, batch_size: int, precisions: Sequence[str] = ("fp32",)) -> Bench:
    """Mean seconds per training batch in each precision, the model laid out as models.train lays it out."""
    info = model_info(name)
    model = create_model(name)
    bits, macs = weight_bits_of(model), macs_per_image(model, info.input_shape)
    set_weight_binarization(model, True)
    model.to(memory_format=torch.channels_last).train()
    agc = AGC(build_optimizer(model, 2e-3, 0.0), exclude=[classifier_layer(model)])
    generator = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (batch_size, *info.input_shape), generator=generator) / 256
    y = torch.randint(0, 10, (batch_size,), generator=generator)

    def step(precision: str) -> None:
        with mixed_precision("cpu", precision):
            logits = logits_of(model(x)).float()
        loss = F.cross_entropy(logits, y)
        agc.zero_grad()
        loss.backward()
        agc.step()

    seconds = {}
    for precision in precisions:
        step(precision)  # warm-up: allocations, lazy initialisation, kernel selection
        tick = time.perf_counter()
        for _ in range(batches):
            step(precision)
        seconds[precision] = (time.perf_counter() - tick) / batches
    return Bench(name, bits, macs, seconds, math.ceil(TRAIN_IMAGES.get(info.dataset, 60_000) / batch_size))


def format_table(rows: Sequence[Bench], batches: int, batch_size: int) -> str:
    """One s/batch and extrapolated-epoch column pair per precision, and each precision's speed-up on the first."""
    precisions = list(rows[0].seconds_per_batch) if rows else []
    head = "| model | weights (kbit) | MMAC/image |"
    rule = "|---|---:|---:|"
    for p in precisions:
        head += f" {p} s/batch ({batch_size}) | {p} epoch |"
        rule += "---:|---:|"
    for p in precisions[1:]:
        head += f" {p} speed-up |"
        rule += "---:|"
    lines = [head, rule]
    for r in rows:
        cells = [r.model, f"{r.weight_bits / 1000:.1f}", f"{r.macs_per_image / 1e6:.2f}"]
        for p in precisions:
            cells += [f"{r.seconds_per_batch[p]:.2f}", f"{r.epoch_seconds(p) / 60:.1f} min"]
        base = r.seconds_per_batch[precisions[0]]
        cells += [f"{base / r.seconds_per_batch[p]:.2f}x" for p in precisions[1:]]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append(f"\n(epoch: the mean of {batches} timed batches times the batches of an epoch)")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bnnflow bench train", description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="*", default=None, help="registry names (default: all)")
    p.add_argument("--batches", type=int, default=5, help="timed batches per model after one warm-up")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--precisions", nargs="+", default=["fp32", "bf16"], choices=sorted(PRECISIONS),
                   help="training precisions to time, the first one the reference (default: fp32 bf16)")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    rows = []
    for name in a.models or list_models():
        rows.append(bench_model(name, a.batches, a.batch_size, a.precisions))
        times = ", ".join(f"{p} {t:.2f}" for p, t in rows[-1].seconds_per_batch.items())
        print(f"{name}: {times} s/batch", file=sys.stderr, flush=True)
    print(format_table(rows, a.batches, a.batch_size))
    return 0


if __name__ == "__main__":
    sys.exit(main())
