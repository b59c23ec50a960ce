"""Overlay the test-accuracy curves of several training runs in one plot.

    bnnflow compare BN-free=runs/binarydensenet_nobn BN=runs/binarydensenet_bn -o cmp.png
    bnnflow compare BN-free=s0/runs/reactnet_nobn BN-free=s1/runs/reactnet_nobn BN=... -o cmp.png

Each argument is LABEL=RUN, RUN a run folder (its metrics.json) or a
metrics.json or metrics.csv itself, such as the shipped docs/training/<model>.csv. Epochs count across both steps, so runs whose step 1
agrees line up until their step 2 settings part.

A label given several runs (seeds of one recipe) is drawn as the mean
curve in a band from the lowest to the highest run. Every label's final
accuracy is printed as a table: the mean over its runs of the last epoch's
test accuracy, the spread (highest minus lowest run) and the mean over runs
of each run's last three epochs.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from pathlib import Path
from statistics import mean
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


def _check_seeds(label: str, histories: list[list[dict[str, Any]]]) -> None:
    lengths = [len(h) for h in histories]
    if len(set(lengths)) > 1:
        raise RunError(f"the runs labelled {label!r} have {', '.join(map(str, lengths))} epochs: "
                       f"seeds of one recipe must have run equally long")


def summary_table(groups: dict[str, list[list[dict[str, Any]]]]) -> str:
    """Markdown table of each label's final test accuracy over its runs: mean, spread (max - min),
    and the mean over runs of each run's last three epochs."""
    rows = ["| run | seeds | epochs | test accuracy, last epoch (mean) | spread (max - min) | "
            "mean of the last three |", "|---|---:|---:|---:|---:|---:|"]
    for label, histories in groups.items():
        finals = [100 * h[-1]["test_acc"] for h in histories]
        last3 = mean(mean(100 * r["test_acc"] for r in h[-3:]) for h in histories)
        spread = (f"{max(finals) - min(finals):.2f} points ({min(finals):.2f}% to {max(finals):.2f}%)"
                  if len(finals) > 1 else "")
        rows.append(f"| {label} | {len(histories)} | {len(histories[0])} | {mean(finals):.2f}% | {spread} | "
                    f"{last3:.2f}% |")
    return "\n".join(rows)


def plot_comparison(groups: dict[str, list[list[dict[str, Any]]]], path: str | os.PathLike,
                    title: str = "") -> Path:
    """Test accuracy per epoch of every label (the mean over its runs, a band from the lowest to the
    highest); a step boundary is a dashed line in the label's colour."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for label, histories in groups.items():
        history = histories[0]
        x = list(range(1, len(history) + 1))
        per_epoch = [[100 * h[i]["test_acc"] for h in histories] for i in range(len(history))]
        curve = [mean(accs) for accs in per_epoch]
        seeds = f", mean of {len(histories)}" if len(histories) > 1 else ""
        (line,) = ax.plot(x, curve, marker=".", label=f"{label} ({curve[-1]:.2f}%{seeds})")
        if len(histories) > 1:
            ax.fill_between(x, [min(a) for a in per_epoch], [max(a) for a in per_epoch],
                            color=line.get_color(), alpha=0.2, linewidth=0)
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
    groups: dict[str, list[list[dict[str, Any]]]] = {}
    try:
        for spec in a.runs:
            label, run = _labelled(spec)
            groups.setdefault(label, []).append(read_history(run))
        for label, histories in groups.items():
            _check_seeds(label, histories)
    except RunError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(summary_table(groups))
    print(plot_comparison(groups, a.out, a.title))
    return 0


if __name__ == "__main__":
    sys.exit(main())
