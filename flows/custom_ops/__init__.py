"""Hardware-layer custom ops in the project's own ONNX domain ("flows.custom_ops").

Each op carries the attributes the RTL generator needs and executes through
flows.kernels, so qonnx's execute_onnx runs a hardware graph node by node.
"""
from .label_select import LabelSelect
from .mvtu import MVTU

DOMAIN = "flows.custom_ops"

custom_op = {"MVTU": MVTU, "LabelSelect": LabelSelect}

__all__ = ["MVTU", "LabelSelect", "DOMAIN", "custom_op"]
