"""Overlay the test-accuracy curves of several training runs in one plot.

    bnnflow compare BN-free=runs/binarydensenet_nobn BN=runs/binarydensenet_bn -o cmp.png

Each argument is LABEL=RUN, RUN a run folder (its metrics.json) or a
metrics.json or metrics.csv itself, such as the shipped docs/training/<model>.csv. Epochs count across both steps, so runs whose step 1
agrees line up until their step 2 settings part.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from pathlib import Path
from typing import Any, Sequence

from .metrics import FIELDS


class RunError(ValueError):
    """A run named for comparison has no readable metrics."""


def _parse_csv(text: str) -> list[dict[str, Any]]:
    # Numbers come back as numbers; a field write_metrics never wrote stays missing for the check below.
    return [{k: float(v) if k in FIELDS else v for k, v in row.items() if v not in (None, "")}
            for row in csv.DictReader(text.splitlines())]


def read_history(run: str | os.PathLike) -> list[dict[str, Any]]:
    """The per-epoch records of a run folder, its metrics.json or a metrics CSV."""
    path = Path(run)
    if path.is_dir():
        path = path / "metrics.json"
    is_csv = path.suffix == ".csv"
    try:
        text = path.read_text()
        history = _parse_csv(text) if is_csv else json.loads(text)
    except FileNotFoundError:
        raise RunError(f"{path} does not exist") from None
    except (OSError, ValueError) as exc:
        raise RunError(f"{path} is not readable {'CSV' if is_csv else 'JSON'}: {exc}") from None
    if not isinstance(history, list) or not history:
        raise RunError(f"{path} holds no epoch records")
    for i, record in enumerate(history):
        missing = [f for f in FIELDS if not isinstance(record, dict) or f not in record]
        if missing:
            raise RunError(f"{path}: record {i} lacks {', '.join(missing)}")
    return history


def plot_comparison(runs: dict[str, list[dict[str, Any]]], path: str | os.PathLike, title: str = "") -> Path:
    """Test accuracy per epoch of every run; a step boundary is a dashed line in the run's colour."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for label, history in runs.items():
        x = list(range(1, len(history) + 1))
        final = 100 * history[-1]["test_acc"]
        (line,) = ax.plot(x, [100 * r["test_acc"] for r in history], marker=".", label=f"{label} ({final:.2f}%)")
        for i in range(1, len(history)):
            if history[i]["step"] != history[i - 1]["step"]:
                ax.axvline(i + 0.5, color=line.get_color(), linestyle="--", linewidth=1, alpha=0.6)
    ax.set(xlabel="epoch (both steps)", ylabel="test accuracy (%)", title=title or "test accuracy")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _labelled(spec: str) -> tuple[str, str]:
    label, sep, run = spec.partition("=")
    if not sep or not label or not run:
        raise RunError(f"expected LABEL=RUN, got {spec!r}")
    return label, run


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bnnflow compare", description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", metavar="LABEL=RUN")
    p.add_argument("-o", "--out", required=True, help="PNG to write")
    p.add_argument("--title", default="")
    a = p.parse_args(argv)
    try:
        runs = dict(_labelled(spec) for spec in a.runs)
        histories = {label: read_history(run) for label, run in runs.items()}
    except RunError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(plot_comparison(histories, a.out, a.title))
    return 0


if __name__ == "__main__":
    sys.exit(main())
