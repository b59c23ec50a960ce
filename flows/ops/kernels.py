"""Numpy kernels of the hardware layers: one definition of each layer's integer semantics.

The qonnx custom ops (execute_onnx, node by node) call these; the golden model
(flows.sim.golden, whole batches) runs the same integers on faster paths where their
bounds allow and calls these everywhere else, and `make bench` and the tests check
the two bit for bit. Bit encoding of binary tensors: 1 means +1, 0 means -1.
"""
from __future__ import annotations

import numpy as np

# float64 holds every integer below 2^53 exactly, so BLAS matrix products on
# integer-valued operands are exact and far faster than integer matmul in numpy.
_EXACT = 2.0**53


def weight_values(weights: np.ndarray, binary: bool) -> np.ndarray:
    """An MVTU's weight matrix as numbers: bits (1 = +1, 0 = -1) when binary, else the integers stored."""
    w = weights.astype(np.float64)
    return 2.0 * w - 1.0 if binary else w


def accumulate(x: np.ndarray, weights: np.ndarray, xnor: bool, binary_weights: bool = True) -> np.ndarray:
    """Accumulators of a matrix-vector unit for a batch x of shape (..., MW).

    xnor: x and the weights hold bits; returns the popcount of xnor(x, w) in 0..MW.
    otherwise: x holds unsigned integers; returns sum(x * w) with w the +-1
    of each weight bit, or the signed integer weights themselves.
    """
    w = weight_values(weights, binary_weights)
    mw = w.shape[0]
    peak = 1 if xnor else float(np.abs(x).max(initial=0)) * float(np.abs(w).max(initial=0))
    if peak * mw >= _EXACT:
        raise OverflowError("accumulator exceeds the exact float64 range")
    # float32 holds every partial sum exactly below 2^24 and halves the memory traffic.
    dtype = np.float32 if peak * mw < 2.0**24 else np.float64
    acc = x.astype(dtype) @ w.astype(dtype)
    if xnor:
        # popcount(xnor) = sum(x * w) + (MW - sum(w)) / 2 for bits x and +-1 weights w.
        acc += ((mw - w.sum(axis=0)) / 2).astype(dtype)
    return acc.astype(np.int64)


def threshold(acc: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """One threshold per channel (last axis): bit = acc >= T."""
    return (acc >= thresholds.reshape(-1).astype(np.int64)).astype(np.int64)


def mvtu(x: np.ndarray, weights: np.ndarray, thresholds: np.ndarray | None, xnor: bool,
         binary_weights: bool = True) -> np.ndarray:
    acc = accumulate(x, weights, xnor, binary_weights)
    return acc if thresholds is None else threshold(acc, thresholds)


def label_select(x: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest values along the last axis, ties to the lowest index."""
    order = np.argsort(-x.astype(np.int64), axis=-1, kind="stable")
    return order[..., :k].astype(np.int64)


def sliding_window(x: np.ndarray, k: int, stride: int, pads: tuple[int, int, int, int], pad_value: int) -> np.ndarray:
    """Convolution windows of a channels-last batch (N, H, W, C).

    pads = (top, left, bottom, right), filled with pad_value (an encoded element:
    a bit for binary streams, an integer otherwise). Output (N, OH, OW, K*K*C),
    each window ordered (ky, kx, c): the order the MVTU's weight columns use.
    """
    top, left, bottom, right = pads
    n, h, w, c = x.shape
    padded = np.full((n, h + top + bottom, w + left + right, c), pad_value, dtype=np.int64)
    padded[:, top : top + h, left : left + w, :] = x
    oh = (padded.shape[1] - k) // stride + 1
    ow = (padded.shape[2] - k) // stride + 1
    cols = [
        padded[:, ky : ky + stride * (oh - 1) + 1 : stride, kx : kx + stride * (ow - 1) + 1 : stride, :]
        for ky in range(k)
        for kx in range(k)
    ]
    return np.concatenate(cols, axis=-1)


def max_pool(x: np.ndarray, k: int, stride: int) -> np.ndarray:
    """Max pooling of (N, H, W, C) without padding (floor mode); on bits it is an OR."""
    n, h, w, c = x.shape
    oh, ow = (h - k) // stride + 1, (w - k) // stride + 1
    out = np.full((n, oh, ow, c), np.iinfo(np.int64).min, dtype=np.int64)
    for ky in range(k):
        for kx in range(k):
            out = np.maximum(out, x[:, ky : ky + stride * (oh - 1) + 1 : stride, kx : kx + stride * (ow - 1) + 1 : stride, :])
    return out


def global_accumulate(x: np.ndarray) -> np.ndarray:
    """Per-channel sum over all pixels of (N, H, W, C): a popcount for bits. Output (N, C)."""
    return x.astype(np.int64).sum(axis=(1, 2))


def window_sum(x: np.ndarray, k: int) -> np.ndarray:
    """Per-channel sums over non-overlapping k x k windows of (N, H, W, C), floor mode: a popcount for bits.

    Average pooling without its division: the division is a scale the next layer absorbs exactly.
    """
    n, h, w, c = x.shape
    oh, ow = h // k, w // k
    used = x[:, : oh * k, : ow * k, :].astype(np.int64)
    return used.reshape(n, oh, k, ow, k, c).sum(axis=(2, 4))


def stream_threshold(x: np.ndarray, thresholds: np.ndarray, descending: np.ndarray) -> np.ndarray:
    """Bits of a multi-bit stream (last axis = channels): x >= T_c, or x <= T_c where descending_c."""
    t = thresholds.reshape(-1).astype(np.int64)
    return np.where(descending.reshape(-1) != 0, x <= t, x >= t).astype(np.int64)


def piecewise_term(x: np.ndarray, knot: np.ndarray, mul_hi: np.ndarray, off_hi: np.ndarray,
                   mul_lo: np.ndarray, off_lo: np.ndarray) -> np.ndarray:
    """Per channel: mul_hi * x + off_hi where x >= knot, else mul_lo * x + off_lo (all int64)."""
    x = x.astype(np.int64)
    return np.where(x >= knot, mul_hi * x + off_hi, mul_lo * x + off_lo)


def residual_add(terms: list[np.ndarray], shift: int) -> np.ndarray:
    """Sum of the per-input terms, rounded half up and shifted right by `shift` bits (floor)."""
    total = sum(terms)
    if shift:
        total = total + (1 << (shift - 1))
    return total >> shift
