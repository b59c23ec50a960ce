"""Checks shared by the compiler and RTL tests: Brevitas against the golden model, and the
stitched RTL against both the golden model and the folding's predicted rate."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from qonnx.core.modelwrapper import ModelWrapper

from flows.build.fold import layer_folds
from flows.frontend.lower import score_node, to_hw_layout
from flows.sim.golden import run_golden
from flows.sim.rtlsim import simulate


def brevitas_scores(model: torch.nn.Module, x: np.ndarray | torch.Tensor) -> np.ndarray:
    """The model's class scores for the model input `x`, as a numpy array."""
    with torch.no_grad():
        y = model(torch.as_tensor(x))
    return (y.value if hasattr(y, "value") else y).numpy()


def assert_same_order(ints: np.ndarray, scores: np.ndarray) -> None:
    """The integers are the real scores under one increasing affine S * v + T shared by every
    class, so ranking them is ranking the real scores."""
    ints, flat = ints.astype(np.float64).reshape(-1), scores.astype(np.float64).reshape(-1)
    i, j = np.argmin(ints), np.argmax(ints)
    if ints[i] == ints[j]:
        assert np.all(flat == flat[0])
        return
    scale = (flat[j] - flat[i]) / (ints[j] - ints[i])
    assert scale > 0 and np.array_equal(ints * scale + (flat[i] - ints[i] * scale), flat)


def assert_golden_equals_brevitas(hw: ModelWrapper, hw_input: np.ndarray, scores: np.ndarray) -> None:
    """The golden model on `hw_input` (the hardware's input integers, NCHW) picks Brevitas'
    class for every image, and the integers its label select ranks order like `scores`."""
    ctx = run_golden(hw, to_hw_layout(hw_input), keep_all=True)
    assert np.array_equal(ctx[hw.graph.output[0].name][:, 0], scores.argmax(1))
    assert_same_order(ctx[score_node(hw).output[0]], scores)


def assert_rtl_equals_golden_at_predicted_rate(hw: ModelWrapper, rtl: Path, images: np.ndarray) -> int:
    """The RTL generated in `rtl` labels `images` (the hardware's input integers, NHWC) as the
    golden model does, at the folding's predicted cycles per image within 5%; returns that
    prediction."""
    res = simulate(rtl, images)
    assert np.array_equal(res.outputs[:, 0], run_golden(hw, images)["global_out"][:, 0])
    predicted = max(f.cycles for f in layer_folds(hw))
    assert abs(res.cycles_per_image - predicted) <= 0.05 * predicted, (res.cycles_per_image, predicted)
    return predicted
