"""A convolutional zoo model through the stitched RTL: window generators, forks, concat,
pooling, global accumulation and the score stage, equal to the golden model."""
import json
import subprocess

import numpy as np
import pytest
import torch
from qonnx.custom_op.registry import getCustomOp

from flows.compile import lower
from flows.build.fold import auto_fold
from flows.backends.rtlgen import generate_rtl
from flows.sim.rtlsim import simulate
from models.registry import create_model, model_info
from golden_checks import assert_rtl_equals_golden_at_predicted_rate

MODEL = "binarydensenet_nobn"


def _folded_rtl(tmp_path_factory, seed: int, target_cycles: int, bias_std: float = 0.0):
    """The model lowered, folded to target_cycles and generated; its biases drawn N(0, bias_std)
    so thresholds sit away from zero."""
    torch.manual_seed(seed)
    model = create_model(MODEL).eval()
    if bias_std:
        with torch.no_grad():
            for m in model.modules():
                if getattr(m, "bias", None) is not None and isinstance(m.bias, torch.nn.Parameter):
                    m.bias.normal_(0, bias_std)
    hw = lower(model, model_info(MODEL).input_shape)[2]
    auto_fold(hw, target_cycles)
    rtl = tmp_path_factory.mktemp(f"rtl_{target_cycles}")
    generate_rtl(hw, rtl)
    return hw, rtl


def _random_images(hw, seed: int) -> np.ndarray:
    shape = hw.get_tensor_shape("global_in")
    return np.random.default_rng(seed).integers(0, 256, size=(3, *shape[1:]))


@pytest.fixture(scope="module")
def accelerator(tmp_path_factory):
    return _folded_rtl(tmp_path_factory, seed=0, target_cycles=20_000, bias_std=0.3)


def test_rtl_equals_golden_at_predicted_rate(accelerator):
    hw, rtl = accelerator
    assert_rtl_equals_golden_at_predicted_rate(hw, rtl, _random_images(hw, 0))


def test_shards_give_the_single_process_result(accelerator, monkeypatch):
    """Images split over three harness processes: same outputs in order, every cycle
    counted, stamps laid end to end, progress summed over the shards."""
    hw, rtl = accelerator
    shape = hw.get_tensor_shape("global_in")
    images = np.random.default_rng(1).integers(0, 256, size=(6, *shape[1:]))
    one = simulate(rtl, images, workers=1)
    monkeypatch.setattr("flows.sim.verilator.PROGRESS_CYCLES", 1 << 12)
    seen = []
    three = simulate(rtl, images, workers=3, progress=lambda done, total: seen.append((done, total)))
    assert np.array_equal(three.outputs, one.outputs)
    shard = simulate(rtl, images[:2], workers=1)
    assert three.cycles == 3 * shard.cycles  # equal shards, each from an empty pipeline
    assert three.latency == shard.latency
    assert np.all(np.diff(three.out_cycles) > 0) and three.out_cycles[-1] < three.cycles
    assert abs(three.cycles_per_image - one.cycles_per_image) <= 0.05 * one.cycles_per_image
    # Each shard holds 2 images: a count above 2 is the sum over shards.
    assert {total for _, total in seen} == {6} and 2 < max(done for done, _ in seen) <= 6


def test_generated_conv_top_is_lint_clean(accelerator):
    _, rtl = accelerator
    manifest = json.loads((rtl / "manifest.json").read_text())
    r = subprocess.run(["verilator", "--lint-only", "-Wall", "--top-module", manifest["top"],
                        *[str(rtl / f) for f in manifest["verilog"]]], capture_output=True, text=True, cwd=rtl)
    assert r.returncode == 0 and "%Warning" not in r.stderr, r.stderr


@pytest.fixture(scope="module")
def whole_windows(tmp_path_factory):
    """The same network folded past what element-wise window generators reach: the one-channel
    stem and the 32x32 dense-block convolutions need whole windows per cycle (9,216 cycles per image
    at one window element, or one pixel's channels, per cycle)."""
    return _folded_rtl(tmp_path_factory, seed=1, target_cycles=3_000)


def test_whole_window_generators_equal_golden_at_predicted_rate(whole_windows):
    hw, rtl = whole_windows
    windows = [getCustomOp(n) for n in hw.graph.node if n.op_type == "SlidingWindow"]
    assert windows[0].parallel and windows[0].get_nodeattr("Channels") == 1
    # Both generators in one design: the 16x16 layers still meet the target a pixel's channels at a time.
    assert {w.parallel for w in windows} == {True, False}
    # A dense block's concat at 32x32 needs whole pixels too: in beats of gcd(32, 16) a pixel takes 3 cycles.
    concats = [getCustomOp(n) for n in hw.graph.node if n.op_type == "StreamConcat"]
    assert concats[0].get_nodeattr("PE") == sum(concats[0].get_nodeattr("InChannels")) == 48
    manifest = json.loads((rtl / "manifest.json").read_text())
    assert "bnn_swg_parallel.v" in manifest["verilog"] and "bnn_swg.v" in manifest["verilog"]
    assert assert_rtl_equals_golden_at_predicted_rate(hw, rtl, _random_images(hw, 2)) <= 3_000
