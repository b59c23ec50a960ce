"""Binary residual networks with the BN-free residual scaling of "BNN - BN = ?".

Every block updates a real-valued stream h (fixed point in hardware):

    h' = shortcut(h) + alpha * f(h * beta),   f = act(binary 3x3 conv(sign(.)))

alpha = 0.2; beta = 1 / sqrt(expected variance), which grows by alpha^2 per
block and resets at a transition. A plain block's shortcut is h itself. A
transition block max-pools the +-1 signs for its branch, and its shortcut is
ReActNet's: the 2x2 average of the real stream, its channels repeated to the
block's width. The stream's information thus reaches the next stage. The
earlier shortcut, a 4-bit 1x1 conv of the pooled signs, dropped it: at the same
10 + 10 epochs reactnet_nobn reached 88.31% with it and 90.78% with the average
(docs/training.md). In hardware the average is a window sum of the stream and
the repeat a concatenation of one tensor with itself.

  reactnet:  sign = RSign (learnable threshold), act = RPReLU (slope >= 0)
  resnete:   sign = plain sign, act = identity (ResNet-E of "Back to Simplicity":
             every binary conv has its own shortcut)

Stages of WIDTHS channels at 32, 16, 8, 4 pixels (the 8-bit input zero-padded
to 32x32), BLOCKS blocks each: ResNet-18's layout at a quarter of its width.
The head takes the sign of the stream and classifies all 4x4x128 signs, as
BinaryDenseNet's head does: global average pooling of the signs into 128
inputs left the net underfitting (10 epochs of step 1: 87.82% train, 86.90%
test, on real weights), as it did BinaryDenseNet.

The classifier has 4-bit weights, as BinaryDenseNet's does and as ReActNet
keeps its first and last layers real. The stem has 8-bit weights: unlike BinaryDenseNet's, its
output is not a sign but the start of the stream, so its rounding error carries
into every block. On the step-1 model of reactnet_nobn (88.60% on 3,000 test
images, real weights) a 4-bit stem alone costs 5.70 points and an 8-bit one
none (`bnnflow sensitivity`). The widening is not free in hardware: the stem's
MVTU takes 8 weight bit planes and the first stage's stream 2 more bits, and
the Pynq-Z2 folding of reactnet_nobn went from 2,304 to 4,096 cycles per image
(docs/hardware.md). Every activation is still a sign and every block
convolution binary.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ..layers import RESIDUAL_ALPHA, RPReLU, RSign, binary_act, input_quant, residual_betas
from ..registry import register_model
from .blocks import STREAM_SIZE, binary_conv, classifier, input_padding

WIDTHS = (16, 32, 64, 128)
BLOCKS = 2
STEM_BITS = 8
CLASSIFIER_BITS = 4


class AveragedShortcut(nn.Module):
    """ReActNet's transition shortcut: the 2x2 average of the real stream, its channels
    repeated to the block's width (out_channels must be a multiple of in_channels)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        if out_channels % in_channels:
            raise ValueError(f"an averaged shortcut repeats {in_channels} channels; "
                             f"{out_channels} is not a multiple")
        self.pool, self.copies = nn.AvgPool2d(2), out_channels // in_channels

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        skip = self.pool(h)
        return torch.cat([skip] * self.copies, 1) if self.copies > 1 else skip


class ResidualBlock(nn.Module):
    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        beta: float,
        transition: bool,
        react: bool,
        batchnorm: bool,
        pad_value: float,
        alpha: float = RESIDUAL_ALPHA,
        shortcut_bits: int | None = None,
    ) -> None:
        """A transition's shortcut averages the stream (shortcut_bits None) or is a binary
        conv, of that weight width, of the pooled signs."""
        super().__init__()
        self.beta, self.alpha = beta, alpha
        self.sign = RSign(in_channels) if react else binary_act()
        self.pool = nn.MaxPool2d(2) if transition else nn.Identity()
        self.conv = binary_conv(in_channels, out_channels, 3, batchnorm, padding=1, pad_value=pad_value)
        self.act = RPReLU(out_channels) if react else nn.Identity()
        self.shortcut: nn.Module = nn.Identity()
        self.shortcut_reads_signs = transition and shortcut_bits is not None
        if self.shortcut_reads_signs:
            self.shortcut = binary_conv(in_channels, out_channels, 1, batchnorm, weight_bits=shortcut_bits)
        elif transition:
            self.shortcut = AveragedShortcut(in_channels, out_channels)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        # Multiplying by 1 changes nothing; leaving it out keeps the graph smaller.
        b = self.pool(self.sign(h if self.beta == 1.0 else h * self.beta))
        skip = self.shortcut(b if self.shortcut_reads_signs else h)
        return skip + self.alpha * self.act(self.conv(b))


def _residual(
    react: bool, batchnorm: bool, in_channels: int, image_size: int, num_classes: int, pad_value: float,
    stem_bits: int, classifier_bits: int,
) -> nn.Sequential:
    plan = [(s, b) for s in range(len(WIDTHS)) for b in range(BLOCKS)]
    transitions = [s > 0 and b == 0 for s, b in plan]
    betas = residual_betas(transitions)
    # The stem reads the 8-bit input: zero padding, no sign (its output starts the real stream).
    stem = binary_conv(in_channels, WIDTHS[0], 3, batchnorm, padding=1 + input_padding(image_size), pad_value=0.0,
                       weight_bits=stem_bits)
    layers: list[nn.Module] = [input_quant(), stem]
    width = WIDTHS[0]
    for (stage, _), transition, beta in zip(plan, transitions, betas):
        out = WIDTHS[stage]
        layers.append(ResidualBlock(width, out, beta, transition, react, batchnorm, pad_value))
        width = out
    side = STREAM_SIZE >> (len(WIDTHS) - 1)
    layers += [RSign(width) if react else binary_act(), nn.Flatten(),
               classifier(width * side * side, num_classes, classifier_bits)]
    return nn.Sequential(*layers)


@register_model(dataset="cifar10", input_shape=(3, 32, 32), suffix="_cifar10", in_channels=3, image_size=32)
@register_model(dataset="fashion_mnist", input_shape=(1, 28, 28))
def reactnet_nobn(
    in_channels: int = 1, image_size: int = 28, num_classes: int = 10, pad_value: float = -1.0,
    stem_bits: int = STEM_BITS, classifier_bits: int = CLASSIFIER_BITS,
) -> nn.Module:
    """ReActNet-style residual BNN (RSign, RPReLU, 4 stages x 2 blocks), BN-free."""
    return _residual(True, False, in_channels, image_size, num_classes, pad_value,
                     stem_bits, classifier_bits)


@register_model(dataset="cifar10", input_shape=(3, 32, 32), suffix="_cifar10", in_channels=3, image_size=32)
@register_model(dataset="fashion_mnist", input_shape=(1, 28, 28))
def reactnet_bn(
    in_channels: int = 1, image_size: int = 28, num_classes: int = 10, pad_value: float = -1.0,
    stem_bits: int = STEM_BITS, classifier_bits: int = CLASSIFIER_BITS,
) -> nn.Module:
    """ReActNet-style residual BNN (RSign, RPReLU, 4 stages x 2 blocks) with BatchNorm."""
    return _residual(True, True, in_channels, image_size, num_classes, pad_value,
                     stem_bits, classifier_bits)


@register_model(dataset="cifar10", input_shape=(3, 32, 32), suffix="_cifar10", in_channels=3, image_size=32)
@register_model(dataset="fashion_mnist", input_shape=(1, 28, 28))
def resnete_nobn(
    in_channels: int = 1, image_size: int = 28, num_classes: int = 10, pad_value: float = -1.0,
    stem_bits: int = STEM_BITS, classifier_bits: int = CLASSIFIER_BITS,
) -> nn.Module:
    """ResNet-E-style residual BNN (a shortcut around every binary conv, 4 stages x 2 blocks), BN-free."""
    return _residual(False, False, in_channels, image_size, num_classes, pad_value,
                     stem_bits, classifier_bits)
