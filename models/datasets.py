"""Local image datasets as raw bytes and as float tensors on the 2^-8 input grid.

Pixel byte k becomes k / 256, not k / 255: the models' 8-bit input quantizer
has scale exactly 2^-8, so k / 256 passes through it unchanged and the
hardware, which receives the raw byte k, sees the same number. Nothing is ever
downloaded; a missing dataset is a DatasetError that says how to provide it.
"""
from __future__ import annotations

import gzip
import os
import pickle
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch.utils.data import TensorDataset

FASHION_MNIST_ROOT = Path("/usr/share/datasets/fashion-mnist")
DATA_ENV = "BNNFLOW_DATA"
PIXEL_SCALE = 256.0
SPLITS = ("train", "test")

_FASHION_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
_FASHION_HINT = (
    "install the Debian package dataset-fashion-mnist (make setup does) "
    f"or set {DATA_ENV} to a folder with the IDX files"
)
_CIFAR_FILES = {"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)}
_CIFAR_HINT = "pass --data-dir pointing to the extracted cifar-10-batches-py folder"

# IDX type codes (third magic byte) that this loader understands.
_IDX_DTYPES = {0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0C: np.dtype(">i4")}


class DatasetError(RuntimeError):
    """A dataset is missing, unreadable or malformed."""


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one gzipped (or plain) IDX file into a numpy array."""
    path = Path(path)
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise DatasetError(f"missing dataset file {path}") from None
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DatasetError(f"cannot read {path}: {exc}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DatasetError(f"{path} is not an IDX file (bad magic number)")
    dtype, ndim = _IDX_DTYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DatasetError(f"{path} is truncated (header)")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header != expected:
        raise DatasetError(f"{path} holds {len(raw) - header} data bytes, its header promises {expected}")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)


def fashion_mnist_root(root: str | os.PathLike | None = None) -> Path:
    """The folder to read Fashion-MNIST from: argument, then $BNNFLOW_DATA, then Debian's."""
    if root is not None:
        return Path(root)
    env = os.environ.get(DATA_ENV)
    return Path(env) if env else FASHION_MNIST_ROOT


def load_fashion_mnist_raw(split: str, root: str | os.PathLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Fashion-MNIST as (uint8 images NCHW (N, 1, 28, 28), int64 labels)."""
    _check_split(split)
    folder = fashion_mnist_root(root)
    image_name, label_name = _FASHION_FILES[split]
    missing = [name for name in (image_name, label_name) if not (folder / name).is_file()]
    if missing:
        raise DatasetError(f"Fashion-MNIST not found in {folder} (missing {', '.join(missing)}): {_FASHION_HINT}")
    try:
        images = read_idx(folder / image_name)
        labels = read_idx(folder / label_name)
    except DatasetError as exc:
        raise DatasetError(f"{exc}: {_FASHION_HINT}") from None
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise DatasetError(f"{folder / image_name} does not hold 28x28 uint8 images: {_FASHION_HINT}")
    if labels.shape != (images.shape[0],):
        raise DatasetError(f"{folder / label_name} does not match its {images.shape[0]} images: {_FASHION_HINT}")
    return images[:, None, :, :].copy(), labels.astype(np.int64)


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """Unpickler that can rebuild numpy arrays and plain containers, nothing else.

    A pickle can name any callable; allowing only numpy's array
    reconstructors keeps a doctored CIFAR folder from running code.
    """

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        # Python 3 writes bytes with protocol 2 as _codecs.encode(str, "latin1").
        ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with open(path, "rb") as f:
            batch = _ArrayOnlyUnpickler(f, encoding="bytes").load()
    except FileNotFoundError:
        raise DatasetError(f"CIFAR-10 batch {path} is missing: {_CIFAR_HINT}") from None
    except Exception as exc:  # a corrupt pickle can fail in many ways; all mean the same
        raise DatasetError(f"cannot read CIFAR-10 batch {path}: {exc}: {_CIFAR_HINT}") from None
    if not isinstance(batch, dict):
        raise DatasetError(f"{path} is not a CIFAR-10 batch (not a dict): {_CIFAR_HINT}")
    # Pickles written by Python 2 come back with bytes keys, Python 3 ones with str.
    entries = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in batch.items()}
    data, labels = entries.get("data"), entries.get("labels")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise DatasetError(f"{path} has no uint8 'data' array of shape (N, 3072): {_CIFAR_HINT}")
    labels = np.asarray(labels, dtype=np.int64) if labels is not None else None
    if labels is None or labels.shape != (data.shape[0],):
        raise DatasetError(f"{path} has no 'labels' list matching its {data.shape[0]} images: {_CIFAR_HINT}")
    return data.reshape(-1, 3, 32, 32), labels


def load_cifar10_raw(split: str, root: str | os.PathLike | None) -> tuple[np.ndarray, np.ndarray]:
    """CIFAR-10 from the python-pickle release as (uint8 images NCHW (N, 3, 32, 32), int64 labels).

    Only data_batch_1..5 and test_batch are read, through an unpickler that
    rebuilds numpy arrays and nothing else; still, take the folder from a
    trusted source (the official cifar-10-python.tar.gz).
    """
    _check_split(split)
    if root is None:
        raise DatasetError(f"CIFAR-10 needs a data folder: {_CIFAR_HINT}")
    folder = Path(root)
    if not folder.is_dir():
        raise DatasetError(f"CIFAR-10 folder {folder} does not exist: {_CIFAR_HINT}")
    parts = [_read_cifar_batch(folder / name) for name in _CIFAR_FILES[split]]
    images = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    if labels.min() < 0 or labels.max() > 9:
        raise DatasetError(f"CIFAR-10 labels in {folder} fall outside 0..9: {_CIFAR_HINT}")
    return images, labels


_RAW_LOADERS: dict[str, Callable[[str, str | os.PathLike | None], tuple[np.ndarray, np.ndarray]]] = {
    "fashion_mnist": load_fashion_mnist_raw,
    "cifar10": load_cifar10_raw,
}


# Class names in label order, as the datasets' own documentation gives them.
CLASS_NAMES: dict[str, tuple[str, ...]] = {
    "fashion_mnist": ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                      "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
    "cifar10": ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
}


def list_datasets() -> list[str]:
    return sorted(_RAW_LOADERS)


def load_raw(name: str, split: str, root: str | os.PathLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Raw uint8 images (N, C, H, W) and int64 labels: what the hardware is fed."""
    try:
        loader = _RAW_LOADERS[name]
    except KeyError:
        raise DatasetError(f"unknown dataset {name!r}; known datasets: {', '.join(list_datasets())}") from None
    return loader(split, root)


def to_model_input(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 pixels to float32 k / 256 (exact: every value is a multiple of 2^-8)."""
    return torch.as_tensor(images).to(torch.float32) / PIXEL_SCALE


def get_dataset(name: str, split: str, root: str | os.PathLike | None = None) -> TensorDataset:
    """A TensorDataset of (float32 images k / 256 of shape (N, C, H, W), int64 labels)."""
    images, labels = load_raw(name, split, root)
    return TensorDataset(to_model_input(images), torch.from_numpy(labels))


def random_crop_flip(images: torch.Tensor, generator: torch.Generator, padding: int = 4) -> torch.Tensor:
    """Per-sample random crop from a zero-padded image and random horizontal flip.

    Padding with 0 and moving whole pixels keeps every value on the k / 256 grid.
    """
    n, _, h, w = images.shape
    padded = torch.nn.functional.pad(images, (padding, padding, padding, padding))
    dy = torch.randint(0, 2 * padding + 1, (n,), generator=generator)
    dx = torch.randint(0, 2 * padding + 1, (n,), generator=generator)
    rows = (dy[:, None] + torch.arange(h)[None, :])[:, None, :, None]
    cols = (dx[:, None] + torch.arange(w)[None, :])[:, None, None, :]
    batch = torch.arange(n)[:, None, None, None]
    channels = torch.arange(images.shape[1])[None, :, None, None]
    out = padded[batch, channels, rows, cols]
    flip = torch.rand(n, generator=generator) < 0.5
    out[flip] = out[flip].flip(-1)
    return out


# Shifts of up to 1/8 of the image side: 4 pixels on CIFAR-10, 2 on the 28-pixel Fashion-MNIST.
CROP_PADDING = {"cifar10": 4, "fashion_mnist": 2}
AUGMENTATIONS = ("none", "crop-flip")
DEFAULT_AUGMENTATION = {"cifar10": "crop-flip"}  # others: none


def train_augmentation(
    name: str, kind: str | None = None
) -> Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None:
    """Batch augmentation for a dataset's training split.

    kind None takes the dataset's default: random crops and flips on
    CIFAR-10, nothing on Fashion-MNIST, whose short runs underfit more
    than they overfit; "crop-flip" or "none" choose.
    """
    kind = kind or DEFAULT_AUGMENTATION.get(name, "none")
    if kind not in AUGMENTATIONS:
        raise DatasetError(f"unknown augmentation {kind!r}; choose one of {', '.join(AUGMENTATIONS)}")
    if kind == "none":
        return None
    padding = CROP_PADDING.get(name, 4)
    return lambda images, generator: random_crop_flip(images, generator, padding)


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise DatasetError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")
