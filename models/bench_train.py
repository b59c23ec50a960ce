"""Time training per zoo model on this machine and print a table.

    python -m models.bench_train [--models a b] [--batches 5] [--threads 1]

Each model trains `--batches` batches of `--batch-size` (Adam + AGC, binary
weights, the recipe's step 2) on random images of its input shape after one
warm-up batch; the epoch time is that mean batch time times the batches of one
epoch of its default dataset (Fashion-MNIST: 60,000 images). The table also
gives the binary weight bits and the multiply-accumulates per image.
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
from .layers import binary_layers, set_weight_binarization
from .registry import create_model, list_models, model_info
from .train import build_optimizer, logits_of

TRAIN_IMAGES = {"fashion_mnist": 60_000, "cifar10": 50_000}


@dataclass(frozen=True)
class Bench:
    model: str
    binary_weight_bits: int
    macs_per_image: int
    seconds_per_batch: float
    epoch_seconds: float


def binary_weight_bits(model: nn.Module) -> int:
    return sum(layer.weight.numel() for layer in binary_layers(model))


def macs_per_image(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Multiply-accumulates of the binary conv and linear layers for one image."""
    total = 0

    def count(layer: nn.Module, _inputs, output) -> None:
        nonlocal total
        out = logits_of(output)
        per_output = layer.weight[0].numel()  # fan-in of one output value
        total += out[0].numel() * per_output

    hooks = [m.register_forward_hook(count) for m in binary_layers(model)]
    try:
        with torch.no_grad():
            model.eval()(torch.zeros((1, *input_shape)))
    finally:
        for hook in hooks:
            hook.remove()
    return total


def bench_model(name: str, batches: int, batch_size: int) -> Bench:
    info = model_info(name)
    model = create_model(name)
    bits, macs = binary_weight_bits(model), macs_per_image(model, info.input_shape)
    set_weight_binarization(model, True)
    model.train()
    agc = AGC(build_optimizer(model, 2e-3, 0.0), exclude=[binary_layers(model)[-1]])
    generator = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (batch_size, *info.input_shape), generator=generator) / 256
    y = torch.randint(0, 10, (batch_size,), generator=generator)

    def step() -> None:
        loss = F.cross_entropy(logits_of(model(x)), y)
        agc.zero_grad()
        loss.backward()
        agc.step()

    step()  # warm-up: allocations and lazy initialisation
    tick = time.perf_counter()
    for _ in range(batches):
        step()
    per_batch = (time.perf_counter() - tick) / batches
    epoch = per_batch * math.ceil(TRAIN_IMAGES.get(info.dataset, 60_000) / batch_size)
    return Bench(name, bits, macs, per_batch, epoch)


def format_table(rows: Sequence[Bench], batches: int, batch_size: int) -> str:
    lines = [
        f"| model | binary weights (kbit) | MMAC/image | s/batch ({batch_size}) | epoch, extrapolated from {batches} batches |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.model} | {r.binary_weight_bits / 1000:.1f} | {r.macs_per_image / 1e6:.2f} "
            f"| {r.seconds_per_batch:.2f} | {r.epoch_seconds / 60:.1f} min |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m models.bench_train", description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="*", default=None, help="registry names (default: all)")
    p.add_argument("--batches", type=int, default=5, help="timed batches per model after one warm-up")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    rows = []
    for name in a.models or list_models():
        rows.append(bench_model(name, a.batches, a.batch_size))
        print(f"{name}: {rows[-1].seconds_per_batch:.2f} s/batch", file=sys.stderr, flush=True)
    print(format_table(rows, a.batches, a.batch_size))
    return 0


if __name__ == "__main__":
    sys.exit(main())
