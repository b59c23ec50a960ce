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
from qonnx.custom_op.general.intquant import max_int, min_int, resolve_rounding_mode

INPUT_QUANT_KEY = "bnnflow.input_quantizer"

_OPS = {
    "Mul": np.multiply,
    "Add": np.add,
    "Sub": np.subtract,
    "Div": np.divide,
}


def input_quantizer(model: ModelWrapper) -> dict | None:
    """What streamlining recorded about the input quantizer (None for a graph streamlined before it was recorded)."""
    text = model.get_metadata_prop(INPUT_QUANT_KEY)
    return json.loads(text) if text else None


def apply_input_quantizer(spec: dict, x: np.ndarray) -> np.ndarray:
    """float inputs (the exported graph's input) -> integer codes (float32 array of whole numbers)."""
    y = np.asarray(x, dtype=np.float32)
    for op, value, shape, const_first in spec["ops"]:
        c = np.asarray(value, dtype=np.float32).reshape(shape)
        y = (_OPS[op](c, y) if const_first else _OPS[op](y, c)).astype(np.float32)
    scale, zeropt = np.float32(spec["scale"]), np.float32(spec["zeropt"])
    y = (y / scale + zeropt).astype(np.float32)
    if spec["kind"] == "BipolarQuant":
        return np.where(y >= 0, 1.0, -1.0).astype(np.float32)
    signed, narrow, bits = bool(spec["signed"]), bool(spec["narrow"]), int(spec["bits"])
    y = np.clip(y, min_int(signed, narrow, bits), max_int(signed, narrow, bits))
    q = resolve_rounding_mode(spec["rounding_mode"])(y)
    return (q + spec["code_offset"]).astype(np.float32)


def quantize_input(model: ModelWrapper, x: np.ndarray) -> np.ndarray:
    """The codes a streamlined graph (or the hardware) takes for the float input `x`."""
    spec = input_quantizer(model)
    if spec is None:
        raise ValueError("the graph records no input quantizer (streamline it again)")
    return apply_input_quantizer(spec, x)


def hardware_codes(model: ModelWrapper, x: np.ndarray) -> np.ndarray:
    """What the hardware graph (golden model, RTL, driver) takes for the float input `x`, in the
    graph input's layout (flows.frontend.lower.to_hw_layout makes it channels-last): the codes,
    except that a +-1 input streams as bits (1 = +1)."""
    codes = quantize_input(model, x)
    if input_quantizer(model)["kind"] == "BipolarQuant":
        return (codes > 0).astype(np.float32)
    return codes
