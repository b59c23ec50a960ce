"""Random small BNN topologies from the project's own layers: Brevitas forward == golden model.

A topology is an 8-bit input, a stem convolution, up to two more blocks (each
one of BLOCK_KINDS, optionally max-pooled), and a classifier, BN-free or with
BatchNorm. Parameters are randomised so that thresholds land inside the
accumulator ranges, with negative and zero gains, BN scales and biases; the
class and the last layer's integers must match on 8-bit grid images.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
from hypothesis import given, settings
from hypothesis import strategies as st

from flows.export import export_qonnx
from flows.golden import run_golden
from flows.lower import lower_to_hw, score_node, to_hw_layout
from flows.streamline import streamline
from models.layers import input_quant
from models.zoo.binarydensenet import DenseBlock
from models.zoo.blocks import classifier, conv_sign, linear_sign, pooled_head

# Hypothesis shrinks towards the first entry: a typical odd width, not a degenerate single channel.
WIDTHS = st.sampled_from([3, 5, 7, 9, 1, 2, 4])
PAD_VALUES = st.sampled_from([-1.0, 1.0])
IMAGES = 64
ZERO_FRACTION = 0.15


@dataclass(frozen=True)
class Conv:
    """conv_sign: padding with pad_value (0 only on the 8-bit input, which has a pixel 0)."""

    out: int
    k: int
    pad: int
    pad_value: float

    def out_side(self, side: int) -> int:
        return side + 2 * self.pad - self.k + 1

    def build(self, width: int, batchnorm: bool) -> tuple[nn.Module, int]:
        return conv_sign(width, self.out, self.k, batchnorm, padding=self.pad, pad_value=self.pad_value), self.out


@dataclass(frozen=True)
class Dense:
    """BinaryDenseNet's block: each 3x3 layer's +-1 output concatenated to its +-1 input."""

    growth: int
    layers: int
    pad_value: float

    def out_side(self, side: int) -> int:
        return side

    def build(self, width: int, batchnorm: bool) -> tuple[nn.Module, int]:
        block = DenseBlock(width, self.growth, self.layers, batchnorm, self.pad_value)
        return block, block.out_channels


def conv_block(side: int, pad_values: st.SearchStrategy[float] = PAD_VALUES) -> st.SearchStrategy[Conv]:
    kernels = st.sampled_from([1, 3] if side >= 3 else [1])
    return st.builds(Conv, WIDTHS, kernels, st.integers(0, 1), pad_values)


def dense_block(side: int) -> st.SearchStrategy[Dense]:
    return st.builds(Dense, WIDTHS, st.integers(1, 2), PAD_VALUES)


# Blocks after the stem: +-1 tensor in, +-1 tensor out, drawn for the current side.
# A new kind is a dataclass with out_side/build and one more entry here.
BLOCK_KINDS = (conv_block, dense_block)


@dataclass(frozen=True)
class Topology:
    in_channels: int
    side: int
    batchnorm: bool
    blocks: tuple[tuple[object, bool], ...]  # (block, max pool after it)
    pooled_head: bool
    hidden: int | None
    classes: int

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return self.in_channels, self.side, self.side

    def build(self) -> nn.Sequential:
        layers: list[nn.Module] = [input_quant()]
        width, side = self.in_channels, self.side
        for block, pool in self.blocks:
            module, width = block.build(width, self.batchnorm)
            side = block.out_side(side)
            layers.append(module)
            if pool:
                layers.append(nn.MaxPool2d(2))
                side //= 2
        if self.pooled_head:
            return nn.Sequential(*layers, pooled_head(width, self.classes, side))
        layers.append(nn.Flatten())
        features = width * side * side
        if self.hidden:
            layers.append(linear_sign(features, self.hidden, self.batchnorm))
            features = self.hidden
        return nn.Sequential(*layers, classifier(features, self.classes))


@st.composite
def topologies(draw) -> Topology:
    side = in_side = draw(st.sampled_from([4, 5, 6, 7, 8]))
    blocks = []
    for i in range(draw(st.integers(1, 3))):
        if i == 0:
            # The stem reads the 8-bit input, which has a pixel 0 to pad with.
            block = draw(conv_block(side, st.just(0.0)))
        else:
            block = draw(st.sampled_from(BLOCK_KINDS).flatmap(lambda kind: kind(side)))
        side = block.out_side(side)
        # Floor-mode pooling of an odd side drops the last row and column.
        pool = side >= 2 and draw(st.booleans())
        side = side // 2 if pool else side
        blocks.append((block, pool))
    # Global average pooling is exact in float32 only over a power-of-two area.
    pooled = side & (side - 1) == 0 and draw(st.booleans())
    return Topology(
        in_channels=draw(st.integers(1, 3)),
        side=in_side,
        batchnorm=draw(st.booleans()),
        blocks=tuple(blocks),
        pooled_head=pooled,
        hidden=None if pooled else draw(st.one_of(st.none(), WIDTHS)),
        classes=draw(st.integers(2, 5)),
    )


def _draw(g: torch.Generator, shape: torch.Size, std: float) -> torch.Tensor:
    """Normal values with some exact zeros (a constant channel, or a threshold at the accumulator's zero)."""
    v = torch.randn(shape, generator=g) * std
    return torch.where(torch.rand(shape, generator=g) < ZERO_FRACTION, torch.zeros(()), v)


def _randomise(model: nn.Module, x: torch.Tensor, seed: int) -> None:
    """Gains and biases as test_compile_zoo draws them; BN statistics from the data, then shifted.

    Statistics drawn blind (test_compile_zoo) put most thresholds outside the reachable
    range of a small layer; measured ones put them where the accumulators are.
    """
    g = torch.Generator().manual_seed(seed)
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    with torch.no_grad():
        for m in model.modules():
            for name, std in (("gain", 1.0), ("bias", 0.3)):
                p = getattr(m, name, None)
                if isinstance(p, nn.Parameter) and m not in bns:
                    p.copy_(_draw(g, p.shape, std))
        for m in bns:
            m.momentum = None  # one training pass sets the running statistics to the batch's
        model.train()(x)
        model.eval()
        for m in bns:
            m.running_mean.add_(_draw(g, m.running_mean.shape, 0.5) * m.running_var.sqrt())
            m.weight.copy_(_draw(g, m.weight.shape, 1.0))
            m.bias.copy_(_draw(g, m.bias.shape, 1.0))


def _images(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """8-bit images of random brightness: i.i.d. pixels alone make every image look alike to a wide layer."""
    peak = rng.integers(1, 256, size=(IMAGES,) + (1,) * len(shape))
    return rng.integers(0, 256, size=(IMAGES, *shape)) * peak // 255


def _assert_same_order(ints: np.ndarray, scores: np.ndarray) -> None:
    """The integers are the real scores under one increasing affine shared by every class."""
    ints, flat = ints.astype(np.float64).reshape(-1), scores.astype(np.float64).reshape(-1)
    i, j = np.argmin(ints), np.argmax(ints)
    if ints[i] == ints[j]:
        assert np.all(flat == flat[0])
        return
    scale = (flat[j] - flat[i]) / (ints[j] - ints[i])
    assert scale > 0 and np.array_equal(ints * scale + (flat[i] - ints[i] * scale), flat)


@settings(max_examples=30, deadline=None, derandomize=True, database=None)
@given(topology=topologies(), seed=st.integers(0, 2**16))
def test_random_topology_brevitas_equals_golden(topology: Topology, seed: int) -> None:
    torch.manual_seed(seed)
    model = topology.build()
    images = _images(np.random.default_rng(seed), topology.input_shape)
    x = torch.as_tensor(images, dtype=torch.float32) / 256
    _randomise(model, x, seed)
    with torch.no_grad():
        y = model(x)
    scores = (y.value if hasattr(y, "value") else y).numpy()
    hw = lower_to_hw(streamline(export_qonnx(model, topology.input_shape)))
    ctx = run_golden(hw, to_hw_layout(images), keep_all=True)
    assert np.array_equal(ctx[hw.graph.output[0].name][:, 0], scores.argmax(1))
    _assert_same_order(ctx[score_node(hw).output[0]], scores)
