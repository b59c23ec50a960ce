"""MVTU, the matrix-vector-threshold unit: y = threshold(x . W) or the raw accumulator (hw/rtl/bnn_mvtu.v)."""
from __future__ import annotations

import numpy as np
from qonnx.core.datatype import DataType
from qonnx.custom_op.registry import getCustomOp

from flows.errors import UnsupportedNodeError
from flows.ops.base import HwOp, divisors
from flows.ops.sliding_window import parallel_simds

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


def weight_words(weights: np.ndarray, pe: int, simd: int, weight_bits: int = 1) -> list[int]:
    """ROM words of an MVTU, address nf*SF+sf.

    Bit (pe*WB + j)*SIMD + s is bit j of W[sf*SIMD+s, nf*PE+pe]: the bit itself
    for +-1 weights (WB = 1), bit plane j of the two's complement otherwise.
    """
    mw, mh = weights.shape
    sf, nf = mw // simd, mh // pe
    w = weights.astype(np.int64)
    lo, hi = -(1 << (weight_bits - 1)), (1 << (weight_bits - 1)) - 1
    if weight_bits == 1:
        lo, hi = 0, 1
    if w.size and not (lo <= w.min() and w.max() <= hi):
        raise ValueError(f"weights in [{w.min()}, {w.max()}] do not fit {weight_bits}-bit words")
    planes = [(w >> j) & 1 for j in range(weight_bits)]
    words = []
    for n in range(nf):
        for s in range(sf):
            bits = [planes[j][s * simd : (s + 1) * simd, n * pe + p] for p in range(pe) for j in range(weight_bits)]
            block = np.concatenate(bits)
            words.append(int("".join("1" if b else "0" for b in block[::-1]), 2))
    return words


def threshold_words(thresholds: np.ndarray, pe: int, acc_bits: int) -> list[int]:
    """Threshold ROM of an MVTU: word nf, lane pe at bit pe*acc_bits, acc_bits two's complement."""
    t = thresholds.reshape(-1).astype(np.int64)
    mask = (1 << acc_bits) - 1
    words = []
    for n in range(len(t) // pe):
        word = 0
        for p in range(pe):
            word |= (int(t[n * pe + p]) & mask) << (p * acc_bits)
        words.append(word)
    return words


def window_source(model, node):
    """The SlidingWindow feeding `node`, or None."""
    producer = model.find_producer(node.input[0])
    return producer if producer is not None and producer.op_type == "SlidingWindow" else None


class MVTU(HwOp):
    """Inputs: x (..., MW), weights (MW, MH), thresholds (MH, 1) unless noActivation.

    weightDataType BINARY: the weights are bits (1 = +1, 0 = -1); INTk (integer
    inputs only): signed integers, as FINN's MVAU keeps them.
    binaryXnorMode=1: x holds bits and the accumulator is popcount(xnor(x, w)).
    binaryXnorMode=0: x holds unsigned integers, acc = sum(x * w).
    PE divides MH and SIMD divides MW; the unit takes (MH/PE)*(MW/SIMD) cycles a vector,
    numVectors vectors an image.
    """

    FOLDS = "PE+SIMD"
    TIMED = True

    def get_nodeattr_types(self):
        return {
            **self.base_attrs(),
            "MW": ("i", True, 0),
            "MH": ("i", True, 0),
            "PE": ("i", False, 1),
            "SIMD": ("i", False, 1),
            "binaryXnorMode": ("i", False, 1, {0, 1}),
            "noActivation": ("i", False, 0, {0, 1}),
            "inputDataType": ("s", True, ""),
            "weightDataType": ("s", False, "BINARY"),
            "accDataType": ("s", True, ""),
            # vectors per image: output pixels of a convolution, 1 for a dense layer
            "numVectors": ("i", False, 1),
            # where the weight ROM lives: block RAM, or LUT logic (flows/build/weight_memory.py)
            "weightStyle": ("s", False, "block", {"block", "logic"}),
        }

    def compute(self, inputs):
        thresholds = None if self.get_nodeattr("noActivation") else inputs[2]
        return [mvtu(inputs[0], inputs[1], thresholds, bool(self.get_nodeattr("binaryXnorMode")),
                     self.binary_weights)]

    @property
    def binary_weights(self) -> bool:
        return self.get_nodeattr("weightDataType") == "BINARY"

    @property
    def weight_bits(self) -> int:
        """Bits per weight in the unit's ROM."""
        return DataType[self.get_nodeattr("weightDataType")].bitwidth()

    def weight_rom_shape(self) -> tuple[int, int]:
        """(width, depth) of the weight ROM at the current folding: one word per fold step."""
        mw, mh, pe, simd = (self.get_nodeattr(k) for k in ("MW", "MH", "PE", "SIMD"))
        return pe * self.weight_bits * simd, (mh // pe) * (mw // simd)

    def verify_node(self):
        info = []
        mw, mh = self.get_nodeattr("MW"), self.get_nodeattr("MH")
        if mh % self.get_nodeattr("PE"):
            info.append(f"PE={self.get_nodeattr('PE')} does not divide MH={mh}")
        if mw % self.get_nodeattr("SIMD"):
            info.append(f"SIMD={self.get_nodeattr('SIMD')} does not divide MW={mw}")
        if not self.binary_weights and self.get_nodeattr("binaryXnorMode"):
            info.append(f"weightDataType={self.get_nodeattr('weightDataType')} needs integer inputs, not XNOR")
        return info

    # -- folding -------------------------------------------------------------------
    def cycles(self) -> int:
        mw, mh = self.get_nodeattr("MW"), self.get_nodeattr("MH")
        per_vector = (mh // self.get_nodeattr("PE")) * (mw // self.get_nodeattr("SIMD"))
        return per_vector * self.get_nodeattr("numVectors")

    def fold_options(self, model):
        mw, mh, vectors = self.get_nodeattr("MW"), self.get_nodeattr("MH"), self.get_nodeattr("numVectors")
        swg = window_source(model, self.onnx_node)
        if swg is None:
            return [(pe, simd, (mh // pe) * (mw // simd) * vectors) for pe in divisors(mh) for simd in divisors(mw)]
        # Behind a window generator SIMD divides a pixel's channels, or takes whole pixels of the
        # window (sliding_window.parallel_simds); the generator's own pace bounds the pair.
        window = getCustomOp(swg)
        k, channels = window.get_nodeattr("K"), window.get_nodeattr("Channels")
        simds = divisors(channels) + parallel_simds(k, channels)
        return [(pe, simd, max((mh // pe) * (mw // simd) * vectors, window.cycles_at(simd)))
                for pe in divisors(mh) for simd in simds]

    def set_folding(self, model, pe, simd):
        self.set_nodeattr("PE", pe)
        if simd is not None:
            self.set_nodeattr("SIMD", simd)
            swg = window_source(model, self.onnx_node)
            if swg is not None:
                getCustomOp(swg).set_nodeattr("SIMD", simd)

    def pe_bound(self):
        return f"MH={self.get_nodeattr('MH')}"

    def input_elems(self) -> int:
        """Elements per input beat."""
        return self.get_nodeattr("SIMD")

    def simd_bound(self, model):
        swg = window_source(model, self.onnx_node)
        if swg is None:
            return f"MW={self.get_nodeattr('MW')}"
        window = getCustomOp(swg)
        k, channels = window.get_nodeattr("K"), window.get_nodeattr("Channels")
        return (f"the {channels} channels of its window generator {swg.name}, or be whole pixels of its "
                f"{k}x{k} window (m*{channels} with m dividing {k * k})")

    # -- RTL -------------------------------------------------------------------------
    def rtl(self, b, inputs):
        node, s = self.onnx_node, inputs[0]
        mw, mh, pe, simd = (self.get_nodeattr(k) for k in ("MW", "MH", "PE", "SIMD"))
        xnor = bool(self.get_nodeattr("binaryXnorMode"))
        thresholded = not self.get_nodeattr("noActivation")
        acc_dt = DataType[self.get_nodeattr("accDataType")]
        acc_bits = acc_dt.bitwidth()
        in_bits = 1 if xnor else DataType[self.get_nodeattr("inputDataType")].bitwidth()
        if in_bits == 1 and not xnor and self.binary_weights:
            raise UnsupportedNodeError(node.name, node.op_type,
                                       "+-1 weights on 1-bit inputs are only supported as XNOR")
        if s.elem_bits != in_bits:
            raise UnsupportedNodeError(
                node.name, node.op_type, f"stream carries {s.elem_bits}-bit elements, layer expects {in_bits}"
            )
        s = b.reshape(s, simd, node.name)
        if mh // pe > 1:
            # The unit reads a vector once and replays it for the other neuron folds;
            # a vector-deep FIFO lets the producer fill the next vector meanwhile.
            s = b.fifo(s, f"{node.name}_vector", mw // simd + 2)
        from flows.backends.design import Memory

        wfile, tfile = f"{node.name}_weights.hex", f"{node.name}_thresholds.hex"
        weights = b.model.get_initializer(node.input[1]).astype(np.int64)
        wbits = self.weight_bits
        memories = [Memory(wfile, pe * wbits * simd, weight_words(weights, pe, simd, wbits))]
        if thresholded:
            t = b.model.get_initializer(node.input[2])
            memories.append(Memory(tfile, pe * acc_bits, threshold_words(t, pe, acc_bits)))
        out_bits = 1 if thresholded else acc_bits
        out = b.stream(node.name, pe, out_bits, (not thresholded) and acc_dt.signed())
        params = {
            "MW": mw, "MH": mh, "PE": pe, "SIMD": simd, "IN_BITS": in_bits, "WEIGHT_BITS": wbits, "ACC_BITS": acc_bits,
            "USE_THRESH": int(thresholded), "WEIGHT_FILE": f'"{wfile}"', "THRESH_FILE": f'"{tfile}"',
            "WEIGHT_STYLE": f'"{self.get_nodeattr("weightStyle")}"',
        }
        b.unit(node, "bnn_mvtu", params, s, out, memories)
        return out

    # -- golden model --------------------------------------------------------------
    def golden_math(self, consts: dict) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """(weight values, per-channel offset or None, thresholds or None): acc = x . values + offset.

        With +-1 weights w and bits x, popcount(xnor(x, w)) = x . w + (number of -1 weights).
        """
        weights = consts[self.onnx_node.input[1]]
        thresholds = None if self.get_nodeattr("noActivation") else consts[self.onnx_node.input[2]].reshape(-1)
        offset = (weights == 0).sum(axis=0) if self.get_nodeattr("binaryXnorMode") else None
        return weight_values(weights, self.binary_weights), offset, thresholds

    def golden_step(self, model, consts):
        from flows.sim.golden import Dense, Kernel

        node = self.onnx_node
        if not all(i in consts for i in node.input[1:]):
            return None
        return list(node.input), list(node.output), Dense(*self.golden_math(consts), Kernel(node, consts)), ()
