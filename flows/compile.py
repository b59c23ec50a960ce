"""The compiler as one call: a network in, a folded hardware graph out, with its stages kept.

    from flows.compile import compile_network
    net = compile_network(model, (1, 28, 28), board="Pynq-Z2", folding="max")
    net.golden(images)            # classes from the bit-exact golden model
    net.generate_rtl("out/rtl")   # the Verilog accelerator
    net.cycles, net.fps()         # bottleneck cycles per image, images/s at the board's clock

The build (flows.build.steps) runs the same stages one by one, with a check and a record between
each; benchmarks and tests call this instead of chaining export, streamline and lower by hand.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Union

import numpy as np
import torch.nn as nn
from qonnx.core.modelwrapper import ModelWrapper

from flows.boards import Board, load_board
from flows.build import fold as fold_search
from flows.errors import BuildConfigError
from flows.frontend.cleanup import import_qonnx
from flows.frontend.export import export_qonnx
from flows.frontend.lower import lower_to_hw, to_hw_layout
from flows.frontend.streamline import streamline

Network = Union[nn.Module, ModelWrapper, str, Path]
# How to fold: "none" keeps every layer at one lane, "max" is the fastest folding whose analytic
# estimate fits the board, an int is a target in cycles per image, a path is a FINN-format
# folding_config.json.
Folding = Union[str, int, Path]


@dataclass
class CompiledNetwork:
    """A network through export, streamlining, lowering and folding; each stage's graph is kept."""

    qonnx: ModelWrapper
    streamlined: ModelWrapper
    hw: ModelWrapper
    board: Board

    @property
    def cycles(self) -> int:
        """Cycles per image of the slowest layer, which sets the throughput."""
        return fold_search.bottleneck_cycles(self.hw)

    def fps(self, clock_mhz: float | None = None) -> float:
        return (clock_mhz or self.board.default_clock_mhz) * 1e6 / self.cycles

    def golden(self, images: np.ndarray, hw_layout: bool = False) -> np.ndarray:
        """The class of each image (a batch in the network's NCHW layout, or NHWC with hw_layout)."""
        from flows.sim.golden import run_golden

        x = images if hw_layout else to_hw_layout(images)
        return run_golden(self.hw, x)[self.hw.graph.output[0].name][:, 0]

    def generate_rtl(self, out_dir: str | Path) -> dict:
        """Write the Verilog accelerator into out_dir; returns its manifest."""
        from flows.backends.rtlgen import generate_rtl

        return generate_rtl(self.hw, Path(out_dir))


def to_qonnx(network: Network, input_shape: tuple[int, ...] | None = None) -> ModelWrapper:
    """A Brevitas module (with its input shape, C x H x W), a QONNX ModelWrapper or an .onnx path."""
    if isinstance(network, nn.Module):
        if input_shape is None:
            raise BuildConfigError("a Brevitas module needs its input shape (C, H, W) to be exported")
        return export_qonnx(network, tuple(input_shape))
    return import_qonnx(network)  # as Brevitas exports it: preprocessing, opset details, cleanup


def lower(network: Network, input_shape: tuple[int, ...] | None = None) -> tuple[ModelWrapper, ModelWrapper, ModelWrapper]:
    """(QONNX, streamlined, hardware graph) of a network, unfolded."""
    qonnx = to_qonnx(network, input_shape)
    streamlined = streamline(qonnx)
    return qonnx, streamlined, lower_to_hw(streamlined)


def fold(hw: ModelWrapper, board: Board, how: Folding, max_utilisation: float = 0.85) -> ModelWrapper:
    """Fold `hw` in place (see Folding) and return it."""
    if isinstance(how, Path) or (isinstance(how, str) and how.endswith(".json")):
        return fold_search.apply_folding_config(hw, how)
    if how == "none":
        return hw
    if how == "max":
        fit = fold_search.AnalyticFit(board, max_utilisation)
        return fold_search.fold_to_budget(hw, fit, settle=fit.settle)
    if isinstance(how, int) and not isinstance(how, bool) and how >= 1:
        return fold_search.auto_fold(hw, how)
    raise BuildConfigError(f"folding {how!r} is not 'none', 'max', a number of cycles per image or a "
                           "folding_config.json path")


def compile_network(network: Network, input_shape: tuple[int, ...] | None = None, board: str = "Pynq-Z2",
                    folding: Folding = "none") -> CompiledNetwork:
    """Export (a Brevitas module), streamline, lower and fold a network for `board`."""
    board_data = load_board(board)
    qonnx, streamlined, hw = lower(network, input_shape)
    hw = fold(hw, board_data, folding)
    return CompiledNetwork(qonnx, streamlined, hw, board_data)
