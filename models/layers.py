"""Binary layers with the BN-free recipe of "BNN - BN = ?" (Chen et al. 2021).

Scaled weight standardization replaces batch normalization before binarization:

    W_hat = g_c * gamma * (W - mean_c) / ((std_c + eps) * sqrt(fan_in))

with a learnable per-output-channel gain g_c; W_hat is then binarized to
sign(W_hat) times a power-of-two scale, and a learnable per-channel bias follows
(quantized to the accumulator grid so that thresholds are exact integers).

Padding of +-1 activations uses -1 or +1, never 0: a streaming accelerator
carries one bit per activation and has no third value. ReActNet's RSign and
RPReLU and the residual scaling of normalizer-free ResNets complete the set the
zoo builds from.
"""
from __future__ import annotations

import math

from typing import Iterator, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from brevitas.nn import QuantConv2d, QuantIdentity, QuantLinear
from brevitas.quant_tensor import QuantTensor

from .quantizers import BinaryAct, BinaryWeightPerChannel, BinaryWeightPerTensor, IntBias, Uint8Input, int_weight

WS_EPS = 1e-5
PAD_VALUES = (-1.0, 0.0, 1.0)
# 0.2 on a 6-bit fixed-point grid (13/64 = 0.203125): the residual stream the
# hardware carries as an integer is then the exact value the float32 forward computes.
RESIDUAL_ALPHA = 13 / 64
# RPReLU's shifts and slope live on this fixed-point grid for the same reason.
RPRELU_FRAC_BITS = 4


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


def _weight_quant(bits: int, per_channel_scale: bool) -> type:
    if bits == 1:
        return BinaryWeightPerChannel if per_channel_scale else BinaryWeightPerTensor
    return int_weight(bits, per_channel_scale)


class BinaryLinear(ScaledWSMixin, QuantLinear):
    """Linear layer with binary weights, optional scaled WS and an integer-grid bias.

    weight_bits > 1: signed integer weights (a classifier that repays them).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        scaled_ws: bool = True,
        per_channel_scale: bool = True,
        gamma: float = 1.0,
        weight_bits: int = 1,
    ) -> None:
        weight_quant = _weight_quant(weight_bits, per_channel_scale)
        super().__init__(
            in_features,
            out_features,
            bias=bias,
            weight_quant=weight_quant,
            bias_quant=IntBias if bias else None,
        )
        self.weight_bits = weight_bits
        self._init_ws(scaled_ws, gamma)


class BinaryConv2d(ScaledWSMixin, QuantConv2d):
    """2-D convolution with binary weights, optional scaled WS and an integer-grid bias.

    weight_bits > 1 gives signed integer weights instead (narrow range, a
    power-of-two scale per channel): for the layers binarising hurts most,
    above all a first layer, whose 8-bit pixels the hardware multiplies
    anyway and where 9 signs per filter on a grey image lose the most.

    pad_value -1 or +1 pads a +-1 input explicitly (an ONNX Pad with that value
    in front of a Conv with no padding), so training, export and hardware see
    the same border. pad_value 0 is for the 8-bit input only (pixel 0) and uses
    the convolution's own zero padding.
    """

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
        pad_value: float = -1.0,
        weight_bits: int = 1,
    ) -> None:
        if pad_value not in PAD_VALUES:
            raise ValueError(f"pad_value must be one of {PAD_VALUES}, got {pad_value}")
        weight_quant = _weight_quant(weight_bits, per_channel_scale)
        explicit = padding > 0 and pad_value != 0.0
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=0 if explicit else padding,
            bias=bias,
            weight_quant=weight_quant,
            bias_quant=IntBias if bias else None,
        )
        self.weight_bits = weight_bits
        self.pad_value = float(pad_value)
        self.bipolar_padding = padding if explicit else 0
        self._init_ws(scaled_ws, gamma)

    def forward(self, x):
        if self.bipolar_padding:
            # On a QuantTensor F.pad keeps scale and bit width: the bias stays on the accumulator grid.
            p = self.bipolar_padding
            x = F.pad(x, (p, p, p, p), value=self.pad_value)
        return super().forward(x)


def binary_act() -> QuantIdentity:
    return QuantIdentity(act_quant=BinaryAct, return_quant_tensor=True)


def fixed_point(p: torch.Tensor, frac_bits: int) -> torch.Tensor:
    """p rounded to multiples of 2^-frac_bits, with a straight-through gradient."""
    step = 2.0**-frac_bits
    return p + (torch.round(p / step) * step - p).detach()


def _channel_param(channels: int, value: float) -> nn.Parameter:
    return nn.Parameter(torch.full((1, channels, 1, 1), float(value)))


class RSign(nn.Module):
    """ReActNet's sign(x - alpha_c) with a learnable per-channel threshold alpha_c.

    The output is the +-1 QuantTensor of BinaryAct, so a binary layer can follow.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.threshold = _channel_param(channels, 0.0)
        self.sign = binary_act()

    def forward(self, x: torch.Tensor):
        return self.sign(x - self.threshold)


class RPReLU(nn.Module):
    """ReActNet's RPReLU: x - gamma_c + zeta_c above gamma_c, beta_c (x - gamma_c) + zeta_c below.

    The slope beta_c is the raw parameter clamped at 0, so the function stays
    monotone (a threshold the hardware can compare against) whatever the
    optimizer does to the parameter.
    """

    def __init__(self, channels: int, slope: float = 0.25) -> None:
        super().__init__()
        self.shift_in = _channel_param(channels, 0.0)
        self.raw_slope = nn.Parameter(torch.full((channels,), float(slope)))
        self.shift_out = _channel_param(channels, 0.0)

    @property
    def slope(self) -> torch.Tensor:
        return fixed_point(self.raw_slope.clamp(min=0.0), RPRELU_FRAC_BITS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shift_in, shift_out = (fixed_point(p, RPRELU_FRAC_BITS) for p in (self.shift_in, self.shift_out))
        return F.prelu(x - shift_in, self.slope) + shift_out


class GlobalAvgPool(nn.Module):
    """Mean over H and W of a +-1 tensor, flattened to (N, C), for the classifier.

    Exact in float32 when H * W is a power of two (an integer count divided by
    2^k), which the zoo guarantees; the hardware keeps the popcount and lets
    the classifier's power-of-two scale absorb the division.
    """

    def forward(self, x) -> torch.Tensor:
        value = x.value if isinstance(x, QuantTensor) else x
        return torch.flatten(F.adaptive_avg_pool2d(value, 1), 1)


def residual_betas(transitions: Sequence[bool], alpha: float = RESIDUAL_ALPHA) -> list[float]:
    """beta_i = 1 / sqrt(expected variance at block i) for h + alpha * f(h * beta).

    The expected variance starts at 1 and grows by alpha^2 per block; a
    transition block resets it to 1 before adding its own alpha^2 ("BNN - BN = ?",
    after NF-ResNets, whose transition shortcut re-normalises the stream). The
    zoo's averaged shortcut does not re-normalise; its nets were trained with
    this rule all the same.
    """
    betas, variance = [], 1.0
    for transition in transitions:
        betas.append(1.0 / math.sqrt(variance))
        if transition:
            variance = 1.0
        variance += alpha**2
    return betas


def input_quant() -> QuantIdentity:
    return QuantIdentity(act_quant=Uint8Input, return_quant_tensor=True)


def named_binary_layers(model: nn.Module) -> Iterator[tuple[str, nn.Module]]:
    return ((name, m) for name, m in model.named_modules() if isinstance(m, (BinaryLinear, BinaryConv2d)))


def binary_layers(model: nn.Module) -> list[nn.Module]:
    return [m for _, m in named_binary_layers(model)]


def layer_weight_bits(model: nn.Module) -> dict[str, int]:
    """Each binary layer's weight width by module name: what a checkpoint must agree with."""
    return {name: m.weight_bits for name, m in named_binary_layers(model)}


def weighted_layers(model: nn.Module) -> list[nn.Module]:
    """A BNN's binary layers, or every conv and linear layer of a real-valued network (a teacher has no binary one)."""
    return binary_layers(model) or [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]


def classifier_layer(model: nn.Module) -> nn.Module:
    """The last layer with weights, which AGC leaves unclipped."""
    return weighted_layers(model)[-1]


def set_weight_binarization(model: nn.Module, enabled: bool) -> None:
    """Switch binary weights on or off (step 1 of two-step training keeps them real).

    The integer bias grid depends on the binary weight scale, so bias
    quantization follows the weights.
    """
    for layer in binary_layers(model):
        set_layer_binarization(layer, enabled)


def set_layer_binarization(layer: nn.Module, enabled: bool) -> None:
    """Binary weights on or off in one BinaryConv2d/BinaryLinear (its bias grid follows)."""
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
