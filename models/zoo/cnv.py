"""FINN's CNV topology (Brevitas CNV): six valid 3x3 binary convs and three FC layers.

    conv 3->64, 64->64, maxpool 2, 64->128, 128->128, maxpool 2, 128->256, 256->256,
    FC 256->512, 512->512, 512->classes          (32x32 input: 30, 28, 14, 12, 10, 5, 3, 1)

A 28x28 image (Fashion-MNIST, the registry default) is zero-padded by 2 pixels
on each side in the first convolution (pixel 0, a value the 8-bit input has),
so every later shape is the CIFAR-10 one and FINN's folding carries across.
Pooling follows the sign, on +-1 tensors.
"""
from __future__ import annotations

import torch.nn as nn

from ..layers import input_quant
from ..registry import register_model
from .blocks import classifier, conv_sign, input_padding, linear_sign

CONVS = ((64, False), (64, True), (128, False), (128, True), (256, False), (256, False))  # (out, pool after)
FCS = (512, 512)
# Step 1 of the BN-free twin (real standardized weights) diverges to chance
# within ten batches at 2e-3 on Fashion-MNIST and learns steadily at 5e-4
# (AdamBNN's rate); the BN twin shares it so the two compare on one recipe.
CNV_LR = 5e-4


def _cnv(batchnorm: bool, in_channels: int, image_size: int, num_classes: int) -> nn.Sequential:
    layers: list[nn.Module] = [input_quant()]
    width, pad = in_channels, input_padding(image_size)
    for i, (out, pool) in enumerate(CONVS):
        # Only the first layer sees the 8-bit input; it alone is padded, with zeros (pixel 0).
        first = dict(padding=pad, pad_value=0.0) if i == 0 else {}
        layers.append(conv_sign(width, out, 3, batchnorm, **first))
        if pool:
            layers.append(nn.MaxPool2d(2))
        width = out
    layers.append(nn.Flatten())
    for out in FCS:
        layers.append(linear_sign(width, out, batchnorm))
        width = out
    layers.append(classifier(width, num_classes))
    return nn.Sequential(*layers)


@register_model(dataset="cifar10", input_shape=(3, 32, 32), suffix="_cifar10", lr=CNV_LR, in_channels=3, image_size=32)
@register_model(dataset="fashion_mnist", input_shape=(1, 28, 28), lr=CNV_LR)
def cnv_w1a1_nobn(in_channels: int = 1, image_size: int = 28, num_classes: int = 10) -> nn.Module:
    """FINN CNV-w1a1, BN-free (scaled WS, per-channel gain and bias)."""
    return _cnv(False, in_channels, image_size, num_classes)


@register_model(dataset="cifar10", input_shape=(3, 32, 32), suffix="_cifar10", lr=CNV_LR, in_channels=3, image_size=32)
@register_model(dataset="fashion_mnist", input_shape=(1, 28, 28), lr=CNV_LR)
def cnv_w1a1(in_channels: int = 1, image_size: int = 28, num_classes: int = 10) -> nn.Module:
    """FINN CNV-w1a1 with BatchNorm."""
    return _cnv(True, in_channels, image_size, num_classes)
