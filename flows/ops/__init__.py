"""Hardware-layer custom ops in the project's own ONNX domain ("flows.ops").

Each op carries the attributes the RTL generator needs and executes through
flows.ops.kernels, so qonnx's execute_onnx runs a hardware graph node by node.
"""
from flows.ops.label_select import LabelSelect
from flows.ops.mvtu import MVTU
from flows.ops.residual import ResidualAdd, StreamThreshold
from flows.ops.stream_ops import GlobalAccumulate, MaxPoolNHWC, ScoreAffine, SlidingWindow, StreamConcat
from flows.ops.window_sum import WindowSum

DOMAIN = "flows.ops"

custom_op = {
    op.__name__: op
    for op in (MVTU, LabelSelect, SlidingWindow, MaxPoolNHWC, StreamConcat, GlobalAccumulate, ScoreAffine,
               ResidualAdd, StreamThreshold, WindowSum)
}

__all__ = list(custom_op) + ["DOMAIN", "custom_op"]
