"""Stage 3: lower the streamlined integer graph to hardware layers.

The hardware graph streams channels-last: 4-D tensors are (N, H, W, C). Each
hardware tensor also changes encoding: binary activations become bits
(1 = +1), and a popcount or an accumulator of encoded inputs differs from the
streamlined graph's integer by a known affine map. Every hardware tensor
therefore carries `v_streamlined = a * v_hw + b_c` (a > 0, b per channel), and
thresholds move through it exactly:

    XNOR layers:     dot = 2P - K,            dot >= T  <=>  P >= ceil((T + K) / 2)
    integer layers:  dot = a * acc + B_c,     dot >= T  <=>  acc >= ceil((T - B_c) / a)

Conv (+ its Pad) becomes a sliding-window generator feeding an MVTU; MaxPool,
Concat and the global sum of a pooled classifier map to streaming layers; the
output affine becomes an integer score stage (only where it can change the
class order) and a label select.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from onnx import TensorProto, helper
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.transformation.infer_shapes import InferShapes
from qonnx.util.basic import get_preferred_onnx_opset, qonnx_make_model

from flows.ops import DOMAIN
from flows.ops.score_affine import score_bits
from flows.errors import UnsupportedNodeError
from flows.frontend.names import give_readable_names
from flows.frontend.streamline import FIXED_POINT_KEY, INPUT_NAME

MAX_SCORE_BITS = 32
MAX_WEIGHT_BITS = 8  # integer weights (first and last layers, transitions)


@dataclass
class HwTensor:
    """A hardware tensor and how its values relate to the streamlined graph's."""

    name: str
    shape: list[int]  # channels-last
    dtype: DataType
    a: int
    b: np.ndarray  # per channel (last axis), int64
    lo: int  # range of the hardware values
    hi: int
    perm: np.ndarray | None = None  # 2-D tensors: hw feature j is streamlined feature perm[j]

    @property
    def is_bits(self) -> bool:
        return self.dtype == DataType["BINARY"]


def _uint(max_value: int) -> DataType:
    return DataType[f"UINT{max(1, int(max_value).bit_length())}"]


def _sint(lo: int, hi: int) -> DataType:
    bits = max((max(hi, 0)).bit_length(), (max(-lo - 1, 0)).bit_length()) + 1
    return DataType[f"INT{bits}"]


def _attrs(node) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _ceil_div(num: int, den: int) -> int:
    return -((-num) // den)


class Lowering:
    def __init__(self, model: ModelWrapper) -> None:
        self.src = model
        self.nodes: list = []
        self.inits: dict[str, np.ndarray] = {}
        self.tensors: dict[str, HwTensor] = {}
        self.hw: dict[str, HwTensor] = {}  # streamlined tensor name -> hardware tensor
        self.pending_pad: dict[str, tuple[list[int], int]] = {}  # pad output -> (pads, value)
        self.done: set[str] = set()
        self._count = 0

    # -- plumbing ------------------------------------------------------------------
    def _emit(self, op_type: str, inputs: list[str], shape: list[int], dtype: DataType, a: int, b, lo: int, hi: int,
              perm=None, **attrs) -> HwTensor:
        self._count += 1
        name = f"{op_type}_{self._count}"
        out = f"{name}_out"
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=name, domain=DOMAIN,
                                           outputDataType=dtype.name, **attrs))
        t = HwTensor(out, list(shape), dtype, a, np.asarray(b, dtype=np.int64), lo, hi, perm)
        self.tensors[out] = t
        return t

    def _input(self, node, i: int = 0) -> HwTensor:
        name = node.input[i]
        if name not in self.hw:
            raise UnsupportedNodeError(node.name, node.op_type, f"input {name!r} was not lowered")
        return self.hw[name]

    def _single_consumer(self, tensor: str):
        consumers = self.src.find_consumers(tensor)
        return consumers[0] if len(consumers) == 1 else None

    # -- walk ------------------------------------------------------------------------
    def run(self) -> ModelWrapper:
        src_shape = self.src.get_tensor_shape(INPUT_NAME)
        dt = self.src.get_tensor_datatype(INPUT_NAME)
        shape = [src_shape[0], *src_shape[2:], src_shape[1]] if len(src_shape) == 4 else list(src_shape)
        if dt == DataType["BIPOLAR"]:
            # A +-1 input streams as bits (1 = +1), so the first layer runs in XNOR mode.
            self.input = HwTensor(INPUT_NAME, shape, DataType["BINARY"], 2, np.full(shape[-1], -1, dtype=np.int64),
                                  0, 1)
        elif dt.signed() or not dt.is_integer():
            raise UnsupportedNodeError("graph", "input",
                                       f"input datatype {dt.name} must be an unsigned integer or bipolar")
        else:
            self.input = HwTensor(INPUT_NAME, shape, dt, 1, np.zeros(shape[-1], dtype=np.int64), 0, int(dt.max()))
        self.tensors[INPUT_NAME] = self.input
        self.hw[INPUT_NAME] = self.input
        output = None
        for node in self.src.graph.node:
            if node.name in self.done:
                continue
            handler = getattr(self, f"_lower_{node.op_type}", None)
            if handler is None:
                raise UnsupportedNodeError(node.name, node.op_type, "no hardware layer implements this op")
            result = handler(node)
            if result is not None:
                output = result
        if output is None:
            raise UnsupportedNodeError("graph", "output", "the graph has no class output")
        return self._finish(output)

    # -- layers ----------------------------------------------------------------------
    def _lower_Pad(self, node) -> None:
        x = self._input(node)
        pads = [int(v) for v in self.src.get_initializer(node.input[1])]
        value = int(self.src.get_initializer(node.input[2]).item())
        consumer = self._single_consumer(node.output[0])
        if consumer is None or consumer.op_type != "Conv":
            raise UnsupportedNodeError(node.name, node.op_type, "padding must feed exactly one convolution")
        codes = {(value - int(b)) / x.a for b in x.b}
        code = codes.pop()
        if codes or code != int(code) or not x.lo <= code <= x.hi:
            raise UnsupportedNodeError(node.name, node.op_type, f"pad value {value} has no code in the stream")
        # ONNX pads are [n, c, h, w] begins then ends; the window generator takes top, left, bottom, right.
        self.pending_pad[node.output[0]] = ([pads[2], pads[3], pads[6], pads[7]], int(code))
        self.hw[node.output[0]] = x

    def _lower_Conv(self, node):
        a = _attrs(node)
        x = self._input(node)
        weights = self.src.get_initializer(node.input[1])
        o, c, kh, kw = weights.shape
        strides = a.get("strides", [1, 1])
        if kh != kw or strides[0] != strides[1]:
            raise UnsupportedNodeError(node.name, node.op_type, "only square kernels and strides are supported")
        pads, code = self.pending_pad.get(node.input[0], ([0, 0, 0, 0], 0))
        own = a.get("pads", [0, 0, 0, 0])
        if any(own):
            if not x.lo <= 0 - int(x.b[0]) <= x.hi or np.any(x.b != 0) or x.a != 1:
                raise UnsupportedNodeError(node.name, node.op_type, "zero padding of a stream that cannot hold 0")
            pads = [p + q for p, q in zip(pads, [own[0], own[1], own[2], own[3]])]
        n, h, w, _ = x.shape
        oh = (h + pads[0] + pads[2] - kh) // strides[0] + 1
        ow = (w + pads[1] + pads[3] - kw) // strides[0] + 1
        mw = kh * kw * c
        window = self._emit(
            "SlidingWindow", [x.name], [n, oh, ow, mw], x.dtype, x.a, np.tile(x.b, kh * kw), x.lo, x.hi,
            K=kh, Stride=strides[0], Pads=pads, PadValue=code, inputDataType=x.dtype.name, IFMDim=[h, w], Channels=c,
        )
        # Weight columns in window order (ky, kx, c).
        matrix = weights.transpose(2, 3, 1, 0).reshape(mw, o)
        return self._mvtu(node, window, matrix)

    def _lower_MatMul(self, node):
        x = self._input(node)
        weights = self.src.get_initializer(node.input[1])
        if x.perm is not None:
            weights = weights[x.perm]
        return self._mvtu(node, x, weights)

    def _mvtu(self, node, x: HwTensor, weights: np.ndarray):
        if weights is None or not np.array_equal(weights, np.round(weights)):
            raise UnsupportedNodeError(node.name, node.op_type, "weights must be a constant integer matrix")
        mw, mh = weights.shape
        w = weights.astype(np.int64)
        binary = bool(np.isin(w, (-1, 1)).all())
        # A +-1 stream's bits: XNOR with +-1 weights; with integer weights 0/1
        # inputs, the affine 2b - 1 going into the output's (a, b) like any other.
        bipolar = x.is_bits and x.a == 2 and np.all(x.b == -1)
        xnor = bipolar and binary
        if not bipolar and (x.dtype.signed() or not x.dtype.is_integer() or x.is_bits):
            raise UnsupportedNodeError(node.name, node.op_type, f"input {x.dtype.name} is neither bits nor unsigned")
        weight_dt = DataType["BINARY"] if binary else _sint(int(w.min()), int(w.max()))
        if weight_dt.bitwidth() > MAX_WEIGHT_BITS:
            raise UnsupportedNodeError(node.name, node.op_type,
                                       f"weights in [{w.min()}, {w.max()}] need {weight_dt.bitwidth()} bits, "
                                       f"more than the {MAX_WEIGHT_BITS} the MVTU takes")
        if xnor:
            acc_lo, acc_hi, acc_dt = 0, mw, _uint(mw + 1)
            out_a, out_b = 2, np.full(mh, -mw)
        else:
            peak = x.hi * int(np.abs(w).sum(axis=0).max())
            acc_lo, acc_hi = -peak, peak
            acc_dt = _sint(acc_lo, acc_hi + 1)
            out_a, out_b = x.a, (w * x.b.reshape(-1)[:, None] if x.b.size == mw else w * int(x.b[0])).sum(0)
        nxt = self._single_consumer(node.output[0])
        thresholded = nxt is not None and nxt.op_type == "MultiThreshold"
        stored = (w + 1) // 2 if binary else w
        inputs = [x.name, self._init(f"{node.name}_weights", stored.astype(np.float32))]
        if thresholded:
            t = self._thresholds(nxt)
            t = np.array([min(max(_ceil_div(int(ti) - int(bi), out_a), acc_lo), acc_hi + 1)
                          for ti, bi in zip(t, out_b)], dtype=np.int64)
            inputs.append(self._init(f"{node.name}_thresholds", t.reshape(-1, 1).astype(np.float32)))
            self.done.add(nxt.name)
        shape = x.shape[:-1] + [mh]
        if thresholded:
            out = self._emit("MVTU", inputs, shape, DataType["BINARY"], 2, np.full(mh, -1), 0, 1,
                             **self._mvtu_attrs(mw, mh, xnor, x, acc_dt, False, weight_dt))
            self.hw[nxt.output[0]] = out
            return None
        out = self._emit("MVTU", inputs, shape, acc_dt, out_a, out_b, acc_lo, acc_hi,
                         **self._mvtu_attrs(mw, mh, xnor, x, acc_dt, True, weight_dt))
        self.hw[node.output[0]] = out
        # A raw accumulator is the class scores, or an operand of a residual stream / standalone threshold.
        return self._lower_output(node, out) if self._feeds_output(node.output[0]) else None

    def _feeds_output(self, tensor: str) -> bool:
        while (n := self._single_consumer(tensor)) is not None and n.op_type in ("Mul", "Add"):
            tensor = n.output[0]
        return tensor in [o.name for o in self.src.graph.output]

    @staticmethod
    def _mvtu_attrs(mw: int, mh: int, xnor: bool, x: HwTensor, acc_dt: DataType, raw: bool,
                    weight_dt: DataType) -> dict:
        return dict(MW=mw, MH=mh, PE=1, SIMD=1, binaryXnorMode=int(xnor), noActivation=int(raw),
                    inputDataType="BINARY" if xnor else x.dtype.name, weightDataType=weight_dt.name,
                    accDataType=acc_dt.name,
                    numVectors=math.prod(x.shape[1:-1]))

    def _thresholds(self, mt) -> np.ndarray:
        a = _attrs(mt)
        if a.get("out_scale") != 2.0 or a.get("out_bias") != -1.0:
            raise UnsupportedNodeError(mt.name, mt.op_type, "only single-threshold bipolar activations are supported")
        t = self.src.get_initializer(mt.input[1])
        if t.shape[1] != 1:
            raise UnsupportedNodeError(mt.name, mt.op_type, "multi-bit activations are not supported")
        return t[:, 0].astype(np.int64)

    def _lower_MultiThreshold(self, node):
        # Not fused into an MVTU: the accumulator also feeds a residual add.
        x = self._input(node)
        self._stream_threshold(node, x, self._thresholds(node), np.zeros(x.shape[-1], dtype=np.int64))

    def _lower_StreamThreshold(self, node):
        x = self._input(node)
        a = _attrs(node)
        self._stream_threshold(node, x, np.array(a["thresholds"]), np.array(a["descending"]))

    def _stream_threshold(self, node, x: HwTensor, t: np.ndarray, descending: np.ndarray) -> None:
        """Move thresholds on the streamlined integer v = a * hw + b_c onto the hardware value."""
        if x.is_bits:
            raise UnsupportedNodeError(node.name, node.op_type, "thresholding a binary stream again")
        up = np.array([_ceil_div(int(ti) - int(bi), x.a) for ti, bi in zip(t, x.b)])
        down = np.array([(int(ti) - int(bi)) // x.a for ti, bi in zip(t, x.b)])
        # Clipping to one past the reachable range changes no answer and bounds the comparator width.
        hw_t = np.where(descending != 0, np.clip(down, x.lo - 1, x.hi), np.clip(up, x.lo, x.hi + 1))
        out = self._emit("StreamThreshold", [x.name], x.shape, DataType["BINARY"], 2, np.full(x.shape[-1], -1), 0, 1,
                         thresholds=[int(v) for v in hw_t], descending=[int(v) for v in descending],
                         inputDataType=x.dtype.name, numPixels=math.prod(x.shape[1:-1]), Channels=x.shape[-1])
        self.hw[node.output[0]] = out

    def _lower_ResidualAdd(self, node):
        a = _attrs(node)
        parts = [self._input(node, i) for i in range(2)]
        if parts[0].shape != parts[1].shape:
            raise UnsupportedNodeError(node.name, node.op_type, f"operand shapes {parts[0].shape} and {parts[1].shape}")
        attrs = {}
        for i, x in enumerate(parts):
            # term(v) with v = a * hw + b_c: the knot and coefficients move onto hw exactly.
            b = x.b.astype(object)
            knot, mul_hi, off_hi, mul_lo, off_lo = (np.array(a[f"{k}{i}"], dtype=object)
                                                    for k in ("knot", "mul_hi", "off_hi", "mul_lo", "off_lo"))
            attrs[f"knot{i}"] = [_ceil_div(int(k) - int(bc), x.a) for k, bc in zip(knot, b)]
            attrs[f"mul_hi{i}"] = [int(m) * x.a for m in mul_hi]
            attrs[f"off_hi{i}"] = [int(m) * int(bc) + int(o) for m, bc, o in zip(mul_hi, b, off_hi)]
            attrs[f"mul_lo{i}"] = [int(m) * x.a for m in mul_lo]
            attrs[f"off_lo{i}"] = [int(m) * int(bc) + int(o) for m, bc, o in zip(mul_lo, b, off_lo)]
        dt = DataType[a["outputDataType"].decode() if isinstance(a["outputDataType"], bytes) else a["outputDataType"]]
        out = self._emit("ResidualAdd", [p.name for p in parts], parts[0].shape, dt, 1, np.zeros(parts[0].shape[-1]),
                         int(dt.min()), int(dt.max()), shift=a.get("shift", 0), channel_axis=-1,
                         numPixels=math.prod(parts[0].shape[1:-1]), Channels=parts[0].shape[-1], **attrs)
        self.hw[node.output[0]] = out

    def _lower_MaxPool(self, node):
        a = _attrs(node)
        x = self._input(node)
        k, s = a["kernel_shape"], a.get("strides", a["kernel_shape"])
        if k[0] != k[1] or s[0] != s[1] or k[0] != s[0]:
            raise UnsupportedNodeError(node.name, node.op_type, "only square, non-overlapping pooling is supported")
        n, h, w, c = x.shape
        out = self._emit("MaxPoolNHWC", [x.name], [n, h // k[0], w // k[0], c], x.dtype, x.a, x.b, x.lo, x.hi,
                         K=k[0], Stride=s[0], IFMDim=[h, w], Channels=c)
        self.hw[node.output[0]] = out

    def _lower_Concat(self, node):
        parts = [self._input(node, i) for i in range(len(node.input))]
        if len({p.a for p in parts}) != 1 or len({p.dtype for p in parts}) != 1:
            raise UnsupportedNodeError(node.name, node.op_type, "concatenated streams must share one encoding")
        # The RTL joins two streams; more are joined left to right, (((x0, x1), x2), ...).
        out = parts[0]
        for part in parts[1:]:
            pair = [out, part]
            shape = out.shape[:-1] + [out.shape[-1] + part.shape[-1]]
            out = self._emit("StreamConcat", [p.name for p in pair], shape, out.dtype, out.a,
                             np.concatenate([p.b for p in pair]), min(p.lo for p in pair), max(p.hi for p in pair),
                             InChannels=[p.shape[-1] for p in pair],
                             Pixels=int(np.prod(shape[1:-1], dtype=np.int64)))
        self.hw[node.output[0]] = out

    def _lower_ReduceSum(self, node):
        x = self._input(node)
        n, h, w, c = x.shape
        pixels = h * w
        dt = _uint(x.hi * pixels)
        out = self._emit("GlobalAccumulate", [x.name], [n, 1, 1, c], dt, x.a, x.b * pixels, x.lo * pixels,
                         x.hi * pixels, Pixels=pixels, Channels=c)
        self.hw[node.output[0]] = out

    def _lower_WindowSum(self, node):
        x = self._input(node)
        k = _attrs(node)["K"]
        n, h, w, c = x.shape
        area = k * k
        # Each of the K*K summands is a * hw + b_c, so the sum is a * (sum of hw) + K*K * b_c.
        lo, hi = x.lo * area, x.hi * area
        dt = _sint(lo, hi) if lo < 0 else _uint(hi)
        out = self._emit("WindowSum", [x.name], [n, h // k, w // k, c], dt, x.a, x.b * area, lo, hi,
                         K=k, IFMDim=[h, w], Channels=c)
        self.hw[node.output[0]] = out

    def _lower_Flatten(self, node):
        x = self._input(node)
        if len(x.shape) == 2:
            self.hw[node.output[0]] = x
            return
        n, h, w, c = x.shape
        # Streamlined (NCHW) flattening orders features (c, h, w); the stream orders them (h, w, c).
        hh, ww, cc = np.meshgrid(np.arange(h), np.arange(w), np.arange(c), indexing="ij")
        perm = (cc * h * w + hh * w + ww).reshape(-1)
        out_name = f"{node.name}_hw"
        self.nodes.append(helper.make_node("Flatten", [x.name], [out_name], name=f"Flatten_{node.name}", axis=1))
        t = HwTensor(out_name, [n, h * w * c], x.dtype, x.a, np.tile(x.b, h * w), x.lo, x.hi, perm)
        self.tensors[out_name] = t
        self.hw[node.output[0]] = t

    _lower_Reshape = _lower_Flatten

    # -- the class decision ---------------------------------------------------------
    def _lower_output(self, matmul, acc: HwTensor) -> HwTensor:
        """scores = s_c * (a * acc + B_c) + o_c; argmax needs only integers m_c * acc + n_c."""
        src = self.src
        chain = []
        cur = matmul.output[0]
        while (n := self._single_consumer(cur)) is not None and n.op_type in ("Mul", "Add"):
            chain.append(n)
            cur = n.output[0]
        if cur not in [o.name for o in src.graph.output]:
            raise UnsupportedNodeError(matmul.name, matmul.op_type, "the unthresholded accumulator must feed the output")
        channels = acc.shape[-1]
        scale = [Fraction(1)] * channels
        offset = [Fraction(0)] * channels
        for n in chain:
            c = np.broadcast_to(src.get_initializer(n.input[1]).reshape(-1), (channels,))
            if n.op_type == "Mul":
                scale = [s * Fraction(float(v)) for s, v in zip(scale, c)]
                offset = [o * Fraction(float(v)) for o, v in zip(offset, c)]
            else:
                offset = [o + Fraction(float(v)) for o, v in zip(offset, c)]
            self.done.add(n.name)
        mult = [s * acc.a for s in scale]
        add = [s * int(b) + o for s, b, o in zip(scale, acc.b, offset)]
        shared = _rational_gcd([v for v in mult + add if v != 0])
        m = [int(v / shared) for v in mult]
        k = [int(v / shared) for v in add]
        scores = acc
        if len(set(m)) > 1 or len(set(k)) > 1 or m[0] <= 0:
            bits = score_bits(m, k, acc.lo, acc.hi)
            if bits > MAX_SCORE_BITS:
                raise UnsupportedNodeError(
                    chain[-1].name if chain else matmul.name, "output",
                    f"the exact integer scores need {bits} bits (more than {MAX_SCORE_BITS})",
                )
            scores = self._emit("ScoreAffine", [acc.name], acc.shape, DataType[f"INT{bits}"], 1,
                                np.zeros(channels), -(2 ** (bits - 1)), 2 ** (bits - 1) - 1,
                                Multipliers=m, Offsets=k, inputDataType=acc.dtype.name)
        out_dt = _uint(channels - 1)
        self.nodes.append(helper.make_node("LabelSelect", [scores.name], ["global_out"], name="LabelSelect_0",
                                           domain=DOMAIN, K=1, Labels=channels, PE=1,
                                           inputDataType=scores.dtype.name, outputDataType=out_dt.name))
        out = HwTensor("global_out", [acc.shape[0], 1], out_dt, 1, np.zeros(1), 0, channels - 1)
        self.tensors["global_out"] = out
        return out

    def _init(self, name: str, value: np.ndarray) -> str:
        self.inits[name] = value
        return name

    def _finish(self, output: HwTensor) -> ModelWrapper:
        graph = helper.make_graph(
            self.nodes,
            "hardware",
            [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, self.input.shape)],
            [helper.make_tensor_value_info(output.name, TensorProto.FLOAT, output.shape)],
            value_info=[helper.make_tensor_value_info(t.name, TensorProto.FLOAT, t.shape)
                        for t in self.tensors.values() if t.name not in (INPUT_NAME, output.name)],
        )
        model = ModelWrapper(
            qonnx_make_model(
                graph,
                producer_name="bnnflow",
                opset_imports=[helper.make_opsetid("", get_preferred_onnx_opset()), helper.make_opsetid(DOMAIN, 1)],
            )
        )
        for k, v in self.inits.items():
            model.set_initializer(k, v)
        for t in self.tensors.values():
            model.set_tensor_datatype(t.name, t.dtype)
        model = model.transform(InferShapes())
        if self.src.get_metadata_prop(FIXED_POINT_KEY):
            model.set_metadata_prop(FIXED_POINT_KEY, self.src.get_metadata_prop(FIXED_POINT_KEY))
        return give_readable_names(model)


def _rational_gcd(values: list[Fraction]) -> Fraction:
    """The largest S with every value an integer multiple of S."""
    num = 0
    den = 1
    for v in values:
        v = Fraction(v)
        num = math.gcd(num, v.numerator)
        den = den * v.denominator // math.gcd(den, v.denominator)
    return Fraction(num, den) if num else Fraction(1)


def lower_to_hw(model: ModelWrapper) -> ModelWrapper:
    return Lowering(model).run()


def to_hw_layout(images: np.ndarray) -> np.ndarray:
    """Dataset images (N, C, H, W) in the hardware graph's channels-last layout."""
    return images.transpose(0, 2, 3, 1) if images.ndim == 4 else images


def score_node(model: ModelWrapper):
    """The node whose integer outputs the label select ranks (the last layer's output)."""
    ls = model.get_nodes_by_op_type("LabelSelect")
    return model.find_producer(ls[0].input[0]) if ls else None


def without_label_select(model: ModelWrapper) -> ModelWrapper:
    """A copy whose output is the integer scores instead of the label.

    Simulating this variant checks the scores themselves, not only their argmax.
    """
    out = ModelWrapper(model.model.__deepcopy__())
    ls = out.get_nodes_by_op_type("LabelSelect")[0]
    scores = ls.input[0]
    out.graph.node.remove(ls)
    vi = out.get_tensor_valueinfo(scores)
    out.graph.value_info.remove(vi)
    del out.graph.output[:]
    out.graph.output.append(vi)
    return out
