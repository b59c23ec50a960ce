#!/usr/bin/env python3
"""Validate the accelerator on the shipped test vectors.

Reports the accuracy against the true labels and checks that every prediction
equals the golden model's; exits 1 if any differs. Runs on the board, or on the
virtual board with --virtual (or BNNFLOW_VIRTUAL_BOARD=1).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from driver import load_accelerator  # noqa: E402  (the package's own driver, beside this file)


def positive_int(text: str) -> int:
    """argparse type: an integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--virtual", action="store_true", help="run on the virtual board (as BNNFLOW_VIRTUAL_BOARD=1)")
    p.add_argument("--batch-size", type=positive_int, default=1000, help="images per DMA transfer (default 1000)")
    p.add_argument("-n", "--images", type=positive_int, help="validate only the first N test vectors")
    args = p.parse_args(argv)

    vectors = np.load(HERE / "test_vectors.npz")
    available = len(vectors["labels"])
    if args.images is not None and args.images > available:
        p.error(f"argument -n/--images: the package has {available} test vectors, asked for {args.images}")
    n = available if args.images is None else args.images
    images, labels, golden = vectors["images"][:n], vectors["labels"][:n], vectors["golden"][:n]
    accel = load_accelerator(HERE, batch_size=min(args.batch_size, n), virtual=True if args.virtual else None)
    print(f"board: {accel.device.name}, model {accel.config.model}, {n} test vectors, batch size {accel.batch_size}")

    t0 = time.perf_counter()
    pred = accel.execute(images).reshape(n)
    seconds = time.perf_counter() - t0
    same = int((pred == golden).sum())
    labelled = bool((labels >= 0).all())
    if labelled:
        print(f"accuracy: {(pred == labels).mean():.2%} (golden model: {(golden == labels).mean():.2%})")
    else:
        print("accuracy: n/a (the build's inputs had no labels)")
    name = accel.config.class_name
    for k in range(int(max(pred.max(), golden.max(), labels.max())) + 1):
        mine = labels == k
        recall = f", recall {(pred[mine] == k).mean():.2%} of {int(mine.sum())}" if labelled and mine.any() else ""
        print(f"  class {name(k)}: picked {int((pred == k).sum())} times{recall}")
    print(f"golden model agreement: {same}/{n}")
    print(f"end-to-end: {n / seconds:,.0f} images/s (packing, DMA and unpacking, {seconds:.2f} s)")
    if same != n:
        first = int(np.flatnonzero(pred != golden)[0])
        print(f"FAIL: {n - same} predictions differ from the golden model (first: vector {first}, "
              f"accelerator {name(int(pred[first]))}, golden {name(int(golden[first]))})")
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
