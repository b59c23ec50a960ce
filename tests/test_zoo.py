"""Zoo models: registered, within the hardware contract, trainable one step (directly and via models.train)."""
import gzip
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from models.agc import AGC
from models.bench_train import weight_bits_of, macs_per_image
from models.layers import BinaryConv2d, BinaryLinear, binary_layers, set_weight_binarization
from models.registry import create_model, list_models, model_info
from models.train import TrainConfig, build_optimizer, logits_of, train
from zoo_names import ZOO

CONV_ZOO = [name for name in ZOO if not name.startswith("tfc")]
ZYNQ_7020_WEIGHT_BITS = 3_000_000


def _inputs(shape: tuple[int, ...], n: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, *shape), generator=generator) / 256


def test_every_zoo_model_is_registered():
    assert set(ZOO) <= set(list_models())


@pytest.mark.parametrize("name", ZOO)
def test_classifier_is_a_per_tensor_linear_without_bias(name):
    last = binary_layers(create_model(name))[-1]
    assert isinstance(last, BinaryLinear) and last.bias is None
    assert last.quant_weight().scale.numel() == 1


@pytest.mark.parametrize("name", ZOO)
def test_fits_a_zynq_7020(name):
    assert weight_bits_of(create_model(name)) < ZYNQ_7020_WEIGHT_BITS


@pytest.mark.parametrize("name", CONV_ZOO)
def test_twins_differ_only_by_batchnorm(name):
    model = create_model(name)
    has_bn = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
    nobn = name.endswith("_nobn")
    assert has_bn != nobn
    for layer in binary_layers(model)[:-1]:
        assert layer.standardize == nobn and (layer.bias is not None) == nobn


@pytest.mark.parametrize("name", CONV_ZOO)
def test_only_the_first_layer_zero_pads(name):
    convs = [m for m in create_model(name).modules() if isinstance(m, BinaryConv2d)]
    assert all(c.pad_value in (-1.0, 1.0) for c in convs[1:] if c.bipolar_padding or c.padding != (0, 0))
    assert all(c.padding == (0, 0) for c in convs[1:])


@pytest.mark.parametrize("name", CONV_ZOO)
def test_cifar10_entry_gives_class_scores(name):
    info = model_info(f"{name}_cifar10")
    assert (info.dataset, info.input_shape) == ("cifar10", (3, 32, 32))
    model = create_model(info.name).eval()
    with torch.no_grad():
        assert logits_of(model(_inputs((3, 32, 32), 2))).shape == (2, 10)


def test_cnv_has_finn_cnv_layer_sizes():
    shapes = [tuple(m.weight.shape) for m in binary_layers(create_model("cnv_w1a1_nobn", in_channels=3, image_size=32))]
    assert shapes == [
        (64, 3, 3, 3), (64, 64, 3, 3), (128, 64, 3, 3), (128, 128, 3, 3), (256, 128, 3, 3), (256, 256, 3, 3),
        (512, 256), (512, 512), (10, 512),
    ]


def test_macs_count_the_binary_layers():
    # TFC: 784*64 + 64*64 + 64*64 + 64*10 multiply-accumulates per image.
    assert macs_per_image(create_model("tfc_w1a1_nobn"), (1, 28, 28)) == 784 * 64 + 2 * 64 * 64 + 640


@pytest.mark.parametrize("name", ZOO)
def test_one_training_step_reaches_every_parameter(name):
    torch.manual_seed(0)
    model = create_model(name).train()
    set_weight_binarization(model, True)
    agc = AGC(build_optimizer(model, 1e-3, 0.0), exclude=[binary_layers(model)[-1]])
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    x = _inputs(model_info(name).input_shape, 8)
    loss = F.cross_entropy(logits_of(model(x)), torch.arange(8) % 10)
    agc.zero_grad()
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters()), "a parameter got no gradient"
    agc.step()
    changed = [k for k, v in model.named_parameters() if not torch.equal(v.detach(), before[k])]
    assert len(changed) > len(before) // 2


def _write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, dtype=">u4").tobytes()
    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_models_train_runs_a_conv_zoo_model(tmp_path):
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 32), ("t10k", 16)):
        _write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)))
        _write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", rng.integers(0, 10, n))
    config = TrainConfig(
        model="binarydensenet_nobn", data_dir=str(tmp_path), epochs=1, batch_size=16, limit_train_batches=1,
        out_dir=str(tmp_path / "ckpt"), runs_dir=str(tmp_path / "runs"), progress=False, threads=1,
    )
    result = train(config)
    assert [(r["step"], r["epoch"]) for r in result.history] == [(1, 1), (2, 1)]
    assert result.checkpoint.is_file()


def test_residual_transition_shortcut_is_the_averaged_stream_repeated():
    from models.zoo.residual import ResidualBlock

    h = torch.randn(2, 4, 5, 5)
    block = ResidualBlock(4, 8, 1.0, True, True, False, -1.0, alpha=0.0).eval()  # alpha 0: the shortcut alone
    with torch.no_grad():
        assert torch.equal(block(h), F.avg_pool2d(h, 2).repeat(1, 2, 1, 1))
    with pytest.raises(ValueError, match="6 is not a multiple"):
        ResidualBlock(4, 6, 1.0, True, True, False, -1.0)
