"""FINN's TFC topology: a binary MLP 784-64-64-64-10 on 28x28 images.

`tfc_w1a1_nobn` replaces each BatchNorm with scaled weight standardization plus
a per-channel bias; `tfc_w1a1` is the BatchNorm twin for comparison.
"""
from __future__ import annotations

import torch.nn as nn

from ..layers import BinaryLinear, binary_act, input_quant
from ..registry import register_model

HIDDEN = (64, 64, 64)


def _tfc(batchnorm: bool, in_features: int = 784, num_classes: int = 10) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Flatten(), input_quant()]
    width = in_features
    for hidden in HIDDEN:
        if batchnorm:
            layers += [BinaryLinear(width, hidden, bias=False, scaled_ws=False), nn.BatchNorm1d(hidden)]
        else:
            layers.append(BinaryLinear(width, hidden))
        layers.append(binary_act())
        width = hidden
    # One power-of-two scale and no bias: the class is the argmax of the integer
    # accumulators, which the hardware's label select computes exactly.
    layers.append(BinaryLinear(width, num_classes, bias=False, per_channel_scale=False))
    return nn.Sequential(*layers)


@register_model(dataset="fashion_mnist", input_shape=(1, 28, 28))
def tfc_w1a1_nobn(num_classes: int = 10) -> nn.Module:
    """Binary MLP 784-64-64-64-10, BN-free (scaled WS, per-channel gain and bias)."""
    return _tfc(batchnorm=False, num_classes=num_classes)


@register_model(dataset="fashion_mnist", input_shape=(1, 28, 28))
def tfc_w1a1(num_classes: int = 10) -> nn.Module:
    """Binary MLP 784-64-64-64-10 with BatchNorm (FINN's TFC-w1a1)."""
    return _tfc(batchnorm=True, num_classes=num_classes)
