"""Stage 2: streamline a QONNX graph into integer arithmetic with exact thresholds.

Every tensor between the input quantizer and the output is tracked as an
integer tensor plus a per-channel affine map to the real value the QONNX graph
computes:  real_c = scale_c * int_c + offset_c.  Scales and offsets are exact
rationals (fractions.Fraction built from the float initializers), so the
threshold that replaces "affine, then sign" is the exact integer boundary:

    scale_c > 0:  sign(scale_c * a + offset_c) = +1  <=>  a >= ceil(-offset_c / scale_c)
    scale_c < 0:  negate the producing weights of channel c, then as above
    scale_c = 0:  a constant, as a threshold no accumulator value reaches (or always reaches)

Thresholds are clipped only to the range the accumulator can reach, which never
changes an answer. The output graph holds standard ONNX ops plus qonnx's
MultiThreshold and takes the input quantizer's integer codes (pixel bytes, q + 128
for a signed 8-bit input, or the +-1 signs where a BipolarQuant is the input
quantizer); the float preprocessing ahead of the quantizer is the host's
(flows.frontend.input_quant). Its output is the QONNX graph's scores where the
output affine is exact in float, else integer scores ranked as the output rule
says (flows.frontend.output_affine).

The handlers live in focused modules: quantizers and thresholds
(flows.frontend.thresholds), layers (flows.frontend.layers), elementwise
affines (flows.frontend.affine); the tracked values in flows.frontend.values.
"""
from __future__ import annotations

import json

import numpy as np
from onnx import TensorProto, helper
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.transformation.infer_shapes import InferShapes
from qonnx.util.basic import qonnx_make_model

from flows.errors import UnsupportedNodeError
from flows.frontend.affine import AffineMixin
from flows.frontend.input_quant import INPUT_QUANT_KEY
from flows.frontend.layers import LayerMixin
from flows.frontend.output_affine import OUTPUT_RULE_KEY, plan_output
from flows.frontend.thresholds import QuantizerMixin
from flows.frontend.values import (  # FIXED_POINT_KEY and INPUT_NAME are public here too
    FIXED_POINT_KEY, INPUT_NAME, IntTensor, QuantConst, RawTensor, _Builder,
)

TAIL_KEY = "bnnflow.graph_tail"  # metadata: what the export's graph ended in (scores, ArgMax, TopK)


class Streamliner(QuantizerMixin, LayerMixin, AffineMixin):
    """Walks the QONNX graph once, in topological order, emitting the integer graph."""

    def __init__(self, model: ModelWrapper) -> None:
        self.src = model.transform(InferShapes())
        self.b = _Builder(model)
        self.values: dict[str, object] = {}
        self.fixed_point: list[dict] = []  # one entry per residual add: widths, scale, error bound
        self.input_dtype: DataType | None = None
        self.input_quant: dict | None = None
        self.output_rules: list[dict] = []
        self.tail: dict[str, str] = {}

    def run(self) -> ModelWrapper:
        src = self.src
        if len(src.graph.input) != 1:
            raise UnsupportedNodeError("graph", "input", f"expected one graph input, found {len(src.graph.input)}")
        self.values[src.graph.input[0].name] = RawTensor(INPUT_NAME)
        for init in src.graph.initializer:
            self.values[init.name] = src.get_initializer(init.name)
        for node in src.graph.node:
            handler = getattr(self, f"_op_{node.op_type}", None)
            if handler is None:
                raise UnsupportedNodeError(node.name, node.op_type, "op type is not supported by the streamliner")
            handler(node)
        return self._finish()

    # -- helpers -------------------------------------------------------------
    def _get(self, name: str, node):
        if name not in self.values:
            raise UnsupportedNodeError(node.name, node.op_type, f"input {name!r} has no producer")
        return self.values[name]

    def _shape(self, name: str) -> list[int]:
        return list(self.src.get_tensor_shape(name))

    def _int_input(self, node, index: int = 0, piecewise: bool = False) -> IntTensor:
        v = self._get(node.input[index], node)
        if not isinstance(v, IntTensor):
            what = "a float (unquantized) tensor" if isinstance(v, RawTensor) else "a constant"
            raise UnsupportedNodeError(
                node.name, node.op_type, f"input {node.input[index]!r} is {what}; a quantized tensor is needed"
            )
        if v.knot is not None and not piecewise:
            raise UnsupportedNodeError(
                node.name, node.op_type,
                f"input {node.input[index]!r} is piecewise (after a PReLU); only affine ops, a sign or a "
                "residual add may follow it",
            )
        return v

    def _const_input(self, node, index: int) -> np.ndarray:
        v = self._get(node.input[index], node)
        if isinstance(v, QuantConst):
            return (v.ints * v.scale).astype(np.float64)
        if isinstance(v, np.ndarray):
            return v
        raise UnsupportedNodeError(node.name, node.op_type, f"input {node.input[index]!r} must be constant")

    # -- the graph's end: scores, or the class ---------------------------------------
    def _class_of(self, node, axis: int | None) -> IntTensor:
        x = self._int_input(node)
        rank = len(self._shape(node.input[0]))
        if rank != 2 or axis not in (1, -1):
            raise UnsupportedNodeError(node.name, node.op_type, "only the class axis of (batch, classes) scores")
        return x

    def _op_ArgMax(self, node) -> None:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if attrs.get("select_last_index", 0):
            raise UnsupportedNodeError(node.name, node.op_type, "select_last_index=1: the hardware ties to the lowest")
        # The hardware's label select is the argmax (ties to the lowest index, as ArgMax's default).
        self.values[node.output[0]] = ("class", self._class_of(node, attrs.get("axis", 0)), node.op_type)

    def _op_TopK(self, node) -> None:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        k = int(np.asarray(self._const_input(node, 1)).reshape(-1)[0])
        if k != 1 or not attrs.get("largest", 1):
            raise UnsupportedNodeError(node.name, node.op_type, f"top-{k} ({'largest' if attrs.get('largest', 1) else 'smallest'}): the hardware's label select gives the top-1 class")
        x = self._class_of(node, attrs.get("axis", -1))
        self.values[node.output[0]] = ("scores", x, node.op_type)
        if len(node.output) > 1:
            self.values[node.output[1]] = ("class", x, node.op_type)

    # -- output ------------------------------------------------------------------
    def _finish(self) -> ModelWrapper:
        if self.input_dtype is None:
            raise UnsupportedNodeError("graph", "input", "the graph input has no input quantizer")
        outputs, shapes, done = [], [], {}
        for o in self.src.graph.output:
            v = self.values.get(o.name)
            if isinstance(v, tuple):  # an ArgMax / TopK: the streamlined graph ends in the scores
                self.tail[o.name] = f"{v[2]} ({v[0]})"
                v = v[1]
            if not isinstance(v, IntTensor):
                raise UnsupportedNodeError("graph", "output", f"output {o.name!r} is not a quantized tensor")
            if id(v) in done:  # TopK's values and indices: one score output
                continue
            done[id(v)] = o.name
            outputs.append(self._emit_output_affine(v, o.name))
            shapes.append([self.src.get_tensor_shape(o.name)[0], v.channels])
        in_shape = self.src.get_tensor_shape(self.src.graph.input[0].name)
        graph = helper.make_graph(
            self.b.nodes,
            "streamlined",
            [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, in_shape)],
            [helper.make_tensor_value_info(o, TensorProto.FLOAT, s) for o, s in zip(outputs, shapes)],
        )
        model = ModelWrapper(qonnx_make_model(graph, producer_name="bnnflow"))
        for k, v in self.b.inits.items():
            model.set_initializer(k, v)
        model = model.transform(InferShapes())
        model.set_metadata_prop(INPUT_QUANT_KEY, json.dumps(self.input_quant))
        model.set_metadata_prop(OUTPUT_RULE_KEY, json.dumps(self.output_rules[0]))
        if self.tail:
            model.set_metadata_prop(TAIL_KEY, json.dumps(self.tail))
        if self.fixed_point:
            model.set_metadata_prop(FIXED_POINT_KEY, json.dumps(self.fixed_point))
        model.set_tensor_datatype(INPUT_NAME, self.input_dtype)
        for k, v in self.b.dtypes.items():
            model.set_tensor_datatype(k, v)
        return model

    def _emit_output_affine(self, v: IntTensor, out_name: str) -> str:
        # The accumulator leaves the integer domain here. Mul/Add reproduce the QONNX graph's
        # scores where they are exact in float; elsewhere they are the scores the output rule
        # ranks (flows.frontend.output_affine), recorded with the exact map and its bounds.
        mul, add, rule = plan_output(v, v.channels)
        rule["output"] = out_name
        self.output_rules.append(rule)
        cur = v.name
        cur = self.b.emit("Mul", [cur, self.b.const("out_scale", mul)], "OutputScale")
        if np.any(add != 0):
            cur = self.b.emit("Add", [cur, self.b.const("out_offset", add)], "OutputOffset")
        return cur


def fixed_point_streams(model: ModelWrapper) -> list[dict]:
    """What streamlining recorded about each residual stream: node, bits, step, shift, error bound."""
    return json.loads(model.get_metadata_prop(FIXED_POINT_KEY) or "[]")


def streamline(model: ModelWrapper) -> ModelWrapper:
    """Return the integer graph equivalent to `model` (see the module docstring)."""
    return Streamliner(model).run()
