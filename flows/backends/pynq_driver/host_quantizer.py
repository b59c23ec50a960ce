"""The host side of the accelerator's input: float inputs, exactly as the exported network takes
them, to the integer codes the hardware streams. numpy only; the toolchain uses this same file.

A build records what the export computes ahead of its input quantizer (constant Mul, Add, Sub, Div,
the constant on either side: BNN-PYNQ's 2x - 1, a mean/std normalisation) and the quantizer
itself (`spec`, accelerator.json's `host_input.quantizer`). The ops run in float32, one by one, in
the export's order, as qonnx's execute_onnx runs the graph, so the codes are the ones the exported
network's quantizer makes; every build checks that on its inputs.
"""
from __future__ import annotations

import numpy as np

_OPS = {"Mul": np.multiply, "Add": np.add, "Sub": np.subtract, "Div": np.divide}


def _round_up(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.ceil(np.abs(x))


def _round_half_up(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def _round_half_down(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.ceil(np.abs(x) - 0.5)


# The rounding modes of QONNX's Quant op, with its meaning of each (qonnx.custom_op.general.intquant).
ROUNDING = {"ROUND": np.round, "HALF_EVEN": np.round, "CEIL": np.ceil, "FLOOR": np.floor, "UP": _round_up,
            "DOWN": np.fix, "HALF_UP": _round_half_up, "HALF_DOWN": _round_half_down}


def int_range(signed: bool, narrow: bool, bits: int) -> tuple[int, int]:
    """The smallest and largest integer of a QONNX Quant of `bits` bits."""
    if signed:
        return -(2 ** (bits - 1)) + int(narrow), 2 ** (bits - 1) - 1
    return 0, 2**bits - 1 - int(narrow)


def quantize(spec: dict, x: np.ndarray) -> np.ndarray:
    """float inputs -> the quantizer's codes (float32 whole numbers): q - qmin of a Quant, or the
    +-1 signs of a BipolarQuant."""
    y = np.asarray(x, dtype=np.float32)
    for op, value, shape, const_first in spec["ops"]:
        c = np.asarray(value, dtype=np.float32).reshape(shape)
        y = (_OPS[op](c, y) if const_first else _OPS[op](y, c)).astype(np.float32)
    y = (y / np.float32(spec["scale"]) + np.float32(spec["zeropt"])).astype(np.float32)
    if spec["kind"] == "BipolarQuant":
        return np.where(y >= 0, 1.0, -1.0).astype(np.float32)
    lo, hi = int_range(bool(spec["signed"]), bool(spec["narrow"]), int(spec["bits"]))
    mode = spec["rounding_mode"].upper()
    if mode not in ROUNDING:
        raise ValueError(f"input quantizer: unknown rounding mode {spec['rounding_mode']!r}")
    return (ROUNDING[mode](np.clip(y, lo, hi)) + spec["code_offset"]).astype(np.float32)


def stream_codes(spec: dict, x: np.ndarray) -> np.ndarray:
    """What the hardware streams for float inputs `x` (N, *the network's input shape), in that shape:
    the codes, except that a +-1 input streams as bits (1 = +1)."""
    codes = quantize(spec, x)
    return (codes > 0).astype(np.float32) if spec["kind"] == "BipolarQuant" else codes
