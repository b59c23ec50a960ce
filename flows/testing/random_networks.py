"""Random small BNN topologies built from the project's own layers, for the property test
(tests/test_property_topologies.py) and the fuzzer (flows/fuzz.py).

A topology is an 8-bit input, a stem convolution, up to two more blocks (each
one of BLOCK_KINDS, optionally max-pooled), and a classifier, BN-free or with
BatchNorm. `randomise` sets the parameters so that thresholds land inside the
accumulator ranges, with negative and zero gains, BN scales and biases, RSign
thresholds and RPReLU shifts and slopes; `random_images` draws 8-bit images.
Every dataclass's repr is the Python expression that rebuilds it (given this
module's names), so a failing network can be written down and replayed.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
from hypothesis import strategies as st

from models.layers import RESIDUAL_ALPHA, RPReLU, RSign, binary_act, input_quant
from models.zoo.binarydensenet import DenseBlock
from models.zoo.blocks import (
    binary_conv,
    classifier,
    conv_sign,
    linear_sign,
    pooled_head,
)
from models.zoo.residual import ResidualBlock

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


@dataclass(frozen=True)
class ResBlock:
    """One h' = shortcut(h) + alpha * act(conv3x3(sign(h * beta))) of models/zoo/residual.py."""

    out: int  # the stream's width after the block: the input's unless a transition
    transition: bool  # max pool the signs for the branch
    rsign: bool  # RSign, else the plain sign
    rprelu: bool  # RPReLU, else the identity
    alpha: float
    beta: float
    # A transition's shortcut: the 2x2 average of the stream, channels repeated (out a multiple
    # of the input's width), as the zoo's; else a 4-bit 1x1 conv of the pooled signs.
    averaged: bool = False


@dataclass(frozen=True)
class Residual:
    """A residual stage: a binary conv of the +-1 input starts the real stream, residual
    blocks update it, and a sign (plain or RSign) makes it +-1 again for what follows."""

    width: int
    k: int
    pad_value: float
    blocks: tuple[ResBlock, ...]
    rsign_out: bool

    def out_side(self, side: int) -> int:
        for block in self.blocks:
            side = side // 2 if block.transition else side
        return side

    def build(self, width: int, batchnorm: bool) -> tuple[nn.Module, int]:
        layers = [binary_conv(width, self.width, self.k, batchnorm, padding=self.k // 2, pad_value=self.pad_value)]
        width = self.width
        for b in self.blocks:
            block = ResidualBlock(width, b.out, b.beta, b.transition, False, batchnorm, self.pad_value, b.alpha,
                                  shortcut_bits=None if b.averaged else 4)
            if b.rsign:
                block.sign = RSign(width)
            if b.rprelu:
                block.act = RPReLU(b.out)
            layers.append(block)
            width = b.out
        layers.append(RSign(width) if self.rsign_out else binary_act())
        return nn.Sequential(*layers), width


def conv_block(side: int, pad_values: st.SearchStrategy[float] = PAD_VALUES) -> st.SearchStrategy[Conv]:
    kernels = st.sampled_from([1, 3] if side >= 3 else [1])
    return st.builds(Conv, WIDTHS, kernels, st.integers(0, 1), pad_values)


def dense_block(side: int) -> st.SearchStrategy[Dense]:
    return st.builds(Dense, WIDTHS, st.integers(1, 2), PAD_VALUES)


# The stream's fixed-point scalings: RESIDUAL_ALPHA first (Hypothesis shrinks towards it),
# others on coarser and finer grids, negative and zero. Stream integers are exact only when
# every coefficient is dyadic, as the layers make RPReLU's and the zoo makes alpha.
ALPHAS = st.sampled_from([RESIDUAL_ALPHA, 0.25, 1.0, 3 / 128, -RESIDUAL_ALPHA, 0.0])
# beta is any float32 (the sign absorbs it as a threshold): 1 (no Mul), negative, far from 1.
BETAS = st.one_of(st.just(1.0), st.floats(-4.0, 4.0, width=32).filter(lambda b: abs(b) >= 1 / 16))


@st.composite
def residual_stage(draw, side: int) -> Residual:
    width = draw(WIDTHS)
    blocks, out = [], width
    for _ in range(draw(st.integers(1, 2))):
        transition = side >= 2 and draw(st.booleans())
        averaged = transition and draw(st.booleans())
        side = side // 2 if transition else side
        if averaged:
            out *= draw(st.integers(1, 3))
        elif transition:
            out = draw(WIDTHS)
        blocks.append(ResBlock(out, transition, draw(st.booleans()), draw(st.booleans()), draw(ALPHAS), draw(BETAS),
                               averaged))
    return Residual(width, draw(st.sampled_from([3, 1])), draw(PAD_VALUES), tuple(blocks), draw(st.booleans()))


# Blocks after the stem: +-1 tensor in, +-1 tensor out, drawn for the current side.
# A new kind is a dataclass with out_side/build and one more entry here.
BLOCK_KINDS = (conv_block, dense_block, residual_stage)


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

    @property
    def exact_scores(self) -> bool:
        """Whether every score is exact by construction, or only the class is checked.

        A residual stream with BatchNorm has irrational per-channel factors that no
        threshold absorbs: flows.frontend.fixed_point rounds them onto a power-of-two grid
        within a reported error bound, so a sign of the stream may in principle flip
        where the real value lies within that bound of its threshold. The class is
        still checked (a flip that changes it would be a measurable accuracy loss).
        BN-free streams are dyadic, exact within the 32-bit budget and checked like
        every other block. (A zero gain's weight scale of 2^-24 can push a stream
        past the budget onto a rounded grid some 2^-27 fine; no draw has put a
        stream value that close to a threshold.)
        """
        return not (self.batchnorm and any(isinstance(b, Residual) for b, _ in self.blocks))

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


# (mean, std) of each randomised parameter. RSign's thresholds and RPReLU's shifts are
# off the 2^-4 grid the layers round the shifts to; a negative raw slope is clamped to 0
# by RPReLU (about a third of them), and an exact zero is its default slope 0.25.
PARAMETERS = {"gain": (0.0, 1.0), "bias": (0.0, 0.3), "threshold": (0.0, 1.0), "shift_in": (0.0, 0.5),
              "shift_out": (0.0, 0.5), "raw_slope": (0.25, 0.5)}


def _normal(g: torch.Generator, shape: torch.Size, std: float) -> torch.Tensor:
    """Normal values with some exact zeros (a constant channel, or a threshold at the accumulator's zero)."""
    v = torch.randn(shape, generator=g) * std
    return torch.where(torch.rand(shape, generator=g) < ZERO_FRACTION, torch.zeros(()), v)


def randomise(model: nn.Module, x: torch.Tensor, seed: int) -> None:
    """Gains, biases and the RSign/RPReLU parameters of PARAMETERS; BN statistics from the data, then shifted.

    Statistics drawn blind (test_compile_zoo) put most thresholds outside the reachable
    range of a small layer; measured ones put them where the accumulators are.
    """
    g = torch.Generator().manual_seed(seed)
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    with torch.no_grad():
        for m in model.modules():
            for name, (mean, std) in PARAMETERS.items():
                p = getattr(m, name, None)
                if isinstance(p, nn.Parameter) and m not in bns:
                    p.copy_(_normal(g, p.shape, std) + mean)
        for m in bns:
            m.momentum = None  # one training pass sets the running statistics to the batch's
        model.train()(x)
        model.eval()
        for m in bns:
            m.running_mean.add_(_normal(g, m.running_mean.shape, 0.5) * m.running_var.sqrt())
            m.weight.copy_(_normal(g, m.weight.shape, 1.0))
            m.bias.copy_(_normal(g, m.bias.shape, 1.0))


def random_images(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """8-bit images of random brightness: i.i.d. pixels alone make every image look alike to a wide layer."""
    peak = rng.integers(1, 256, size=(IMAGES,) + (1,) * len(shape))
    return rng.integers(0, 256, size=(IMAGES, *shape)) * peak // 255
