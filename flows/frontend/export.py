"""Stage 1: export a Brevitas model to QONNX and tidy the graph."""
from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import torch
from onnx.reference import ReferenceEvaluator
import torch.nn as nn
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.transformation.base import Transformation
from qonnx.transformation.fold_constants import FoldConstants
from qonnx.transformation.general import GiveUniqueParameterTensors, RemoveStaticGraphInputs, RemoveUnusedTensors
from qonnx.transformation.infer_datatypes import InferDataTypes
from qonnx.transformation.infer_shapes import InferShapes
from qonnx.transformation.quant_constant_folding import FoldTransposeIntoQuantInit

from flows.frontend.names import give_readable_names
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


# Folding must leave quantizers in place: streamlining reads their integers and scales.
QUANT_OPS = ["Quant", "BipolarQuant", "QuantizeLinear", "DequantizeLinear"]


class FoldParameterOps(Transformation):
    """Evaluate standard ops whose inputs are all constants (empty optional inputs allowed).

    Brevitas exports parameter preprocessing (RPReLU's slope clamp and reshape) as
    Clip and Unsqueeze on initializers; qonnx's FoldConstants skips them because
    Clip's unused optional input is an empty name. Quantizers stay: streamlining
    reads their integers and scales.
    """

    def apply(self, model: ModelWrapper) -> tuple[ModelWrapper, bool]:
        # One pass in graph order folds chains too; a pass per node would rerun qonnx's
        # cleanup ~120 times on a ReActNet.
        graph = model.graph
        for node in list(graph.node):
            if node.domain or any(i and model.get_initializer(i) is None for i in node.input):
                continue
            feeds = {i: model.get_initializer(i) for i in node.input if i}
            values = ReferenceEvaluator(node).run(None, feeds)
            graph.node.remove(node)
            for o, v in zip(node.output, values):
                model.set_initializer(o, v)
        return model, False


def tidy(model: ModelWrapper) -> ModelWrapper:
    # Parameter ops first: qonnx's FoldConstants folds one node per pass, each pass re-checking
    # every tensor's shape, which took 40 s on a ReActNet's 120 parameter ops.
    # The exporter lists initializers as graph inputs too; they go first so none is left dangling.
    # qonnx's cleanup_model without its renaming, which loses a node's second use of a tensor
    # (flows.frontend.names); the graph is named once, at the end.
    model = model.transform(RemoveStaticGraphInputs()).transform(FoldParameterOps())
    for t in (InferShapes(), GiveUniqueParameterTensors(), FoldConstants(exclude_op_types=QUANT_OPS),
              FoldTransposeIntoQuantInit(), RemoveUnusedTensors(), RemoveStaticGraphInputs(),
              InferShapes(), FoldParameterOps(), InferDataTypes()):
        model = model.transform(t)
    return give_readable_names(model)
