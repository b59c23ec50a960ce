"""A residual zoo model through the stitched RTL: the fixed-point residual adds, the
thresholds on the multi-bit stream and its forks into skip and branch, equal to the
golden model at the folding's rate."""
import json

import numpy as np
import pytest
import torch

from flows.compile import lower
from flows.build.fold import auto_fold
from flows.backends.rtlgen import generate_rtl
from models.registry import create_model, model_info
from golden_checks import assert_rtl_equals_golden_at_predicted_rate
from test_compile_zoo import _randomise

MODEL = "reactnet_nobn"
TARGET_CYCLES = 20_000


@pytest.fixture(scope="module")
def accelerator(tmp_path_factory):
    torch.manual_seed(0)
    model = create_model(MODEL).eval()
    _randomise(model, 1)
    hw = lower(model, model_info(MODEL).input_shape)[2]
    auto_fold(hw, TARGET_CYCLES)
    rtl = tmp_path_factory.mktemp("rtl")
    generate_rtl(hw, rtl)
    shape = hw.get_tensor_shape("global_in")
    images = np.random.default_rng(0).integers(0, 256, size=(3, *shape[1:]))
    return hw, rtl, images


def test_rtl_equals_golden_at_predicted_rate(accelerator):
    assert assert_rtl_equals_golden_at_predicted_rate(*accelerator) <= TARGET_CYCLES


def test_manifest_lists_the_residual_units(accelerator):
    _, rtl, _ = accelerator
    verilog = json.loads((rtl / "manifest.json").read_text())["verilog"]
    assert {"bnn_residual_add.v", "bnn_threshold.v"} <= {v.rsplit("/", 1)[-1] for v in verilog}
