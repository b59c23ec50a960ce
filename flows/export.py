"""Stage 1: export a Brevitas model to QONNX and tidy the graph."""
from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import torch
import torch.nn as nn
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.transformation.general import GiveReadableTensorNames, GiveUniqueNodeNames
from qonnx.transformation.infer_datatypes import InferDataTypes
from qonnx.transformation.infer_shapes import InferShapes
from qonnx.util.cleanup import cleanup_model

from models.layers import freeze_for_export


def export_qonnx(model: nn.Module, input_shape: tuple[int, ...]) -> ModelWrapper:
    """Export `model` (for inputs of shape (C, H, W)) to a cleaned-up QONNX graph.

    dynamo=False: the dynamo exporter emits a Gemm without bias that qonnx cannot read.
    """
    from brevitas.export import export_qonnx as brevitas_export

    frozen = freeze_for_export(model)
    dummy = torch.zeros((1, *input_shape))
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "export.onnx"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            brevitas_export(frozen, args=dummy, export_path=str(path), dynamo=False)
        qmodel = ModelWrapper(str(path))
    return tidy(qmodel)


def tidy(model: ModelWrapper) -> ModelWrapper:
    model = cleanup_model(model)
    for t in (InferShapes(), InferDataTypes(), GiveUniqueNodeNames(), GiveReadableTensorNames()):
        model = model.transform(t)
    return model
