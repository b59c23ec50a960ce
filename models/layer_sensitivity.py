"""Which layers lose accuracy when their weights turn binary?

    bnnflow sensitivity runs/binarydensenet_nobn/step1.pt [--images 3000]

Takes a model trained with real weights (the step1.pt of a two-step run) and
scores it on the first --images test images with every layer real, with one
layer at a time binary, and with all of them binary: the drop per layer says
where step 2 loses what step 1 learned, and which layer would repay more bits.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn as nn
from torch.utils.data import TensorDataset
from tqdm import tqdm

from .checkpoint import CheckpointError, load_model
from .datasets import DatasetError, get_dataset
from .layers import binary_layers, set_layer_binarization, set_weight_binarization
from .train import evaluate


@dataclass(frozen=True)
class Sensitivity:
    layer: str  # "(none)" and "(all)" for the two reference rows
    shape: str
    weights: int
    accuracy: float


def describe(layer: nn.Module) -> str:
    """"conv 1->32 3x3" or "linear 5632->10": a row a reader can find in the model."""
    if isinstance(layer, nn.Conv2d):
        k = "x".join(str(d) for d in layer.kernel_size)
        return f"conv {layer.in_channels}->{layer.out_channels} {k}"
    return f"linear {layer.in_features}->{layer.out_features}"


def layer_sensitivity(model: nn.Module, data: TensorDataset, progress: bool | None = None) -> list[Sensitivity]:
    """Accuracy with no binary layer, with each binary layer alone, and with all."""
    names = {id(m): n for n, m in model.named_modules()}
    layers = binary_layers(model)
    rows = []
    set_weight_binarization(model, False)
    rows.append(Sensitivity("(none)", "", 0, evaluate(model, data)))
    for layer in tqdm(layers, desc="binarising one layer at a time", leave=False, disable=None if progress is None else not progress):
        set_layer_binarization(layer, True)
        rows.append(Sensitivity(names[id(layer)], describe(layer), layer.weight.numel(), evaluate(model, data)))
        set_layer_binarization(layer, False)
    set_weight_binarization(model, True)
    rows.append(Sensitivity("(all)", "", sum(m.weight.numel() for m in layers), evaluate(model, data)))
    return rows


def format_table(rows: list[Sensitivity]) -> str:
    reference = rows[0].accuracy
    lines = [f"{'binary layer':<16} {'':<22} {'weights':>9} {'accuracy':>9} {'drop':>7}"]
    lines += [f"{r.layer:<16} {r.shape:<22} {r.weights:>9,} {r.accuracy:>9.2%} {100 * (reference - r.accuracy):>6.2f}p"
              for r in rows]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bnnflow sensitivity", description=__doc__.splitlines()[0])
    p.add_argument("checkpoint", help="a checkpoint trained with real weights, e.g. runs/<model>/step1.pt")
    p.add_argument("--images", type=int, default=3000, help="first N test images (default %(default)s)")
    p.add_argument("--data-dir", default=None, help="dataset folder (default: the dataset's own)")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    a = p.parse_args(argv)
    if a.images < 1:
        print(f"error: --images must be >= 1, got {a.images}", file=sys.stderr)
        return 1
    if a.threads:
        torch.set_num_threads(a.threads)
    try:
        model, meta = load_model(a.checkpoint)
        if "dataset" not in meta:
            raise CheckpointError(f"checkpoint {a.checkpoint} does not say which dataset it was trained on")
        test = get_dataset(meta["dataset"], "test", a.data_dir)
    except (CheckpointError, DatasetError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    data = TensorDataset(*(t[: a.images] for t in test.tensors))
    print(format_table(layer_sensitivity(model, data)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
