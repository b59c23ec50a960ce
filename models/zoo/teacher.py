"""Real-valued teachers: full-precision networks a binary student distils from (`--kd-teacher`).

"How Do Adam and Training Strategies Help BNNs" distils the binary network from a real-valued
one; these are such teachers. They are not binary networks: they train (one step, `--one-step`)
and teach, and the hardware flow refuses them.

resnet20_real is ResNet-20 ("Deep Residual Learning", CIFAR form): a 3x3 stem, three stages of
three basic blocks at 16, 32 and 64 channels, the later two opening with a stride-2 block whose
shortcut is a 1x1 convolution, global average pooling and a linear classifier; BatchNorm and ReLU
throughout.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ..registry import register_model

WIDTHS = (16, 32, 64)
BLOCKS = 3


def _conv_bn(cin: int, cout: int, k: int, stride: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=False), nn.BatchNorm2d(cout)]


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(*_conv_bn(cin, cout, 3, stride), nn.ReLU(inplace=True), *_conv_bn(cout, cout, 3, 1))
        self.shortcut = nn.Sequential(*_conv_bn(cin, cout, 1, stride)) if stride != 1 or cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.shortcut(x))


@register_model(dataset="cifar10", input_shape=(3, 32, 32), suffix="_cifar10", hardware=False, in_channels=3)
@register_model(dataset="fashion_mnist", input_shape=(1, 28, 28), hardware=False)
def resnet20_real(in_channels: int = 1, num_classes: int = 10) -> nn.Module:
    """Real-valued ResNet-20 teacher for --kd-teacher (full precision: trains and teaches, no hardware)."""
    layers: list[nn.Module] = [*_conv_bn(in_channels, WIDTHS[0], 3, 1), nn.ReLU(inplace=True)]
    width = WIDTHS[0]
    for stage, out in enumerate(WIDTHS):
        for block in range(BLOCKS):
            layers.append(BasicBlock(width, out, 2 if stage > 0 and block == 0 else 1))
            width = out
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, num_classes)]
    return nn.Sequential(*layers)
