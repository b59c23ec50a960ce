"""The files of a build folder: one name each, and the golden model's outputs as a type."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from flows.fileio import atomic_path

QONNX = "01_qonnx.onnx"
STREAMLINED = "02_streamlined.onnx"
HW = "03_hw.onnx"
FOLDED = "04_folded.onnx"
FOLDING_CONFIG = "folding_config.json"
GOLDEN = "golden.npz"
GOLDEN_SUMMARY = "golden.json"
RTL = "rtl"
ESTIMATE = "estimate"
RESOURCES = "estimate/resources.json"
SIM_RESULTS = "sim/results.json"
SIM_OUTPUTS = "sim/outputs.npz"
VIVADO = "vivado"
DEPLOY = "deploy"
FINN = "finn"
REPORT = "report.md"
CYCLES_PLOT = "cycles.png"
RESOURCES_PLOT = "resources.png"


@dataclass(frozen=True)
class GoldenOutputs:
    """The golden model on every input of the build, in input order: the integer codes the hardware
    takes (images: pixel bytes for the zoo), the labels (-1 where unknown), the class it picks (pred)
    and the scores it picks from; the class names in label order where the inputs name them."""

    images: np.ndarray
    labels: np.ndarray
    pred: np.ndarray
    scores: np.ndarray
    classes: tuple[str, ...] | None = None

    def save(self, path: str | Path) -> None:
        names = {} if self.classes is None else {"classes": np.array(self.classes)}
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez_compressed(f, images=self.images, labels=self.labels, pred=self.pred, scores=self.scores,
                                **names)

    @classmethod
    def load(cls, path: str | Path) -> "GoldenOutputs":
        with np.load(path) as z:
            classes = tuple(str(c) for c in z["classes"]) if "classes" in z.files else None
            return cls(images=z["images"], labels=z["labels"], pred=z["pred"], scores=z["scores"], classes=classes)

    @property
    def accuracy(self) -> float | None:
        return accuracy(self.pred, self.labels)


def class_name(k: int, classes: tuple[str, ...] | None) -> str:
    """`3 (Dress)` where the class has a name, else `3`."""
    return f"{k} ({classes[k]})" if classes is not None and 0 <= k < len(classes) else str(k)


def accuracy(pred: np.ndarray, labels: np.ndarray) -> float | None:
    """The share of predictions equal to their labels; None where the labels are unknown (-1)."""
    return None if (labels < 0).any() else float((pred == labels).mean())
