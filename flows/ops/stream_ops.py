"""Streaming layers of convolutional BNNs, channels-last (N, H, W, C)."""
from __future__ import annotations

import math

import numpy as np

from flows.ops import kernels
from flows.ops.base import KernelOp


class SlidingWindow(KernelOp):
    """im2col on a stream: windows of K*K*C elements ordered (ky, kx, c), padded with PadValue (encoded)."""

    def get_nodeattr_types(self):
        return {
            **self.base_attrs(),
            "K": ("i", True, 1),
            "Stride": ("i", False, 1),
            "Pads": ("ints", False, [0, 0, 0, 0]),  # top, left, bottom, right
            "PadValue": ("i", False, 0),
            "SIMD": ("i", False, 1),
            "IFMDim": ("ints", True, []),  # H, W of the input
            "Channels": ("i", True, 0),
            "inputDataType": ("s", True, ""),
        }

    def compute(self, inputs):
        a = self.get_nodeattr
        return [kernels.sliding_window(inputs[0], a("K"), a("Stride"), tuple(a("Pads")), a("PadValue"))]

    def output_dim(self) -> tuple[int, int]:
        (h, w), k, s = self.get_nodeattr("IFMDim"), self.get_nodeattr("K"), self.get_nodeattr("Stride")
        top, left, bottom, right = self.get_nodeattr("Pads")
        return (h + top + bottom - k) // s + 1, (w + left + right - k) // s + 1

    def cycles(self) -> int:
        oh, ow = self.output_dim()
        k, c = self.get_nodeattr("K"), self.get_nodeattr("Channels")
        return oh * ow * k * k * c // self.get_nodeattr("SIMD")


class MaxPoolNHWC(KernelOp):
    """Non-overlapping max pooling (an OR on bits)."""

    def get_nodeattr_types(self):
        return {**self.base_attrs(), "K": ("i", True, 2), "Stride": ("i", True, 2), "PE": ("i", False, 1),
                "IFMDim": ("ints", True, []), "Channels": ("i", True, 0)}

    def compute(self, inputs):
        return [kernels.max_pool(inputs[0], self.get_nodeattr("K"), self.get_nodeattr("Stride"))]

    def cycles(self) -> int:
        h, w = self.get_nodeattr("IFMDim")
        return h * w * self.get_nodeattr("Channels") // self.get_nodeattr("PE")


class StreamConcat(KernelOp):
    """Per-pixel concatenation of the channels of its inputs, in input order."""

    def get_nodeattr_types(self):
        return self.base_attrs()

    def compute(self, inputs):
        return [np.concatenate(inputs, axis=-1)]


class GlobalAccumulate(KernelOp):
    """Per-channel sum over all pixels; output (N, 1, 1, C), a popcount for bits."""

    def get_nodeattr_types(self):
        return {**self.base_attrs(), "PE": ("i", False, 1), "Pixels": ("i", True, 0), "Channels": ("i", True, 0)}

    def compute(self, inputs):
        x = inputs[0]
        return [kernels.global_accumulate(x).reshape(x.shape[0], 1, 1, x.shape[-1])]

    def cycles(self) -> int:
        return self.get_nodeattr("Pixels") * self.get_nodeattr("Channels") // self.get_nodeattr("PE")


class ScoreAffine(KernelOp):
    """Integer scores m_c * acc_c + n_c: the class decision of a per-channel output affine.

    The real scores are S * (m_c * acc_c + n_c) for one shared scale S > 0, so the
    argmax of these integers is the argmax of the real scores, exactly.
    """

    def get_nodeattr_types(self):
        return {**self.base_attrs(), "Multipliers": ("ints", True, []), "Offsets": ("ints", True, []),
                "inputDataType": ("s", True, "")}

    def compute(self, inputs):
        m = np.array(self.get_nodeattr("Multipliers"), dtype=np.int64)
        n = np.array(self.get_nodeattr("Offsets"), dtype=np.int64)
        return [inputs[0] * m + n]


def score_bits(multipliers: list[int], offsets: list[int], acc_lo: int, acc_hi: int) -> int:
    """Signed width that holds every score m*acc + n over the accumulator range."""
    peak = max(abs(m * v + n) for m, n in zip(multipliers, offsets) for v in (acc_lo, acc_hi))
    return math.ceil(math.log2(peak + 1)) + 1
