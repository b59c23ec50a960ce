"""Random Brevitas networks with the front-end variations a user's export carries (issue 24, point 2),
for tests/test_frontend_networks.py: a sibling of random_networks.py, built from plain Brevitas
layers (as a user writes them), not the project's.

Each network: float input in [0, 1) -> preprocessing (none, BNN-PYNQ's 2x - 1, a
constant on the left, a per-channel mean/std) -> input quantizer (unsigned or
signed 8-bit Quant, or a sign) -> an optional binary conv -> flatten (Flatten or
view) -> binary linear layers -> scores, with QuantIdentity or QuantHardTanh as
the 1-bit activation, biases or not, BatchNorm or not (after the
last layer too), a final TensorNorm, Dropout, and a graph ending in scores, an
ArgMax or a TopK. `Spec`'s repr rebuilds it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
from hypothesis import strategies as st

PREPROCESS = ("none", "2x-1", "left", "meanstd")
INPUT_QUANT = ("uint8", "int8", "bipolar")
# QuantReLU(bit_width=1) is left out: Brevitas 0.12 exports it as a bare Relu (default quantizer) or as
# Relu + BipolarQuant (a {0, 1} output written as a sign), neither of which is the module's forward.
ACTS = ("identity", "hardtanh")
ENDS = ("scores", "argmax", "topk")
HEADS = ("none", "batchnorm", "tensornorm")


@dataclass(frozen=True)
class Spec:
    preprocess: str
    input_quant: str
    act: str
    conv: bool
    bias: bool
    batchnorm: bool
    head: str
    dropout: bool
    flatten: str  # "flatten" (nn.Flatten) or "view"
    end: str
    widths: tuple[int, ...]
    classes: int = 5

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (2, 6, 6)


def specs() -> st.SearchStrategy[Spec]:
    return st.builds(
        Spec,
        preprocess=st.sampled_from(PREPROCESS),
        input_quant=st.sampled_from(INPUT_QUANT),
        act=st.sampled_from(ACTS),
        conv=st.booleans(),
        bias=st.booleans(),
        batchnorm=st.booleans(),
        head=st.sampled_from(HEADS),
        dropout=st.booleans(),
        flatten=st.sampled_from(("flatten", "view")),
        end=st.sampled_from(ENDS),
        widths=st.lists(st.sampled_from([7, 12, 16]), min_size=1, max_size=2).map(tuple),
    )


def _common():
    from brevitas_examples.bnn_pynq.models.common import CommonActQuant, CommonWeightQuant

    return CommonActQuant, CommonWeightQuant


def _input_quant(kind: str) -> nn.Module:
    from brevitas.core.restrict_val import RestrictValueType
    from brevitas.nn import QuantIdentity

    act, _ = _common()
    if kind == "bipolar":
        return QuantIdentity(act_quant=act, bit_width=1)
    if kind == "int8":
        return QuantIdentity(act_quant=act, bit_width=8, min_val=-1.0, max_val=1.0 - 2.0**-7, narrow_range=False,
                             restrict_scaling_type=RestrictValueType.POWER_OF_TWO)
    return QuantIdentity(act_quant=act, bit_width=8, min_val=0.0, max_val=1.0 - 2.0**-8, narrow_range=False,
                         signed=False, restrict_scaling_type=RestrictValueType.POWER_OF_TWO)


def _act(kind: str) -> nn.Module:
    from brevitas.nn import QuantHardTanh, QuantIdentity, QuantReLU

    act, _ = _common()
    if kind == "hardtanh":
        return QuantHardTanh(act_quant=act, bit_width=1, min_val=-1.0, max_val=1.0)
    if kind == "relu":
        return QuantReLU(bit_width=1, max_val=1.0)
    return QuantIdentity(act_quant=act, bit_width=1)


class TensorNorm(nn.Module):
    """BNN-PYNQ's TensorNorm at inference: one affine for every class."""

    def __init__(self, weight: float, bias: float, mean: float, var: float, eps: float = 1e-4) -> None:
        super().__init__()
        self.eps = eps
        self.register_buffer("weight", torch.tensor([weight]))
        self.register_buffer("bias", torch.tensor([bias]))
        self.register_buffer("running_mean", torch.tensor([mean]))
        self.register_buffer("running_var", torch.tensor([var]))

    def forward(self, x):
        return ((x - self.running_mean) / (self.running_var + self.eps).pow(0.5)) * self.weight + self.bias


class FrontNet(nn.Module):
    def __init__(self, spec: Spec, seed: int) -> None:
        from brevitas.nn import QuantConv2d, QuantLinear

        super().__init__()
        _, wq = _common()
        g = torch.Generator().manual_seed(seed)
        self.spec = spec
        c, h, w = spec.input_shape
        self.register_buffer("mean", torch.rand((1, c, 1, 1), generator=g) * 0.5)
        self.register_buffer("std", torch.rand((1, c, 1, 1), generator=g) + 0.25)
        self.inq = _input_quant(spec.input_quant)
        layers: list[nn.Module] = []
        if spec.conv:
            layers += [QuantConv2d(c, 4, 3, bias=spec.bias, weight_quant=wq, weight_bit_width=1)]
            layers += [nn.BatchNorm2d(4)] if spec.batchnorm else []
            layers += [_act(spec.act)]
            c, h, w = 4, h - 2, w - 2
        self.features = nn.Sequential(*layers)
        self.flatten = nn.Flatten() if spec.flatten == "flatten" else None
        width, body = c * h * w, []
        for out in spec.widths:
            body += [QuantLinear(width, out, bias=spec.bias, weight_quant=wq, weight_bit_width=1)]
            body += [nn.BatchNorm1d(out)] if spec.batchnorm else []
            body += [_act(spec.act)]
            body += [nn.Dropout(0.2)] if spec.dropout else []
            width = out
        body += [QuantLinear(width, spec.classes, bias=spec.bias, weight_quant=wq, weight_bit_width=1)]
        if spec.head == "batchnorm":
            body += [nn.BatchNorm1d(spec.classes)]
        elif spec.head == "tensornorm":
            v = torch.rand(4, generator=g)
            body += [TensorNorm(float(v[0] * 2 - 0.5), float(v[1] - 0.5), float(v[2] * 3 - 1.5), float(v[3] + 0.05))]
        self.classifier = nn.Sequential(*body)
        _randomise(self, g)
        self.eval()

    def forward(self, x):
        p = self.spec.preprocess
        if p == "2x-1":
            x = 2.0 * x - torch.tensor([1.0])
        elif p == "left":
            x = torch.tensor([1.0]) - torch.tensor([2.0]) * x  # constants on the left: 1 - 2x
        elif p == "meanstd":
            x = (x - self.mean) / self.std
        x = self.features(self.inq(x))
        x = self.flatten(x) if self.flatten is not None else x.view(x.shape[0], -1)
        x = self.classifier(x)
        if self.spec.end == "argmax":
            return torch.argmax(x, dim=1)
        if self.spec.end == "topk":
            return torch.topk(x, 1, dim=1)[1]
        return x


def _randomise(model: nn.Module, g: torch.Generator) -> None:
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            n = m.num_features
            m.running_mean.data = torch.randn(n, generator=g) * 2
            m.running_var.data = torch.rand(n, generator=g) * 4 + 0.1
            m.weight.data = torch.randn(n, generator=g)
            m.bias.data = torch.randn(n, generator=g)
        elif hasattr(m, "weight") and hasattr(m, "weight_quant") and m.weight is not None:
            m.weight.data = torch.rand(m.weight.shape, generator=g) * 2 - 1
            if getattr(m, "bias", None) is not None:
                m.bias.data = torch.randn(m.bias.shape, generator=g)


def random_inputs(spec: Spec, n: int, seed: int) -> np.ndarray:
    """Float inputs on the 1/256 grid in [0, 1) (dataset pixels / 256)."""
    return (np.random.default_rng(seed).integers(0, 256, (n, *spec.input_shape)) / 256).astype(np.float32)


def outputs(model: nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        y = model(torch.from_numpy(x))
    return (y.value if hasattr(y, "value") else y).numpy()
