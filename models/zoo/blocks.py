"""Building blocks shared by the convolutional zoo models.

Each block keeps the hardware contract: binary layers read +-1 tensors (or the
8-bit input), +-1 padding, pooling and concatenation happen on +-1 tensors, and
BN twins differ from BN-free models only by BatchNorm in place of scaled WS +
bias.
"""
from __future__ import annotations

import torch.nn as nn

from ..layers import BinaryConv2d, BinaryLinear, GlobalAvgPool, binary_act

STREAM_SIZE = 32  # images are zero-padded to this side so every pooled size is a power of two


def input_padding(image_size: int) -> int:
    """Zero pixels on each side that bring a (small) image up to STREAM_SIZE."""
    extra = STREAM_SIZE - image_size
    if extra < 0 or extra % 2:
        raise ValueError(f"image_size must be even and at most {STREAM_SIZE}, got {image_size}")
    return extra // 2


def binary_conv(
    in_channels: int,
    out_channels: int,
    kernel_size: int,
    batchnorm: bool,
    padding: int = 0,
    pad_value: float = -1.0,
    weight_bits: int = 1,
) -> nn.Module:
    """A binary convolution ending in a real accumulator: scaled WS + bias, or BatchNorm."""
    if batchnorm:
        conv = BinaryConv2d(in_channels, out_channels, kernel_size, padding=padding,
                            pad_value=pad_value, bias=False, scaled_ws=False, weight_bits=weight_bits)
        return nn.Sequential(conv, nn.BatchNorm2d(out_channels))
    return BinaryConv2d(in_channels, out_channels, kernel_size, padding=padding, pad_value=pad_value,
                        weight_bits=weight_bits)


def conv_sign(
    in_channels: int,
    out_channels: int,
    kernel_size: int,
    batchnorm: bool,
    padding: int = 0,
    pad_value: float = -1.0,
    weight_bits: int = 1,
) -> nn.Sequential:
    """binary_conv followed by the sign: a +-1 output the hardware computes as a threshold."""
    return nn.Sequential(
        binary_conv(in_channels, out_channels, kernel_size, batchnorm, padding, pad_value, weight_bits),
        binary_act(),
    )


def linear_sign(in_features: int, out_features: int, batchnorm: bool) -> nn.Sequential:
    if batchnorm:
        return nn.Sequential(
            BinaryLinear(in_features, out_features, bias=False, scaled_ws=False),
            nn.BatchNorm1d(out_features),
            binary_act(),
        )
    return nn.Sequential(BinaryLinear(in_features, out_features), binary_act())


def classifier(in_features: int, num_classes: int, weight_bits: int = 1) -> BinaryLinear:
    # One power-of-two scale and no bias: the class is the argmax of the
    # integer accumulators, which the hardware's label select computes exactly.
    return BinaryLinear(in_features, num_classes, bias=False, per_channel_scale=False, weight_bits=weight_bits)


def pooled_head(channels: int, num_classes: int, side: int) -> nn.Sequential:
    """Global average pooling of a +-1 tensor of side x side, then the classifier."""
    area = side * side
    if area & (area - 1):
        raise ValueError(f"global pooling over {side}x{side} is not a power of two and would round")
    return nn.Sequential(GlobalAvgPool(), classifier(channels, num_classes))
