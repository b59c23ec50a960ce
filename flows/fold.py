"""Stage 4: folding: choose PE and SIMD per layer, and read/write FINN's folding_config.json.

A layer folded to (PE, SIMD) takes (MH/PE) * (MW/SIMD) cycles per image; the
slowest layer sets the throughput. Folding picks, for every layer, the cheapest
parallelism (fewest PE*SIMD lanes) that meets the target, where the target is
never tighter than what the slowest layer can reach at full parallelism: a
layer faster than the bottleneck only costs area.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp

from .errors import BuildConfigError
from .fileio import write_json

FOLDABLE = ("MVTU", "LabelSelect")


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


@dataclass(frozen=True)
class LayerFold:
    name: str
    op_type: str
    pe: int
    simd: int | None
    cycles: int


def _options(node) -> list[tuple[int, int | None, int]]:
    """Every legal (PE, SIMD, cycles) of a layer."""
    op = getCustomOp(node)
    if node.op_type == "MVTU":
        mw, mh = op.get_nodeattr("MW"), op.get_nodeattr("MH")
        return [(pe, simd, (mh // pe) * (mw // simd)) for pe in _divisors(mh) for simd in _divisors(mw)]
    labels = op.get_nodeattr("Labels")
    return [(pe, None, labels // pe) for pe in _divisors(labels)]


def _cost(option: tuple[int, int | None, int]) -> tuple[int, int]:
    pe, simd, _ = option
    lanes = pe * (simd or 1)
    # Among equally many lanes, prefer the squarest shape: it keeps both the
    # adder tree and the number of accumulators moderate.
    return lanes, max(pe, simd or 1)


def auto_fold(model: ModelWrapper, target_cycles: int) -> ModelWrapper:
    """Fold every layer to the cheapest parallelism meeting max(target, reachable bottleneck)."""
    nodes = [n for n in model.graph.node if n.op_type in FOLDABLE]
    reachable = max(min(c for _, _, c in _options(n)) for n in nodes)
    goal = max(target_cycles, reachable)
    for node in nodes:
        best = min((o for o in _options(node) if o[2] <= goal), key=_cost)
        op = getCustomOp(node)
        op.set_nodeattr("PE", best[0])
        if best[1] is not None:
            op.set_nodeattr("SIMD", best[1])
    return model


def layer_folds(model: ModelWrapper) -> list[LayerFold]:
    out = []
    for node in model.graph.node:
        if node.op_type in FOLDABLE:
            op = getCustomOp(node)
            simd = op.get_nodeattr("SIMD") if node.op_type == "MVTU" else None
            out.append(LayerFold(node.name, node.op_type, op.get_nodeattr("PE"), simd, op.cycles()))
    return out


def apply_folding_config(model: ModelWrapper, path: str | Path) -> ModelWrapper:
    """Apply a FINN-format folding_config.json: {"Defaults": {...}, "<node>": {"PE": .., "SIMD": ..}}."""
    path = Path(path)
    try:
        cfg = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise BuildConfigError(f"folding config {path}: {e}") from None
    defaults = cfg.get("Defaults", {})
    names = {n.name: n for n in model.graph.node}
    unknown = [k for k in cfg if k != "Defaults" and k not in names]
    if unknown:
        raise BuildConfigError(f"folding config {path} names unknown nodes: {', '.join(unknown)}")
    for name, node in names.items():
        if node.op_type not in FOLDABLE:
            continue
        op = getCustomOp(node)
        for attr, value in {**defaults, **cfg.get(name, {})}.items():
            if attr in op.get_nodeattr_types():
                op.set_nodeattr(attr, value)
        problems = op.verify_node()
        if problems:
            raise BuildConfigError(f"folding config {path}, node {name}: {'; '.join(problems)}")
    return model


def write_folding_config(model: ModelWrapper, path: str | Path) -> None:
    cfg: dict = {"Defaults": {}}
    for f in layer_folds(model):
        entry = {"PE": f.pe}
        if f.simd is not None:
            entry["SIMD"] = f.simd
        cfg[f.name] = entry
    write_json(path, cfg)


def predicted_fps(model: ModelWrapper, clock_mhz: float) -> float:
    return clock_mhz * 1e6 / max(f.cycles for f in layer_folds(model))
