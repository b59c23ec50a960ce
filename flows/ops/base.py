"""The one base class of the hardware ops: what every op answers, and the defaults.

A hardware op is one flat subclass of HwOp in its own module (flows/ops/<op>.py)
that owns everything about its layer:

- its attributes, numpy kernel (`compute`) and so its shape (qonnx runs it node by node);
- its folding: the legal (PE, SIMD, cycles) and how a choice is set (`fold_options`, `set_folding`);
- its RTL instance: library module, parameters and memory words (`rtl`, called by
  flows.backends.design while it builds the structured design);
- its analytic resources (`resources`, by default the fitted model of its Verilog module);
- optionally a fast vectorised path for the golden model (`golden_step`).

flows.ops (the registry) maps op_type -> class; folding, the golden model, the design
builder and the estimate find an op's behaviour there, never by an op_type switch.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from qonnx.core.datatype import DataType
from qonnx.custom_op.base import CustomOp

if TYPE_CHECKING:
    from flows.backends.design import DesignBuilder, Instance, Stream
    from flows.estimates.resources import Resources


def divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


class HwOp(CustomOp):
    """A hardware layer whose execution is a numpy kernel on int64 arrays.

    Subclasses implement `compute(inputs) -> outputs` and list their attributes;
    shapes follow from running the kernel on zeros, so shape and semantics cannot
    disagree.
    """

    # Folding: "PE" (folds by PE), "PE+SIMD" (PE and SIMD) or None (no folding of its own).
    FOLDS: str | None = None
    # Whether the layer takes cycles of its own (its folding, or its consumer's, sets them).
    TIMED: bool = False
    # Why an op without a folding of its own has none (a folding config that names it is told).
    FOLD_NOTE: str = ""
    # Whether the op holds rows of its input before its first output (a window generator's line
    # buffer): a bypass branch beside it needs a FIFO of fill_lag beats.
    LINE_BUFFER: bool = False

    def base_attrs(self) -> dict:
        return {"outputDataType": ("s", True, "")}

    def compute(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        raise NotImplementedError

    # -- qonnx ---------------------------------------------------------------------
    def _inputs(self, fetch) -> list[np.ndarray]:
        return [fetch(name) for name in self.onnx_node.input]

    def make_shape_compatible_op(self, model):
        def zeros(name):
            init = model.get_initializer(name)
            return init if init is not None else np.zeros(model.get_tensor_shape(name), dtype=np.int64)

        outs = self.compute(self._inputs(zeros))
        if len(outs) != 1:
            raise ValueError(f"{self.onnx_node.name}: shape inference covers single-output ops only")
        return self.make_const_shape_op(list(outs[0].shape))

    def infer_node_datatype(self, model):
        for out in self.onnx_node.output:
            model.set_tensor_datatype(out, DataType[self.get_nodeattr("outputDataType")])

    def execute_node(self, context, graph):
        outs = self.compute(self._inputs(lambda n: np.asarray(context[n]).astype(np.int64)))
        for name, value in zip(self.onnx_node.output, outs):
            # Wide residual streams exceed float32's exact integers; float64 holds them.
            exact32 = value.size == 0 or np.abs(value).max() < 2**24
            context[name] = value.astype(np.float32 if exact32 else np.float64)

    def verify_node(self):
        return []

    # -- folding -------------------------------------------------------------------
    def cycles(self) -> int:
        """Cycles per image in steady state (0 for ops that add no throughput limit)."""
        return 0

    def fold_options(self, model) -> list[tuple[int, int | None, int]]:
        """Every legal (PE, SIMD, cycles); by default PE divides the channels of a per-pixel stream."""
        channels = self.get_nodeattr("Channels")
        beats = self.cycles() * self.get_nodeattr("PE") // channels  # pixels per image
        return [(pe, None, beats * channels // pe) for pe in divisors(channels)]

    def set_folding(self, model, pe: int, simd: int | None) -> None:
        self.set_nodeattr("PE", pe)

    def pe_bound(self) -> str:
        """What PE must divide, for an error message."""
        return f"Channels={self.get_nodeattr('Channels')}"

    def simd_bound(self, model) -> str:
        return ""

    # -- RTL, estimate, golden model -------------------------------------------------
    def rtl(self, b: DesignBuilder, inputs: list[Stream]) -> Stream:
        """Add this layer's instance(s) to the design `b` builds; returns the output stream."""
        raise NotImplementedError(f"{self.onnx_node.op_type} has no RTL module")

    @classmethod
    def resources(cls, inst: Instance) -> Resources:
        """Analytic resources of one of this op's instances: the fitted model of its Verilog module."""
        from flows.estimates.analytic import analytic_resources

        return analytic_resources(inst.module, inst.str_params)

    def fill_lag(self, beats_per_pixel: int) -> int:
        """Input beats a LINE_BUFFER op takes in before its first output."""
        return 0

    def output_burst(self) -> int:
        """Beats this layer emits in a burst after a gap, which the link FIFO behind it holds
        beyond its default depth so that a steady consumer does not wait out the gap; 0: none."""
        return 0

    def golden_step(self, model, consts: dict):
        """A fast step for the golden model, (inputs, outputs, callable, names of nodes it also runs),
        or None to run `compute`."""
        return None
