"""Random small BNN topologies from the project's own layers: Brevitas forward == golden model.

The topologies, their random parameters and images come from flows/testing/random_networks.py,
shared with `make fuzz` (flows/testing/fuzz.py), which also runs them through the RTL. The
class and the last layer's integers must match on 8-bit grid images (only the class
for a residual stage with BatchNorm, see `Topology.exact_scores`).
"""
from __future__ import annotations

import numpy as np
import torch
from golden_checks import assert_same_order, brevitas_scores
from hypothesis import example, given, settings
from hypothesis import strategies as st

from flows.frontend.export import export_qonnx
from flows.sim.golden import run_golden
from flows.frontend.lower import lower_to_hw, score_node, to_hw_layout
from flows.testing.random_networks import (
    Conv,
    ResBlock,
    Residual,
    Topology,
    random_images,
    randomise,
    topologies,
)
from flows.frontend.streamline import streamline
from models.layers import RESIDUAL_ALPHA

# Found by this test: a descending threshold (negative beta on a residual stream)
# reached the hardware as -T instead of T.
DESCENDING_STREAM_SIGN = Topology(
    in_channels=2, side=4, batchnorm=False, pooled_head=False, hidden=3, classes=2,
    blocks=((Conv(4, 1, 0, 0.0), False),
            (Residual(4, 3, -1.0, (ResBlock(4, True, True, True, -RESIDUAL_ALPHA, 2.107451915740967),
                                   ResBlock(4, True, True, False, 1.0, -0.8810724020004272)), False), False)),
)

# ReActNet's downsampling shortcut on an odd side (floor-mode average of the stream, channels repeated).
AVERAGED_SHORTCUT = Topology(
    in_channels=1, side=5, batchnorm=False, pooled_head=False, hidden=None, classes=3,
    blocks=((Conv(3, 3, 1, 0.0), False),
            (Residual(4, 3, -1.0, (ResBlock(8, True, True, True, RESIDUAL_ALPHA, 1.0, True),), False), False)),
)


@settings(max_examples=50, deadline=None, derandomize=True, database=None)
@given(topology=topologies(), seed=st.integers(0, 2**16))
@example(topology=DESCENDING_STREAM_SIGN, seed=6100)
@example(topology=AVERAGED_SHORTCUT, seed=3)
def test_random_topology_brevitas_equals_golden(topology: Topology, seed: int) -> None:
    torch.manual_seed(seed)
    model = topology.build()
    images = random_images(np.random.default_rng(seed), topology.input_shape)
    x = torch.as_tensor(images, dtype=torch.float32) / 256
    randomise(model, x, seed)
    scores = brevitas_scores(model, x)
    hw = lower_to_hw(streamline(export_qonnx(model, topology.input_shape)))
    ctx = run_golden(hw, to_hw_layout(images), keep_all=True)
    assert np.array_equal(ctx[hw.graph.output[0].name][:, 0], scores.argmax(1))
    if topology.exact_scores:
        assert_same_order(ctx[score_node(hw).output[0]], scores)
