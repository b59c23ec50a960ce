"""SlidingWindow, the window generator: im2col on a stream (hw/rtl/bnn_swg.v)."""
from __future__ import annotations

import numpy as np

from flows.ops.base import HwOp


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


def parallel_simds(k: int, channels: int) -> list[int]:
    """The SIMDs beyond a pixel's channels that a whole-window generator serves: m whole pixels of
    the window per beat, m dividing K*K (m = K*K is the whole window)."""
    return [m * channels for m in range(2, k * k + 1) if (k * k) % m == 0]


class SlidingWindow(HwOp):
    """im2col on a stream: windows of K*K*C elements ordered (ky, kx, c), padded with PadValue (encoded).

    It has no folding of its own: it runs at the SIMD of the MVTU it feeds (MVTU.set_folding sets it).
    A SIMD that divides the channels streams the window in SIMD-element beats from a block-RAM line
    buffer (bnn_swg). A larger one, a multiple of the channels (parallel_simds), needs whole pixels
    of the window at once: bnn_swg_parallel emits the whole window every cycle, one padded-image
    position per cycle, and a width converter cuts it to SIMD. That is what lifts a thin stem (one
    8-bit channel: one element per cycle, K*K cycles per output pixel) to one output pixel per cycle.
    """

    TIMED = True
    FOLD_NOTE = " (it runs at the SIMD of the MVTU it feeds)"
    LINE_BUFFER = True

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
        return [sliding_window(inputs[0], a("K"), a("Stride"), tuple(a("Pads")), a("PadValue"))]

    def output_dim(self) -> tuple[int, int]:
        (h, w), k, s = self.get_nodeattr("IFMDim"), self.get_nodeattr("K"), self.get_nodeattr("Stride")
        top, left, bottom, right = self.get_nodeattr("Pads")
        return (h + top + bottom - k) // s + 1, (w + left + right - k) // s + 1

    @property
    def parallel(self) -> bool:
        """Whether the SIMD asks for whole pixels of the window per beat (bnn_swg_parallel)."""
        return self.get_nodeattr("SIMD") > self.get_nodeattr("Channels")

    def padded_dim(self) -> tuple[int, int]:
        (h, w), (top, left, bottom, right) = self.get_nodeattr("IFMDim"), self.get_nodeattr("Pads")
        return h + top + bottom, w + left + right

    def input_elems(self) -> int:
        """Elements per input beat: SIMD, or a whole pixel for the whole-window generator."""
        return self.get_nodeattr("Channels") if self.parallel else self.get_nodeattr("SIMD")

    def cycles_at(self, simd: int) -> int:
        """Cycles per image at a SIMD: one beat per cycle, or one padded-image position per cycle
        for the whole-window generator (the width converter after it is the MVTU's pace)."""
        oh, ow = self.output_dim()
        k, c = self.get_nodeattr("K"), self.get_nodeattr("Channels")
        if simd > c:
            hp, wp = self.padded_dim()
            return hp * wp
        return oh * ow * k * k * c // simd

    def cycles(self) -> int:
        return self.cycles_at(self.get_nodeattr("SIMD"))

    def fill_lag(self, beats_per_pixel: int) -> int:
        k, (_, width) = self.get_nodeattr("K"), self.get_nodeattr("IFMDim")
        top = self.get_nodeattr("Pads")[0]
        return ((k - top + 1) * width + k) * beats_per_pixel

    def rtl(self, b, inputs):
        node = self.onnx_node
        (h, w), k, c = self.get_nodeattr("IFMDim"), self.get_nodeattr("K"), self.get_nodeattr("Channels")
        top, left, bottom, right = self.get_nodeattr("Pads")
        s = b.reshape(inputs[0], self.input_elems(), node.name)
        params = {"IFM_H": h, "IFM_W": w, "CH": c, "K": k,
                  "STRIDE": self.get_nodeattr("Stride"), "PAD_T": top, "PAD_L": left, "PAD_B": bottom, "PAD_R": right,
                  "PAD_VALUE": self.get_nodeattr("PadValue") & ((1 << s.elem_bits) - 1), "EW": s.elem_bits}
        if self.parallel:
            out = b.stream(node.name, k * k * c, s.elem_bits, s.signed)
            b.unit(node, "bnn_swg_parallel", params, s, out)
        else:
            out = b.stream(node.name, self.get_nodeattr("SIMD"), s.elem_bits, s.signed)
            b.unit(node, "bnn_swg", {**params, "SIMD": self.get_nodeattr("SIMD")}, s, out)
        return out

    def golden_step(self, model, consts):
        """A window generator and the MVTU it feeds alone run as one convolution."""
        from qonnx.custom_op.registry import getCustomOp

        from flows.sim.golden import Conv

        consumers = model.find_consumers(self.onnx_node.output[0])
        if len(consumers) != 1 or consumers[0].op_type != "MVTU":
            return None
        mvtu = consumers[0]
        unit = getCustomOp(mvtu)
        rest = [consts[i] for i in mvtu.input[1:]]

        def exact(x: np.ndarray) -> np.ndarray:
            """The two kernels execute_onnx runs, for integers beyond float32."""
            return unit.compute([self.compute([x])[0], *rest])[0]

        a = self.get_nodeattr
        conv = Conv(*unit.golden_math(consts), a("K"), a("Stride"), tuple(a("Pads")), a("PadValue"), exact)
        return [self.onnx_node.input[0]], [mvtu.output[0]], conv, (mvtu.name,)
