"""Per-epoch training metrics as CSV, JSON and a training-curve plot."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

FIELDS = ("step", "epoch", "train_loss", "train_acc", "test_acc", "lr", "epoch_seconds")


def _atomic_write_text(path: Path, text: str) -> None:
    # Rewritten every epoch; a reader (or a crash) must never see half a file.
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_metrics(history: list[dict[str, Any]], run_dir: str | os.PathLike) -> tuple[Path, Path]:
    """Write metrics.csv and metrics.json (one record per epoch) under run_dir."""
    run_dir = Path(run_dir)
    csv_path, json_path = run_dir / "metrics.csv", run_dir / "metrics.json"
    lines = [",".join(FIELDS)]
    lines += [",".join(str(record[f]) for f in FIELDS) for record in history]
    _atomic_write_text(csv_path, "\n".join(lines) + "\n")
    _atomic_write_text(json_path, json.dumps(history, indent=2) + "\n")
    return csv_path, json_path


def plot_curves(history: list[dict[str, Any]], path: str | os.PathLike, title: str = "") -> Path:
    """Loss and accuracy against the epoch count across both steps; the step boundary is marked."""
    import matplotlib

    matplotlib.use("Agg")  # headless: no display on build machines
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    x = list(range(1, len(history) + 1))
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    ax_loss.plot(x, [r["train_loss"] for r in history], marker=".", label="train loss")
    ax_acc.plot(x, [100 * r["train_acc"] for r in history], marker=".", label="train")
    ax_acc.plot(x, [100 * r["test_acc"] for r in history], marker=".", label="test")
    for i in range(1, len(history)):
        if history[i]["step"] != history[i - 1]["step"]:
            for ax in (ax_loss, ax_acc):
                ax.axvline(i + 0.5, color="grey", linestyle="--", linewidth=1)
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(True, alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
