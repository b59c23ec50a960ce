"""StreamConcat, the per-pixel concatenation of two streams' channels (hw/rtl/bnn_concat.v)."""
from __future__ import annotations

import math

import numpy as np

from flows.errors import UnsupportedNodeError
from flows.ops.base import HwOp


class StreamConcat(HwOp):
    """Per-pixel concatenation of the channels of its inputs, in input order. It adds no cycles:
    it runs at the rate of its inputs."""

    def get_nodeattr_types(self):
        return self.base_attrs()

    def compute(self, inputs):
        return [np.concatenate(inputs, axis=-1)]

    def rtl(self, b, inputs):
        node = self.onnx_node
        if len(inputs) != 2:
            raise UnsupportedNodeError(node.name, node.op_type, "the RTL concatenates exactly two streams")
        chans = [b.model.get_tensor_shape(i)[-1] for i in node.input]
        out_simd = math.gcd(chans[0], chans[1], inputs[0].elems, inputs[1].elems)
        out = b.stream(node.name, out_simd, inputs[0].elem_bits, inputs[0].signed)
        params = {"CH0": chans[0], "CH1": chans[1], "SIMD0": inputs[0].elems, "SIMD1": inputs[1].elems,
                  "EW": inputs[0].elem_bits, "OUT_SIMD": out_simd}
        b.instance("bnn_concat", f"{node.name}_i", params,
                   {"s0_axis": inputs[0].name, "s1_axis": inputs[1].name, "m_axis": out.name}, op_type=node.op_type)
        b.layer(node, params, 0)
        return out

    def golden_step(self, model, consts):
        from flows.sim.golden import Concat, Kernel

        node = self.onnx_node
        return list(node.input), list(node.output), Concat(Kernel(node, consts)), ()
