"""StreamConcat, the per-pixel concatenation of two streams' channels (hw/rtl/bnn_concat.v)."""
from __future__ import annotations

import math

import numpy as np

from flows.errors import UnsupportedNodeError
from flows.ops.base import HwOp, divisors


class StreamConcat(HwOp):
    """Per-pixel concatenation of the channels of its inputs, in input order.

    PE is its output beat: a divisor of both inputs' channel counts (no beat straddles the two), or
    a whole pixel of both. A pixel takes (C0 + C1) / PE cycles, so the folding gives it the narrowest
    beat that keeps up with the target, like any layer: behind layers that make a pixel a cycle or
    two, only whole pixels do.
    """

    FOLDS = "PE"
    TIMED = True

    def get_nodeattr_types(self):
        return {**self.base_attrs(), "InChannels": ("ints", True, []), "Pixels": ("i", True, 1),
                "PE": ("i", False, 1)}

    def compute(self, inputs):
        return [np.concatenate(inputs, axis=-1)]

    def cycles(self) -> int:
        return self.get_nodeattr("Pixels") * sum(self.get_nodeattr("InChannels")) // self.get_nodeattr("PE")

    def fold_options(self, model):
        chans, pixels = self.get_nodeattr("InChannels"), self.get_nodeattr("Pixels")
        total = sum(chans)
        return [(pe, None, pixels * total // pe) for pe in divisors(math.gcd(*chans)) + [total]]

    def pe_bound(self) -> str:
        chans = self.get_nodeattr("InChannels")
        return f"every input's channels ({', '.join(map(str, chans))}), or be their sum {sum(chans)}"

    def rtl(self, b, inputs):
        node = self.onnx_node
        if len(inputs) != 2:
            raise UnsupportedNodeError(node.name, node.op_type, "the RTL concatenates exactly two streams")
        chans, pe = self.get_nodeattr("InChannels"), self.get_nodeattr("PE")
        # Each input reaches the module at a width its converter takes to the beat: PE elements,
        # or its whole pixel.
        targets = chans if pe == sum(chans) else [pe, pe]
        inputs = [s if s.elems % t == 0 or t % s.elems == 0 else b.reshape(s, t, node.name)
                  for s, t in zip(inputs, targets)]
        out = b.stream(node.name, pe, inputs[0].elem_bits, inputs[0].signed)
        params = {"CH0": chans[0], "CH1": chans[1], "SIMD0": inputs[0].elems, "SIMD1": inputs[1].elems,
                  "EW": inputs[0].elem_bits, "OUT_SIMD": pe}
        b.instance("bnn_concat", f"{node.name}_i", params,
                   {"s0_axis": inputs[0].name, "s1_axis": inputs[1].name, "m_axis": out.name}, op_type=node.op_type)
        b.layer(node, params)
        return out

    def golden_step(self, model, consts):
        from flows.sim.golden import Concat, Kernel

        node = self.onnx_node
        return list(node.input), list(node.output), Concat(Kernel(node, consts)), ()
