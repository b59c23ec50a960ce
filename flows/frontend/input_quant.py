"""The host side of the input quantizer: float inputs -> the integer codes the hardware takes.

The streamlined graph (and everything below it) takes the input quantizer's
integer codes: unsigned codes q - qmin of a Quant (pixel bytes for the zoo's
x/256 input; q + 128 for a signed 8-bit input), or the +-1 signs of a
BipolarQuant (or 1-bit signed Quant). Whatever the export computes ahead of the
quantizer elementwise (BNN-PYNQ's 2x - 1, a mean/std normalisation, constants on
either side) is recorded by streamlining under INPUT_QUANT_KEY and applied here
in float32, op by op, exactly as qonnx's execute_onnx runs the QONNX graph, so
`quantize_input(streamlined, x)` is what the exported graph's quantizer sees.
Shape ops ahead of the quantizer stay in the integer graph; the codes keep the
graph input's shape.
"""
from __future__ import annotations

import json

import numpy as np
from qonnx.core.modelwrapper import ModelWrapper

from flows.backends.pynq_driver.host_quantizer import quantize, stream_codes

INPUT_QUANT_KEY = "bnnflow.input_quantizer"


def input_quantizer(model: ModelWrapper) -> dict | None:
    """What streamlining recorded about the input quantizer (None for a graph streamlined before it was recorded)."""
    text = model.get_metadata_prop(INPUT_QUANT_KEY)
    return json.loads(text) if text else None


def _spec(model: ModelWrapper) -> dict:
    spec = input_quantizer(model)
    if spec is None:
        raise ValueError("the graph records no input quantizer (streamline it again)")
    return spec


def quantize_input(model: ModelWrapper, x: np.ndarray) -> np.ndarray:
    """The codes a streamlined graph (or the hardware) takes for the float input `x`."""
    return quantize(_spec(model), x)


def hardware_codes(model: ModelWrapper, x: np.ndarray) -> np.ndarray:
    """What the hardware graph (golden model, RTL, driver) takes for the float input `x`, in the
    graph input's layout (flows.frontend.lower.to_hw_layout makes it channels-last): the codes,
    except that a +-1 input streams as bits (1 = +1). The deploy package's driver runs the same
    function (flows/backends/pynq_driver/host_quantizer.py)."""
    return stream_codes(_spec(model), x)
