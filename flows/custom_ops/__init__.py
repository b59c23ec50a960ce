"""Hardware-layer custom ops in the project's own ONNX domain ("flows.custom_ops").

Each op carries the attributes the RTL generator needs and executes through
flows.kernels, so qonnx's execute_onnx runs a hardware graph node by node.
"""
from .label_select import LabelSelect
from .mvtu import MVTU
from .residual import ResidualAdd, StreamThreshold
from .stream_ops import GlobalAccumulate, MaxPoolNHWC, ScoreAffine, SlidingWindow, StreamConcat
from .window_sum import WindowSum

DOMAIN = "flows.custom_ops"

custom_op = {
    op.__name__: op
    for op in (MVTU, LabelSelect, SlidingWindow, MaxPoolNHWC, StreamConcat, GlobalAccumulate, ScoreAffine,
               ResidualAdd, StreamThreshold, WindowSum)
}

__all__ = list(custom_op) + ["DOMAIN", "custom_op"]
