"""What a build feeds the network: float inputs exactly as the exported graph takes them.

A zoo model gets its dataset's test set (the images / 256 its input quantizer expects). A
QONNX file gets a DATA .npz (`inputs` float32, optional `labels` and class names `classes`), or
without one, random inputs on its input quantizer's grid. Every stage below streamlining sees
the integer codes the host's input quantizer makes of these inputs (flows.frontend.input_quant).
"""
from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from flows.backends.pynq_driver.host_quantizer import int_range
from flows.errors import BuildConfigError
from flows.frontend.input_quant import input_quantizer
from models.datasets import CLASS_NAMES, load_raw

# Random inputs a QONNX build without DATA checks and simulates.
RANDOM_INPUTS = 1000
RANDOM_SEED = 0


@dataclass(frozen=True)
class Inputs:
    x: np.ndarray  # float32, (N, *the graph input's shape without its batch axis)
    labels: np.ndarray | None  # int64 class per input, where known
    classes: tuple[str, ...] | None = None  # class names in label order, where known

    def __len__(self) -> int:
        return len(self.x)

    def head(self, n: int) -> "Inputs":
        return Inputs(self.x[:n], None if self.labels is None else self.labels[:n], self.classes)


def dataset_inputs(dataset: str, data_dir: Path | None) -> Inputs:
    images, labels = load_raw(dataset, "test", data_dir)
    return Inputs(images.astype(np.float32) / 256.0, labels.astype(np.int64), CLASS_NAMES.get(dataset))


def read_data(path: Path, input_shape: tuple[int, ...]) -> Inputs:
    """A DATA .npz, checked against the graph's input shape (C, H, W or features) before any work."""
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        raise BuildConfigError(f"DATA {path}: not a readable .npz ({e})") from None
    if "inputs" not in arrays:
        raise BuildConfigError(f"DATA {path} has no 'inputs' array (it has {', '.join(arrays) or 'none'})")
    x = arrays["inputs"]
    if x.dtype != np.float32:
        raise BuildConfigError(f"DATA {path}: 'inputs' is {x.dtype}, not float32 (exactly what the graph's input takes)")
    if x.ndim < 1 or tuple(x.shape[1:]) != tuple(input_shape) or len(x) == 0:
        raise BuildConfigError(f"DATA {path}: 'inputs' has shape {x.shape}, the graph takes (N, "
                               f"{', '.join(map(str, input_shape))}) with N >= 1")
    if not np.isfinite(x).all():
        raise BuildConfigError(f"DATA {path}: 'inputs' holds NaN or infinite values")
    labels = arrays.get("labels")
    if labels is not None and (labels.shape != (len(x),) or labels.dtype.kind not in "iu"):
        raise BuildConfigError(f"DATA {path}: 'labels' must be {len(x)} integers, one per input "
                               f"(it is {labels.dtype} of shape {labels.shape})")
    if labels is not None and len(labels) and labels.min() < 0:
        raise BuildConfigError(f"DATA {path}: 'labels' holds {int(labels.min())}; a label is a class number from 0")
    classes = arrays.get("classes")
    if classes is not None and (classes.dtype.kind != "U" or classes.ndim != 1 or len(classes) == 0):
        raise BuildConfigError(f"DATA {path}: 'classes' must be a list of class names (strings), "
                               f"not {classes.dtype} of shape {classes.shape}")
    if classes is not None and labels is not None and labels.max() >= len(classes):
        raise BuildConfigError(f"DATA {path}: 'labels' holds {int(labels.max())}, but 'classes' names only "
                               f"{len(classes)} classes (0 to {len(classes) - 1})")
    return Inputs(x, None if labels is None else labels.astype(np.int64),
                  None if classes is None else tuple(str(c) for c in classes))


def random_inputs(streamlined, input_shape: tuple[int, ...], n: int = RANDOM_INPUTS, seed: int = RANDOM_SEED) -> Inputs:
    """Inputs whose quantized codes are uniform over the input quantizer's range: random codes,
    taken back through the quantizer's scale and the elementwise ops the export runs before it."""
    spec = input_quantizer(streamlined)
    rng = np.random.default_rng(seed)
    if spec["kind"] == "BipolarQuant":
        q = rng.choice(np.array([-1.0, 1.0], dtype=np.float32), size=(n, *input_shape))
    else:
        lo, hi = int_range(bool(spec["signed"]), bool(spec["narrow"]), int(spec["bits"]))
        q = rng.integers(lo, hi + 1, size=(n, *input_shape)).astype(np.float32)
    y = (q - np.float32(spec.get("zeropt", 0.0))) * np.float32(spec["scale"])
    for op, value, shape, const_first in reversed(spec["ops"]):
        c = np.asarray(value, dtype=np.float32).reshape(shape)
        if op == "Mul":
            y = y / c
        elif op == "Add":
            y = y - c
        elif op == "Sub":
            y = c - y if const_first else y + c
        else:  # Div
            y = c / y if const_first else y * c
    return Inputs(np.ascontiguousarray(y, dtype=np.float32), None)
