import gzip
import pickle

import numpy as np
import pytest
import torch

from models.datasets import (
    FASHION_MNIST_ROOT,
    DatasetError,
    get_dataset,
    load_raw,
    random_crop_flip,
    read_idx,
    to_model_input,
    train_augmentation,
)

def _write_idx(path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, dtype=">u4").tobytes()
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def _fake_fashion(folder, n_train=6, n_test=4):
    rng = np.random.default_rng(0)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        _write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)))
        _write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", rng.integers(0, 10, n))


def test_fashion_mnist_test_split():
    images, labels = load_raw("fashion_mnist", "test", FASHION_MNIST_ROOT)
    assert images.shape == (10000, 1, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (10000,) and labels.dtype == np.int64
    assert set(np.unique(labels)) == set(range(10))
    data = get_dataset("fashion_mnist", "test", FASHION_MNIST_ROOT)
    x, y = data.tensors
    assert x.shape == (10000, 1, 28, 28) and x.dtype == torch.float32 and y.dtype == torch.int64
    # k / 256 exactly: the hardware sees byte k, the model's 2^-8 quantizer sees k / 256.
    assert torch.equal(x * 256, torch.from_numpy(images).float())
    assert float(x.max()) <= 255 / 256


def test_fake_idx_folder_and_env_override(tmp_path, monkeypatch):
    _fake_fashion(tmp_path)
    monkeypatch.setenv("BNNFLOW_DATA", str(tmp_path))
    images, labels = load_raw("fashion_mnist", "train")
    assert images.shape == (6, 1, 28, 28)
    x, y = get_dataset("fashion_mnist", "test").tensors
    assert x.shape == (4, 1, 28, 28) and torch.all(y <= 9)
    assert torch.equal((x * 256).round(), x * 256)


def test_missing_fashion_folder_names_path_and_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("BNNFLOW_DATA", str(tmp_path / "absent"))
    with pytest.raises(DatasetError) as err:
        get_dataset("fashion_mnist", "train")
    message = str(err.value)
    assert str(tmp_path / "absent") in message
    assert "dataset-fashion-mnist" in message and "BNNFLOW_DATA" in message
    assert isinstance(err.value, RuntimeError)


def test_corrupt_idx_files(tmp_path):
    _fake_fashion(tmp_path)
    images = tmp_path / "t10k-images-idx3-ubyte.gz"
    raw = gzip.decompress(images.read_bytes())
    images.write_bytes(gzip.compress(raw[:-10]))
    with pytest.raises(DatasetError, match="header promises"):
        load_raw("fashion_mnist", "test", tmp_path)
    images.write_bytes(b"not gzip at all")
    with pytest.raises(DatasetError, match="t10k-images"):
        load_raw("fashion_mnist", "test", tmp_path)
    plain = tmp_path / "bad.idx"
    plain.write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(DatasetError, match="magic"):
        read_idx(plain)


def test_unknown_dataset_and_split(tmp_path):
    with pytest.raises(DatasetError, match="known datasets: cifar10, fashion_mnist"):
        load_raw("imagenet", "train")
    with pytest.raises(DatasetError, match="unknown split"):
        load_raw("fashion_mnist", "val", tmp_path)


def _fake_cifar(folder, per_batch=3):
    rng = np.random.default_rng(1)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {
            b"batch_label": b"fake",
            b"labels": [int(v) for v in rng.integers(0, 10, per_batch)],
            b"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
        }
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f, protocol=2)  # the official release is a protocol-2 pickle


def test_cifar10_fake_folder(tmp_path):
    _fake_cifar(tmp_path)
    images, labels = load_raw("cifar10", "train", tmp_path)
    assert images.shape == (15, 3, 32, 32) and images.dtype == np.uint8 and labels.dtype == np.int64
    with open(tmp_path / "data_batch_1", "rb") as f:
        first = pickle.load(f, encoding="bytes")
    # Rows are channel-major: the first 1024 bytes are the red plane.
    assert np.array_equal(images[0, 0].ravel(), first[b"data"][0, :1024])
    x, y = get_dataset("cifar10", "test", tmp_path).tensors
    assert x.shape == (3, 3, 32, 32) and x.dtype == torch.float32
    assert torch.equal(x * 256, torch.from_numpy(load_raw("cifar10", "test", tmp_path)[0]).float())


def test_cifar10_missing_folder_and_batch(tmp_path):
    with pytest.raises(DatasetError, match="--data-dir"):
        load_raw("cifar10", "train", None)
    with pytest.raises(DatasetError, match="nowhere.*--data-dir"):
        load_raw("cifar10", "train", tmp_path / "nowhere")
    _fake_cifar(tmp_path)
    (tmp_path / "data_batch_3").unlink()
    with pytest.raises(DatasetError, match="data_batch_3"):
        load_raw("cifar10", "train", tmp_path)


class _Exploit:
    def __reduce__(self):
        return (print, ("pwned",))


def test_cifar10_pickle_that_runs_code_is_refused(tmp_path, capsys):
    _fake_cifar(tmp_path)
    with open(tmp_path / "test_batch", "wb") as f:
        pickle.dump({b"data": _Exploit(), b"labels": []}, f)
    with pytest.raises(DatasetError, match="refusing to load builtins.print"):
        load_raw("cifar10", "test", tmp_path)
    assert "pwned" not in capsys.readouterr().out


def test_cifar10_wrong_contents(tmp_path):
    _fake_cifar(tmp_path)
    with open(tmp_path / "test_batch", "wb") as f:
        pickle.dump({b"data": np.zeros((2, 10), dtype=np.uint8), b"labels": [0, 1]}, f)
    with pytest.raises(DatasetError, match="3072"):
        load_raw("cifar10", "test", tmp_path)


def test_to_model_input_is_k_over_256():
    raw = np.arange(256, dtype=np.uint8).reshape(1, 1, 16, 16)
    x = to_model_input(raw)
    assert x.dtype == torch.float32
    assert torch.equal(x.ravel(), torch.arange(256, dtype=torch.float32) / 256)


def test_random_crop_flip_moves_whole_pixels():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (8, 3, 32, 32)).float() / 256
    out = random_crop_flip(x, g)
    assert out.shape == x.shape
    assert torch.equal((out * 256).round(), out * 256)
    # Every output value is an input value or padding zero.
    for img_in, img_out in zip(x, out):
        allowed = set(img_in.unique().tolist()) | {0.0}
        assert set(img_out.unique().tolist()) <= allowed
    # With no padding the only change is the flip.
    same = random_crop_flip(x, g, padding=0)
    assert all(torch.equal(a, b) or torch.equal(a, b.flip(-1)) for a, b in zip(x, same))


def test_augmentation_defaults_per_dataset_and_fashion_mnist_shifts_by_two():
    assert train_augmentation("fashion_mnist") is None
    assert train_augmentation("cifar10") is not None
    assert train_augmentation("cifar10", "none") is None
    with pytest.raises(DatasetError, match="unknown augmentation 'mixup'"):
        train_augmentation("fashion_mnist", "mixup")
    # A single lit pixel in the middle lands within 2 pixels of where it was (or of its mirror).
    x = torch.zeros(64, 1, 28, 28)
    x[:, 0, 14, 10] = 1.0
    out = train_augmentation("fashion_mnist", "crop-flip")(x, torch.Generator().manual_seed(0))
    rows, cols = torch.nonzero(out[:, 0], as_tuple=True)[1:]
    assert len(rows) == 64 and (rows - 14).abs().max() == 2
    shift = torch.minimum((cols - 10).abs(), (cols - 17).abs())
    assert shift.max() == 2
