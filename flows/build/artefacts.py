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
    """The golden model on the whole test set: the images in input order, their labels, the class it
    picks (pred) and the scores it picks from."""

    images: np.ndarray
    labels: np.ndarray
    pred: np.ndarray
    scores: np.ndarray

    def save(self, path: str | Path) -> None:
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez_compressed(f, images=self.images, labels=self.labels, pred=self.pred, scores=self.scores)

    @classmethod
    def load(cls, path: str | Path) -> "GoldenOutputs":
        with np.load(path) as z:
            return cls(images=z["images"], labels=z["labels"], pred=z["pred"], scores=z["scores"])

    @property
    def accuracy(self) -> float:
        return float((self.pred == self.labels).mean())
