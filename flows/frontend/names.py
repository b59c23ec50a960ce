"""Renaming tensors safely when a node reads one tensor twice (torch.cat([x, x]))."""
from __future__ import annotations

from qonnx.core.modelwrapper import ModelWrapper
from qonnx.transformation.general import GiveReadableTensorNames, GiveUniqueNodeNames


class _RenameEveryUse(ModelWrapper):
    """qonnx's rename_tensor renames only a node's first use of a tensor: the second input of
    Concat(x, x) kept the old name and was left with no producer."""

    def rename_tensor(self, old_name: str, new_name: str) -> None:
        super().rename_tensor(old_name, new_name)
        for node in self.graph.node:
            for names in (node.input, node.output):
                for i, name in enumerate(names):
                    if name == old_name:
                        names[i] = new_name


def give_readable_names(model: ModelWrapper) -> ModelWrapper:
    """qonnx's unique node names and readable tensor names, every use renamed."""
    named = _RenameEveryUse(model.model).transform(GiveUniqueNodeNames()).transform(GiveReadableTensorNames())
    return ModelWrapper(named.model)
