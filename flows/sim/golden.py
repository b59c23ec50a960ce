"""The golden model: a vectorised executor of the hardware-layer graph.

It runs whole batches through the graph and is the bit-exact reference for the
RTL and the board. An op runs its own numpy kernel (its class's `compute`, the
code execute_onnx runs node by node) unless its class's `golden_step` picks one
of the vectorised torch paths below, which compute the same integers:

- a window generator and the MVTU it feeds run as one convolution. A thresholded
  one on a stream of bytes (bits, or an 8-bit image) runs as an int8 convolution
  with exact int32 accumulators, whose requantisation is the threshold:
  clamp(acc + 1 - T, 0, 255) is nonzero iff acc >= T, and clamping it to 1 in
  place leaves the bits, ready as the next convolution's input;
- other convolutions and dense MVTUs run in float32 on integers below 2^24 (exact);
- max pooling, concatenation, global accumulation and flattening run in torch on
  the activations where they are.

Torch holds a rank-4 tensor (N, H, W, C) as an (N, C, H, W) view of channels-last
memory, so the hardware layout is a view of it, not a copy. A tensor becomes an
int64 numpy array only where the caller asks for it or an op without a fast path
reads it. Every fast path checks its bounds and otherwise runs the kernels.
"""
from __future__ import annotations

import warnings
from contextlib import contextmanager
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp

from flows.ops import DOMAIN
from flows.errors import UnsupportedNodeError

# float32 holds every integer below 2^24 exactly, so sums of such integers are exact in any order.
_EXACT32 = 2.0**24
# Quantised int8 engines whose convolutions are checked exact here (int32 accumulators, unit scales).
_INT8_ENGINES = ("x86", "fbgemm", "onednn")


def run_golden(model: ModelWrapper, x: np.ndarray, keep_all: bool = False, extra: tuple[str, ...] = (),
               chunk: int = 256) -> dict[str, np.ndarray]:
    """Execute the hardware graph on a batch; x holds integers in the graph input's layout.

    Returns the graph outputs and the `extra` tensors (int64), or every tensor when
    keep_all is set. Batches run `chunk` images at a time so that memory stays bounded
    (a convolutional layer's activations for 10,000 images would not fit).
    """
    x = np.asarray(x)
    with _quiet_int8(), torch.inference_mode():
        plan = _Plan(model)
        if keep_all or len(x) <= chunk:
            return plan.run(x, None if keep_all else _wanted(model, extra))
        wanted = _wanted(model, extra)
        parts = [plan.run(x[i : i + chunk], wanted) for i in range(0, len(x), chunk)]
    return {k: np.concatenate([p[k] for p in parts]) for k in wanted}


def _wanted(model: ModelWrapper, extra: tuple[str, ...]) -> list[str]:
    return [o.name for o in model.graph.output] + list(extra)


@contextmanager
def _quiet_int8():
    """torch 2.13 warns that quantised tensors are deprecated; the golden model knows."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"(?s).*quantiz", category=UserWarning)
        yield


class _Value:
    """One tensor during a run: an int64 array in the graph's layout, a torch tensor, or both.

    The torch tensor holds integers as uint8, float32 (below 2^24) or int64; `quint`,
    when set, is the same memory as a quint8 tensor (scale 1, zero point 0) that an
    int8 convolution reads.
    """

    __slots__ = ("array", "tensor", "quint")

    def __init__(self, array: np.ndarray | None = None, tensor: torch.Tensor | None = None, quint=None):
        self.array, self.tensor, self.quint = array, tensor, quint

    def numpy(self) -> np.ndarray:
        if self.array is None:
            t = self.tensor.permute(0, 2, 3, 1) if self.tensor.dim() == 4 else self.tensor
            self.array = t.numpy().astype(np.int64)
        return self.array

    def torch(self) -> torch.Tensor:
        if self.tensor is None:
            a = self.array
            lo, hi = (int(a.min()), int(a.max())) if a.size else (0, 0)
            dtype = np.uint8 if lo >= 0 and hi <= 255 else np.float32 if max(-lo, hi) < _EXACT32 else np.int64
            t = torch.from_numpy(np.ascontiguousarray(a.astype(dtype, copy=False)))
            self.tensor = t.permute(0, 3, 1, 2) if t.dim() == 4 else t
        return self.tensor

    def bytes(self):
        """The tensor as quint8 if it is rank 4 and every value is a byte, else None."""
        if self.quint is None:
            t = self.torch()
            if t.dim() != 4 or not (t.dtype == torch.uint8 or (t.numel() and 0 <= t.min() and t.max() <= 255)):
                return None
            self.quint, view = _new_bytes(t.shape)
            view.copy_(t)
        return self.quint

    def exact_float(self, fan_in: int, pad_value: int = 0) -> torch.Tensor | None:
        """float32 copy when every sum of fan_in values (pad_value among them) is exact, else None."""
        t = self.torch()
        peak = 255 if t.dtype == torch.uint8 else float(t.abs().max()) if t.numel() else 0.0
        if max(peak, abs(pad_value)) * fan_in >= _EXACT32:
            return None
        return t if t.dtype == torch.float32 else t.float()


def _new_bytes(shape) -> tuple[torch.Tensor, torch.Tensor]:
    """A channels-last quint8 tensor (scale 1, zero point 0) and a uint8 view of its memory."""
    q = torch._empty_affine_quantized(tuple(shape), scale=1.0, zero_point=0, dtype=torch.quint8,
                                      memory_format=torch.channels_last)
    return q, _byte_view(q)


def _byte_view(q: torch.Tensor) -> torch.Tensor:
    return torch.empty(0, dtype=torch.uint8).set_(q.untyped_storage(), q.storage_offset(), q.size(), q.stride())


class _Plan:
    """The graph's nodes as steps, with weights converted once for every chunk of the batch."""

    def __init__(self, model: ModelWrapper):
        self.input = model.graph.input[0].name
        self.consts = {i.name: model.get_initializer(i.name).astype(np.int64) for i in model.graph.initializer}
        self.steps = []
        fused: set[str] = set()
        for node in model.graph.node:
            if node.name in fused:
                continue
            if node.op_type == "Flatten":
                self.steps.append((list(node.input), list(node.output), _flatten))
                continue
            if node.domain != DOMAIN:
                raise UnsupportedNodeError(node.name, node.op_type, "the golden model has no kernel for this op")
            step = getCustomOp(node).golden_step(model, self.consts)
            if step is None:
                step = (list(node.input), list(node.output), Kernel(node, self.consts), ())
            inputs, outputs, run, also = step
            fused.update(also)
            self.steps.append((inputs, outputs, run))

    def run(self, x: np.ndarray, wanted: list[str] | None) -> dict[str, np.ndarray]:
        ctx = {self.input: _Value(array=x.astype(np.int64))}
        for inputs, outputs, step in self.steps:
            ctx.update(zip(outputs, step(*[ctx[i] for i in inputs if i not in self.consts])))
        return {k: v.numpy() for k, v in ctx.items()} if wanted is None else {k: ctx[k].numpy() for k in wanted}


class Kernel:
    """An op through its own kernel, on int64 arrays."""

    def __init__(self, node, consts: dict):
        self.op, self.node, self.consts = getCustomOp(node), node, consts

    def __call__(self, *values: _Value) -> list[_Value]:
        it = iter(values)
        args = [self.consts[i] if i in self.consts else next(it).numpy() for i in self.node.input]
        return [_Value(array=o) for o in self.op.compute(args)]


def _flatten(v: _Value) -> list[_Value]:
    if v.array is not None:
        return [_Value(array=v.array.reshape(v.array.shape[0], -1))]
    t = v.tensor.permute(0, 2, 3, 1) if v.tensor.dim() == 4 else v.tensor
    return [_Value(tensor=t.reshape(t.shape[0], -1))]


class _Mvtu:
    """Accumulators and thresholds of a matrix-vector unit: acc = x . values (+ offset), then acc >= T.

    The op supplies the numbers (flows.ops.mvtu.MVTU.golden_math): the weight values,
    the per-channel offset of an XNOR popcount (None otherwise) and the thresholds
    (None for raw accumulators).
    """

    def __init__(self, values: np.ndarray, offset: np.ndarray | None, thresholds: np.ndarray | None):
        self.xnor = offset is not None
        self.thresholds = thresholds
        self.mw, self.mh = values.shape
        self.values = torch.from_numpy(values.astype(np.float32))
        # Largest |weight|: what bounds a sum of MW products, with the largest input.
        self.wmax = int(np.abs(values).max(initial=1))
        self.offset = offset if self.xnor else np.zeros(self.mh, dtype=np.int64)
        self.offset_f = torch.from_numpy(self.offset.astype(np.float32))
        if self.thresholds is not None:
            # |acc| < 2^24 wherever the float path runs, so clipping keeps every comparison.
            self.thresholds_f = torch.from_numpy(np.clip(self.thresholds, -_EXACT32, _EXACT32).astype(np.float32))

    def activate(self, acc: torch.Tensor, channel_dim: int) -> _Value:
        """acc (float32 popcounts or sums without the offset) -> bits, or the raw accumulators."""
        shape = [1] * acc.dim()
        shape[channel_dim] = self.mh
        if self.xnor:
            acc += self.offset_f.view(shape)
        if self.thresholds is None:
            return _Value(tensor=acc)
        return _Value(tensor=(acc >= self.thresholds_f.view(shape)).to(torch.uint8))


class Conv(_Mvtu):
    """A window generator and the MVTU it feeds, as one convolution; `exact` runs their numpy kernels."""

    def __init__(self, values, offset, thresholds, k: int, stride: int, pads: tuple[int, int, int, int],
                 pad_value: int, exact: Callable[[np.ndarray], np.ndarray]):
        super().__init__(values, offset, thresholds)
        self.k, self.stride, self.pads, self.pad_value, self.exact = k, stride, pads, pad_value, exact
        c = self.mw // (self.k * self.k)
        self.weight = self.values.reshape(self.k, self.k, c, self.mh).permute(3, 2, 0, 1).contiguous(
            memory_format=torch.channels_last)
        top, left, bottom, right = self.pads
        # The int8 convolution pads with its zero point, 0; other pads are written out.
        self.conv_pads = (top, left) if self.pad_value == 0 and (top, left) == (bottom, right) else None
        self.packed = self._prepack()

    def _prepack(self):
        peak = 255 * self.mw * self.wmax + 1
        # x86 int8 kernels add pairs of byte products in int16 with saturation: exact below 2^15.
        if (self.thresholds is None or torch.backends.quantized.engine not in _INT8_ENGINES
                or not 0 <= self.pad_value <= 255 or peak >= _EXACT32 or 2 * 255 * self.wmax >= 2**15):
            return None
        # acc >= T iff sum(x * w) + bias >= 1 with bias = 1 - T + offset; the clip keeps that
        # for every sum in [-255 MW, 255 MW] and keeps the bias exact in float32.
        bias = np.clip(1 - self.thresholds + self.offset, -peak, peak).astype(np.float32)
        try:
            weight = torch._make_per_tensor_quantized_tensor(self.weight.to(torch.int8), 1.0, 0)
            return torch.ops.quantized.conv2d_prepack(weight, torch.from_numpy(bias), [self.stride] * 2,
                                                      list(self.conv_pads or (0, 0)), [1, 1], 1)
        except RuntimeError:
            return None

    def __call__(self, x: _Value) -> list[_Value]:
        q = x.bytes() if self.packed is not None else None
        if q is not None:
            if self.conv_pads is None and any(self.pads):
                q = self._pad_bytes(q)
            out = torch.ops.quantized.conv2d(q, self.packed, 1.0, 0)
            bits = _byte_view(out).clamp_(max=1)
            return [_Value(tensor=bits, quint=out)]
        t = x.exact_float(self.mw * self.wmax, self.pad_value)
        if t is None:
            return [_Value(array=self.exact(x.numpy()))]
        top, left, bottom, right = self.pads
        if any(self.pads):
            t = F.pad(t, (left, right, top, bottom), value=float(self.pad_value))
        acc = F.conv2d(t.contiguous(memory_format=torch.channels_last), self.weight, stride=self.stride)
        return [self.activate(acc, 1)]

    def _pad_bytes(self, q: torch.Tensor) -> torch.Tensor:
        top, left, bottom, right = self.pads
        n, c, h, w = q.shape
        padded, view = _new_bytes((n, c, h + top + bottom, w + left + right))
        view.fill_(self.pad_value)
        view[:, :, top : top + h, left : left + w] = _byte_view(q)
        return padded


class Dense(_Mvtu):
    def __init__(self, values, offset, thresholds, fallback: Kernel):
        super().__init__(values, offset, thresholds)
        self.kernel = fallback

    def __call__(self, x: _Value) -> list[_Value]:
        if x.torch().dim() != 2:
            return self.kernel(x)
        t = x.exact_float(self.mw * self.wmax)
        if t is None:
            return self.kernel(x)
        return [self.activate(t @ self.values, 1)]


class MaxPool:
    def __init__(self, k: int, stride: int, fallback: Kernel):
        self.k, self.stride, self.kernel = k, stride, fallback

    def __call__(self, x: _Value) -> list[_Value]:
        t = x.torch()
        if t.dim() != 4:
            return self.kernel(x)
        if t.dtype == torch.float32:
            return [_Value(tensor=F.max_pool2d(t, self.k, self.stride))]
        if t.dtype != torch.uint8:
            return self.kernel(x)
        k, s = self.k, self.stride
        n, c, h, w = t.shape
        oh, ow = (h - k) // s + 1, (w - k) // s + 1
        quint, out = _new_bytes((n, c, oh, ow))
        for i, (ky, kx) in enumerate((ky, kx) for ky in range(k) for kx in range(k)):
            window = t[:, :, ky : ky + s * (oh - 1) + 1 : s, kx : kx + s * (ow - 1) + 1 : s]
            out.copy_(window) if i == 0 else torch.maximum(out, window, out=out)
        return [_Value(tensor=out, quint=quint)]


class Concat:
    """Channel concatenation of byte tensors."""

    def __init__(self, fallback: Kernel):
        self.kernel = fallback

    def __call__(self, *xs: _Value) -> list[_Value]:
        ts = [x.torch() for x in xs]
        if not all(t.dim() == 4 and t.dtype == torch.uint8 for t in ts):
            return self.kernel(*xs)
        n, _, h, w = ts[0].shape
        quint, out = _new_bytes((n, sum(t.shape[1] for t in ts), h, w))
        torch.cat(ts, dim=1, out=out)
        return [_Value(tensor=out, quint=quint)]


class PixelSum:
    """Per-channel sums over all pixels."""

    def __init__(self, fallback: Kernel):
        self.kernel = fallback

    def __call__(self, x: _Value) -> list[_Value]:
        t = x.torch()
        if t.dim() != 4:
            return self.kernel(x)
        if t.dtype == torch.uint8 and 255 * t.shape[2] * t.shape[3] < _EXACT32:
            return [_Value(tensor=t.float().sum(dim=(2, 3), keepdim=True))]
        return [_Value(tensor=t.sum(dim=(2, 3), keepdim=True, dtype=torch.int64))]

