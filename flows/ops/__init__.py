"""The hardware ops and their registry, in the project's own ONNX domain ("flows.ops").

One module per op (flows/ops/<op>.py), one flat class each (flows.ops.base.HwOp):
attributes, numpy kernel, folding, RTL instance and analytic resources. Lowering
(flows.frontend.lower) creates the nodes; qonnx's getCustomOp finds their class in
`custom_op` below, and so do folding, the golden model, the design builder and the
estimate. Adding a layer: a class here, its lowering, its Verilog module in hw/rtl.
"""
from flows.ops.base import HwOp
from flows.ops.global_accumulate import GlobalAccumulate
from flows.ops.label_select import LabelSelect
from flows.ops.max_pool import MaxPoolNHWC
from flows.ops.mvtu import MVTU
from flows.ops.residual_add import ResidualAdd
from flows.ops.score_affine import ScoreAffine
from flows.ops.sliding_window import SlidingWindow
from flows.ops.stream_concat import StreamConcat
from flows.ops.stream_threshold import StreamThreshold
from flows.ops.window_sum import WindowSum

DOMAIN = "flows.ops"

# op_type -> class: the registry qonnx reads (getCustomOp) and every stage dispatches through.
custom_op: dict[str, type[HwOp]] = {
    op.__name__: op
    for op in (MVTU, LabelSelect, SlidingWindow, MaxPoolNHWC, StreamConcat, GlobalAccumulate, ScoreAffine,
               ResidualAdd, StreamThreshold, WindowSum)
}


def op_class(op_type: str) -> type[HwOp] | None:
    """The class of a hardware op, or None for an op that is not one."""
    return custom_op.get(op_type)


# Ops with a folding of their own (a SlidingWindow takes its consumer's SIMD), and those with cycles.
FOLDABLE = tuple(t for t, c in custom_op.items() if c.FOLDS)
TIMED = tuple(t for t, c in custom_op.items() if c.TIMED)

__all__ = list(custom_op) + ["DOMAIN", "FOLDABLE", "TIMED", "HwOp", "custom_op", "op_class"]
