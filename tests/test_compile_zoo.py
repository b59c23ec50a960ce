"""Every zoo model the compiler supports: Brevitas forward == golden model, bit for bit.

Random weights (with randomised gains and biases, so thresholds land everywhere)
on random inputs drawn on the 8-bit grid, and the shipped checkpoints on
Fashion-MNIST test images.
"""
from pathlib import Path

import numpy as np
import pytest
import torch
from golden_checks import assert_golden_equals_brevitas, brevitas_scores
from zoo_names import ZOO

from flows.compile import lower
from models.checkpoint import load_model
from models.datasets import load_raw, to_model_input
from models.registry import create_model, model_info

CHECKPOINTS = Path(__file__).resolve().parents[1] / "checkpoints"
# The real-valued teacher ships too; it teaches and has no hardware.
SHIPPED = sorted(p.stem for p in CHECKPOINTS.glob("*.pt") if model_info(p.stem).hardware)

# The wide twins differ from binarydensenet only in channel counts; the shipped wide checkpoint compiles below.
COMPILED = [name for name in ZOO if "_wide" not in name]


def _randomise(model: torch.nn.Module, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            for name in ("gain", "bias"):
                p = getattr(m, name, None)
                if isinstance(p, torch.nn.Parameter):
                    p.copy_(torch.randn(p.shape, generator=g) * (1.0 if name == "gain" else 0.3))
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 2)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) * 4 + 0.1)
                m.weight.copy_(torch.randn(m.weight.shape, generator=g))
                m.bias.copy_(torch.randn(m.bias.shape, generator=g))


@pytest.mark.parametrize("name", COMPILED)
def test_random_weights_brevitas_equals_golden(name):
    torch.manual_seed(0)
    model = create_model(name).eval()
    _randomise(model, 1)
    shape = model_info(name).input_shape
    hw = lower(model, shape)[2]
    images = np.random.default_rng(2).integers(0, 256, size=(64, *shape))
    assert_golden_equals_brevitas(hw, images, brevitas_scores(model, to_model_input(images)))


@pytest.mark.parametrize("bits", [{"stem_bits": 1, "transition_bits": 1, "classifier_bits": 1},
                                  {"stem_bits": 8, "transition_bits": 2, "classifier_bits": 3}],
                         ids=["all-binary", "other-widths"])
def test_weight_widths_brevitas_equals_golden(bits):
    """+-1 weights on pixels and streams (the all-binary net) and other integer widths: exact."""
    torch.manual_seed(0)
    model = create_model("binarydensenet_nobn", **bits).eval()
    _randomise(model, 3)
    shape = model_info("binarydensenet_nobn").input_shape
    hw = lower(model, shape)[2]
    images = np.random.default_rng(4).integers(0, 256, size=(64, *shape))
    assert_golden_equals_brevitas(hw, images, brevitas_scores(model, to_model_input(images)))


def test_the_shipped_checkpoints_are_all_under_test():
    assert {"tfc_w1a1_nobn", "cnv_w1a1_nobn", "binarydensenet_nobn", "reactnet_nobn"} <= set(SHIPPED)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_checkpoint_brevitas_equals_golden_on_test_images(name):
    model, meta = load_model(CHECKPOINTS / f"{name}.pt", name)
    hw = lower(model, model_info(name).input_shape)[2]
    images, labels = load_raw(meta["dataset"], "test")
    images, labels = images[:1000], labels[:1000]
    scores = brevitas_scores(model, to_model_input(images))
    assert_golden_equals_brevitas(hw, images, scores)
    assert abs((scores.argmax(1) == labels).mean() - meta["test_accuracy"]) < 0.05  # the trained model

