"""Binary layers with the BN-free recipe of "BNN - BN = ?" (Chen et al. 2021).

Scaled weight standardization replaces batch normalization before binarization:

    W_hat = g_c * gamma * (W - mean_c) / ((std_c + eps) * sqrt(fan_in))

with a learnable per-output-channel gain g_c; W_hat is then binarized to
sign(W_hat) times a power-of-two scale, and a learnable per-channel bias follows
(quantized to the accumulator grid so that thresholds are exact integers).
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
from brevitas.nn import QuantConv2d, QuantIdentity, QuantLinear

from .quantizers import BinaryAct, BinaryWeightPerChannel, BinaryWeightPerTensor, IntBias, Uint8Input

WS_EPS = 1e-5


class ScaledWSMixin:
    """Adds scaled weight standardization in front of a Brevitas weight quantizer."""

    gamma: float
    standardize: bool

    def _init_ws(self, standardize: bool, gamma: float) -> None:
        self.standardize = standardize
        self.gamma = gamma
        out = self.weight.shape[0]
        gain_shape = (out,) + (1,) * (self.weight.dim() - 1)
        self.gain = nn.Parameter(torch.ones(gain_shape)) if standardize else None

    def standardized_weight(self) -> torch.Tensor:
        w = self.weight
        if not self.standardize:
            return w
        dims = tuple(range(1, w.dim()))
        fan_in = math.prod(w.shape[1:])
        mean = w.mean(dim=dims, keepdim=True)
        std = w.std(dim=dims, keepdim=True, unbiased=False)
        return self.gain * self.gamma * (w - mean) / ((std + WS_EPS) * math.sqrt(fan_in))

    def quant_weight(self, quant_input=None, subtensor_slice_list=None):
        return self.weight_quant(self.standardized_weight())

    @torch.no_grad()
    def freeze_standardization(self) -> None:
        """Bake W_hat into the weight so an export sees the exact tensor the forward used.

        Left to the exporter, the standardization would be recomputed in ONNX
        Runtime, and a weight near zero could change sign.
        """
        if self.standardize:
            self.weight.copy_(self.standardized_weight())
            self.standardize = False
            self.gain = None


class BinaryLinear(ScaledWSMixin, QuantLinear):
    """Linear layer with binary weights, optional scaled WS and an integer-grid bias."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        scaled_ws: bool = True,
        per_channel_scale: bool = True,
        gamma: float = 1.0,
    ) -> None:
        weight_quant = BinaryWeightPerChannel if per_channel_scale else BinaryWeightPerTensor
        super().__init__(
            in_features,
            out_features,
            bias=bias,
            weight_quant=weight_quant,
            bias_quant=IntBias if bias else None,
        )
        self._init_ws(scaled_ws, gamma)


class BinaryConv2d(ScaledWSMixin, QuantConv2d):
    """2-D convolution with binary weights, optional scaled WS and an integer-grid bias."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        bias: bool = True,
        scaled_ws: bool = True,
        per_channel_scale: bool = True,
        gamma: float = 1.0,
    ) -> None:
        weight_quant = BinaryWeightPerChannel if per_channel_scale else BinaryWeightPerTensor
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=padding,
            bias=bias,
            weight_quant=weight_quant,
            bias_quant=IntBias if bias else None,
        )
        self._init_ws(scaled_ws, gamma)


def binary_act() -> QuantIdentity:
    return QuantIdentity(act_quant=BinaryAct, return_quant_tensor=True)


def input_quant() -> QuantIdentity:
    return QuantIdentity(act_quant=Uint8Input, return_quant_tensor=True)


def binary_layers(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, (BinaryLinear, BinaryConv2d))]


def set_weight_binarization(model: nn.Module, enabled: bool) -> None:
    """Switch binary weights on or off (step 1 of two-step training keeps them real).

    The integer bias grid depends on the binary weight scale, so bias
    quantization follows the weights.
    """
    for layer in binary_layers(model):
        layer.weight_quant.disable_quant = not enabled
        if layer.bias is not None:
            layer.bias_quant.disable_quant = not enabled


def freeze_for_export(model: nn.Module) -> nn.Module:
    """Return an inference copy with every standardization baked into its weights."""
    import copy

    frozen = copy.deepcopy(model).eval()
    for layer in binary_layers(frozen):
        layer.freeze_standardization()
    return frozen
