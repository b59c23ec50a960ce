"""FINN's BNN-PYNQ reference networks (brevitas_examples.bnn_pynq) as a new user brings them.

`pretrained=False`, every BatchNorm's statistics randomised with about half the
gammas negative (so thresholds and channel negation matter), exported with
brevitas.export.export_qonnx(dynamo=False), exactly as the export writes it.
"""
from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from qonnx.core.modelwrapper import ModelWrapper

NETWORKS = ("tfc_1w1a", "sfc_1w1a", "lfc_1w1a", "cnv_1w1a")


def input_shape(name: str) -> tuple[int, ...]:
    return (3, 32, 32) if name.startswith("cnv") else (1, 28, 28)


def build(name: str, seed: int = 0, tensor_norm: tuple[float, float, float, float] | None = None) -> torch.nn.Module:
    """The network in eval mode with random BatchNorm statistics; `tensor_norm` sets the final
    TensorNorm's (weight, bias, running_mean, running_var) (its initial values otherwise)."""
    from brevitas_examples import bnn_pynq
    from brevitas_examples.bnn_pynq.models.tensor_norm import TensorNorm

    torch.manual_seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = getattr(bnn_pynq, name)(pretrained=False)
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            n = m.num_features
            m.running_mean.data = torch.randn(n, generator=g) * 4
            m.running_var.data = torch.rand(n, generator=g) * 4 + 0.1
            m.weight.data = torch.randn(n, generator=g)  # about half negative
            m.bias.data = torch.randn(n, generator=g)
        elif isinstance(m, TensorNorm) and tensor_norm is not None:
            w, b, mean, var = tensor_norm
            m.weight.data.fill_(w)
            m.bias.data.fill_(b)
            m.running_mean.fill_(mean)
            m.running_var.fill_(var)
    return model.eval()


def export(model: torch.nn.Module, name: str, path: Path | None = None) -> ModelWrapper:
    """brevitas.export.export_qonnx(dynamo=False) to `path` (a temporary file if None), read back untouched."""
    from brevitas.export import export_qonnx

    with tempfile.TemporaryDirectory() as d:
        out = Path(path) if path is not None else Path(d) / f"{name}.onnx"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            export_qonnx(model, args=torch.zeros((1, *input_shape(name))), export_path=str(out), dynamo=False)
        return ModelWrapper(str(out))


def random_inputs(name: str, n: int, seed: int = 0) -> np.ndarray:
    """Float inputs in [0, 1) as the networks' datasets give them (the net computes 2x - 1 itself)."""
    return np.random.default_rng(seed).random((n, *input_shape(name)), dtype=np.float32)


def unique_max(scores: np.ndarray) -> np.ndarray:
    """Per input, whether its maximum score is unique (then its class is defined)."""
    return (scores == scores.max(axis=1, keepdims=True)).sum(axis=1) == 1


def scores(model: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()
