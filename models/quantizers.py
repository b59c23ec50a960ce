"""Brevitas quantizers chosen so that every exported tensor lies on an exact grid.

All scales are powers of two and biases are integers in units of
(input scale x weight scale). Every product and partial sum of a layer is then an
exact float32 value in any summation order, so the Brevitas forward, qonnx's
execute_onnx, the integer golden model and the RTL agree bit for bit, not
within a tolerance.
"""
from functools import cache

from brevitas.core.function_wrapper import CeilSte, TensorClamp
from brevitas.inject.enum import RestrictValueType, ScalingImplType, ScalingPerOutputType, StatsOp
from brevitas.quant import Int8WeightPerChannelFloat, Int8WeightPerTensorFloat, Int32Bias, Uint8ActPerTensorFloat
from brevitas.quant.base import SignedBinaryClampedConst
from brevitas.quant.solver import ActQuantSolver, WeightQuantSolver

__all__ = ["BinaryWeightPerChannel", "BinaryWeightPerTensor", "int_weight", "BinaryAct", "Uint8Input", "IntBias"]


class BinaryWeightPerChannel(SignedBinaryClampedConst, WeightQuantSolver):
    """sign(W) times 2^round(log2(mean|W_c|)) per output channel (XNOR-Net scale)."""

    scaling_impl_type = ScalingImplType.STATS
    scaling_stats_op = StatsOp.AVE
    scaling_per_output_type = ScalingPerOutputType.CHANNEL
    restrict_scaling_type = RestrictValueType.POWER_OF_TWO
    tensor_clamp_impl = TensorClamp
    scaling_min_val = 2.0**-24


class BinaryWeightPerTensor(BinaryWeightPerChannel):
    """One power-of-two scale for the whole tensor (class scores keep their order)."""

    scaling_per_output_type = ScalingPerOutputType.TENSOR


@cache
def int_weight(bits: int, per_channel: bool = True) -> type:
    """Signed narrow-range `bits`-bit weights with a power-of-two scale per output channel (or tensor).

    The scale is 2^ceil(log2(max|W|)) / 2^(bits-1), so the largest weight
    lands in (2^(bits-2), 2^(bits-1)] steps and at most clips to
    2^(bits-1) - 1: a rounded-down scale would clip up to half of the range.
    A classifier takes one scale for the tensor, so its scores keep their
    order. One class per configuration, so Brevitas sees the same quantizer.
    """
    if not 2 <= bits <= 8:
        raise ValueError(f"integer weights take 2 to 8 bits, got {bits}")
    base = Int8WeightPerChannelFloat if per_channel else Int8WeightPerTensorFloat
    return type(f"Int{bits}WeightPer{'Channel' if per_channel else 'Tensor'}", (base,), {
        "bit_width": bits,
        "restrict_scaling_type": RestrictValueType.POWER_OF_TWO,
        "restrict_value_float_to_int_impl": CeilSte,
        "scaling_min_val": 2.0**-24,
    })


class BinaryAct(SignedBinaryClampedConst, ActQuantSolver):
    """sign(x) in {-1, +1} with scale 1; x >= 0 maps to +1, as in qonnx's BipolarQuant."""

    tensor_clamp_impl = TensorClamp
    min_val = -1.0
    max_val = 1.0


class Uint8Input(Uint8ActPerTensorFloat):
    """8-bit unsigned input with the fixed scale 2^-8: pixel k arrives as k / 256."""

    scaling_impl_type = ScalingImplType.CONST
    restrict_scaling_type = RestrictValueType.POWER_OF_TWO
    max_val = 255.0 / 256.0


IntBias = Int32Bias
