"""BinaryDenseNet ("Back to Simplicity", Bethge et al. 2019), sized for a Zynq-7020.

    stem      3x3 conv with 4-bit weights on the 8-bit input (zero-padded to 32x32), sign
    block i   LAYERS[i] dense layers: binary 3x3 conv (+-1 padding) -> sign,
              its GROWTH +-1 channels concatenated to the block's input
    transition maxpool 2 on the +-1 features, 1x1 conv with 4-bit weights cutting
              channels by REDUCTION, sign (the paper's 1x1 conv is full precision)
    head      the +-1 features (8x8) flattened into a classifier with 4-bit weights

Concatenated features are signs, so each is shared by every later layer with
one threshold (the paper re-normalises the real conv outputs per consumer).
No stem pooling: the first block runs at full resolution, as the paper does
for small inputs. The head keeps every position: global average pooling into
an 880-weight binary classifier left the net underfitting (2+2 epochs at 2e-3:
73.99% test against 86.49% for this head, 85.31% for a 4x4 maxpool first).

Every activation is a sign and the dense-block convolutions, which hold most
of the work, have binary weights. The three kinds of layer that binarising
hurt most keep 4-bit weights, as BNNs keep first, last and downsampling
layers at higher precision: on the 7-epoch step-1 model, binary stem weights
alone dropped it from 91.3% to 72.6%, and on the 15-epoch one a binary
classifier cost 2.0 points and each transition 1.1-1.5. From one step-1
model, step 2 ends at 88.85% all binary, 90.28% with the 4-bit stem and
90.61% with the transitions and classifier too (README). The hardware takes
them as bit planes in the same adder trees, not as multipliers.

The `_wide` twins double the growth rate; they still fit a Zynq-7020 at about
the same frame rate, most of the BRAM going to the dense-block weights.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ..layers import input_quant
from ..registry import register_model
from .blocks import STREAM_SIZE, classifier, conv_sign, input_padding

STEM = 32
STEM_BITS = 4
TRANSITION_BITS = 4
CLASSIFIER_BITS = 4
GROWTH = 16
WIDE_GROWTH = 32
LAYERS = (2, 3, 3)
REDUCTION = 2.0


class DenseBlock(nn.Module):
    def __init__(self, channels: int, growth: int, layers: int, batchnorm: bool, pad_value: float) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            conv_sign(channels + i * growth, growth, 3, batchnorm, padding=1, pad_value=pad_value)
            for i in range(layers)
        )
        self.out_channels = channels + layers * growth

    def forward(self, x):
        for layer in self.layers:
            # Both operands are +-1 QuantTensors of scale 1: the concatenation stays one.
            x = torch.cat([x, layer(x)], dim=1)
        return x


def _binarydensenet(
    batchnorm: bool, in_channels: int, image_size: int, num_classes: int, pad_value: float, stem_bits: int,
    stem: int = STEM, growth: int = GROWTH, layers_per_block: tuple[int, ...] = LAYERS,
    reduction: float = REDUCTION, transition_bits: int = TRANSITION_BITS, classifier_bits: int = CLASSIFIER_BITS,
) -> nn.Sequential:
    stem_pad = 1 + input_padding(image_size)
    first = conv_sign(in_channels, stem, 3, batchnorm, stem_pad, pad_value=0.0, weight_bits=stem_bits)
    layers: list[nn.Module] = [input_quant(), first]
    width, side = stem, STREAM_SIZE
    for i, n in enumerate(layers_per_block):
        block = DenseBlock(width, growth, n, batchnorm, pad_value)
        layers.append(block)
        width = block.out_channels
        if i < len(layers_per_block) - 1:
            reduced = int(width // reduction)
            layers += [nn.MaxPool2d(2), conv_sign(width, reduced, 1, batchnorm, weight_bits=transition_bits)]
            width, side = reduced, side // 2
    layers += [nn.Flatten(), classifier(width * side * side, num_classes, classifier_bits)]
    return nn.Sequential(*layers)


@register_model(dataset="cifar10", input_shape=(3, 32, 32), suffix="_cifar10", in_channels=3, image_size=32)
@register_model(dataset="fashion_mnist", input_shape=(1, 28, 28))
def binarydensenet_nobn(
    in_channels: int = 1, image_size: int = 28, num_classes: int = 10, pad_value: float = -1.0,
    stem_bits: int = STEM_BITS, transition_bits: int = TRANSITION_BITS, classifier_bits: int = CLASSIFIER_BITS,
) -> nn.Module:
    """BinaryDenseNet (3 dense blocks, growth 16; 4-bit stem, transitions, classifier), BN-free."""
    return _binarydensenet(False, in_channels, image_size, num_classes, pad_value, stem_bits,
                           transition_bits=transition_bits, classifier_bits=classifier_bits)


@register_model(dataset="cifar10", input_shape=(3, 32, 32), suffix="_cifar10", in_channels=3, image_size=32)
@register_model(dataset="fashion_mnist", input_shape=(1, 28, 28))
def binarydensenet_bn(
    in_channels: int = 1, image_size: int = 28, num_classes: int = 10, pad_value: float = -1.0,
    stem_bits: int = STEM_BITS, transition_bits: int = TRANSITION_BITS, classifier_bits: int = CLASSIFIER_BITS,
) -> nn.Module:
    """BinaryDenseNet (3 dense blocks, growth 16; 4-bit stem, transitions, classifier) with BatchNorm."""
    return _binarydensenet(True, in_channels, image_size, num_classes, pad_value, stem_bits,
                           transition_bits=transition_bits, classifier_bits=classifier_bits)


@register_model(dataset="cifar10", input_shape=(3, 32, 32), suffix="_cifar10", in_channels=3, image_size=32)
@register_model(dataset="fashion_mnist", input_shape=(1, 28, 28))
def binarydensenet_wide_nobn(
    in_channels: int = 1, image_size: int = 28, num_classes: int = 10, pad_value: float = -1.0,
) -> nn.Module:
    """BinaryDenseNet with growth 32 (2.2x the weights, 2.7x the MACs), BN-free: 91.39% vs 90.61% at 7 + 7 epochs."""
    return _binarydensenet(False, in_channels, image_size, num_classes, pad_value, STEM_BITS, growth=WIDE_GROWTH)


@register_model(dataset="cifar10", input_shape=(3, 32, 32), suffix="_cifar10", in_channels=3, image_size=32)
@register_model(dataset="fashion_mnist", input_shape=(1, 28, 28))
def binarydensenet_wide_bn(
    in_channels: int = 1, image_size: int = 28, num_classes: int = 10, pad_value: float = -1.0,
) -> nn.Module:
    """BinaryDenseNet with growth 32, with BatchNorm."""
    return _binarydensenet(True, in_channels, image_size, num_classes, pad_value, STEM_BITS, growth=WIDE_GROWTH)
