"""Stage 4: folding: choose PE and SIMD per layer, and read/write FINN's folding_config.json.

A layer's cycles per image follow from its folding (an MVTU folded to (PE, SIMD)
takes (MH/PE) * (MW/SIMD) cycles per vector); the slowest layer sets the
throughput. Folding picks, for every layer, the cheapest parallelism (fewest
lanes) that meets the target, where the target is never tighter than what the
slowest layer can reach at full parallelism: a layer faster than the bottleneck
only costs area. Each op answers its own legal foldings and cycles
(flows.ops: fold_options, set_folding); a sliding-window generator runs at the
SIMD of the MVTU it feeds, which must divide its channel count.

fold_to_budget caps the target by a budget: the fastest automatic folding, no
faster than the target, that a `fits` test accepts (AnalyticFit: the analytic
estimate of the structured design within a share of the board's resources), by
bisection over the bottlenecks auto_fold can produce.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp

from flows.backends.design import build_design
from flows.errors import BuildConfigError, FlowError
from flows.estimates.estimate import estimate_design
from flows.estimates.resources import KINDS
from flows.build.weight_memory import choose_weight_styles, set_weight_styles
from flows.fileio import write_json
from flows.ops import FOLDABLE, TIMED, op_class

if TYPE_CHECKING:
    from flows.boards import Board

@dataclass(frozen=True)
class LayerFold:
    name: str
    op_type: str
    pe: int | None
    simd: int | None
    cycles: int
    weight_style: str | None = None  # an MVTU's: "block" RAM or "logic" (flows.build.weight_memory)


def _options(model: ModelWrapper, node) -> list[tuple[int, int | None, int]]:
    """Every legal (PE, SIMD, cycles) of a layer: the op's own answer."""
    return getCustomOp(node).fold_options(model)


def _cost(option: tuple[int, int | None, int]) -> tuple[int, int]:
    pe, simd, _ = option
    lanes = pe * (simd or 1)
    # Among equally many lanes, prefer the squarest shape: it keeps both the
    # adder tree and the number of accumulators moderate.
    return lanes, max(pe, simd or 1)


def _set(model: ModelWrapper, node, pe: int, simd: int | None) -> None:
    getCustomOp(node).set_folding(model, pe, simd)


def auto_fold(model: ModelWrapper, target_cycles: int) -> ModelWrapper:
    """Fold every layer to the cheapest parallelism meeting max(target, reachable bottleneck)."""
    nodes = [n for n in model.graph.node if n.op_type in FOLDABLE]
    reachable = max(min(c for _, _, c in _options(model, n)) for n in nodes)
    goal = max(target_cycles, reachable)
    for node in nodes:
        pe, simd, _ = min((o for o in _options(model, node) if o[2] <= goal), key=_cost)
        _set(model, node, pe, simd)
    return model


def layer_folds(model: ModelWrapper) -> list[LayerFold]:
    out = []
    for node in model.graph.node:
        if node.op_type in TIMED:
            op = getCustomOp(node)
            attrs = op.get_nodeattr_types()
            pe = op.get_nodeattr("PE") if "PE" in attrs else None
            simd = op.get_nodeattr("SIMD") if "SIMD" in attrs else None
            style = op.get_nodeattr("weightStyle") if "weightStyle" in attrs else None
            out.append(LayerFold(node.name, node.op_type, pe, simd, op.cycles(), style))
    return out


# FINN's ram_style of an MVAU's weights, as our MVTU's weight style: "distributed" (LUTs) is our
# "logic"; the others leave the choice to the budget (flows.build.weight_memory).
RAM_STYLES = {"block": "block", "distributed": "logic", "auto": None, "ultra": None}
# FINN's per-node settings that have no meaning here; a config carried over from FINN keeps them.
FINN_ONLY_KEYS = frozenset({"resType", "mem_mode", "runtime_writeable_weights", "inFIFODepths",
                            "outFIFODepths", "depth_trigger_uram", "depth_trigger_bram", "preferred_impl_style",
                            "impl_style", "ram_style_thresholds", "depth"})


def read_folding_config(path: str | Path) -> dict[str, dict]:
    """Read and check the form of a FINN-format folding_config.json, before any build step runs:
    {"Defaults": {...}, "<node>": {"PE": int, "SIMD": int}}. Which nodes exist and which
    foldings are legal is checked against the graph by apply_folding_config."""
    path = Path(path)
    try:
        cfg = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BuildConfigError(f"folding config {path}: {e}") from None
    if not isinstance(cfg, dict):
        raise BuildConfigError(f"folding config {path}: the top level must be an object of node entries "
                               f"({{\"MVTU_0\": {{\"PE\": 4, \"SIMD\": 8}}, ...}}), not {type(cfg).__name__}")
    for name, entry in cfg.items():
        where = f"folding config {path}, {'the Defaults entry' if name == 'Defaults' else f'node {name}'}"
        if not isinstance(entry, dict):
            raise BuildConfigError(f"{where}: must be an object such as {{\"PE\": 4, \"SIMD\": 8}}, "
                                   f"not {json.dumps(entry)}")
        for key, value in entry.items():
            if key in FINN_ONLY_KEYS:
                continue
            if key == "ram_style":
                if value not in RAM_STYLES:
                    raise BuildConfigError(f"{where}: ram_style must be one of {', '.join(map(json.dumps, RAM_STYLES))}, "
                                           f"not {json.dumps(value)}")
                continue
            if key not in ("PE", "SIMD"):
                raise BuildConfigError(f"{where}: unknown key {key!r}; the keys are \"PE\" and \"SIMD\" "
                                       f"(upper case), \"ram_style\" and FINN's {', '.join(sorted(FINN_ONLY_KEYS))}")
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise BuildConfigError(f"{where}: {key} must be a positive integer, not {json.dumps(value)}")
    return cfg


def _fold_error(where: str, node, key: str, value: int, legal: list[int], of: str) -> BuildConfigError:
    return BuildConfigError(f"{where}: {key}={value} is not a legal folding of {node.op_type} {node.name}: "
                            f"{key} must divide {of}, one of {', '.join(map(str, legal))}")


def names_weight_styles(path: str | Path) -> bool:
    """Whether a folding config places any layer's weights itself (a block or distributed ram_style)."""
    return any(RAM_STYLES.get(entry.get("ram_style")) for entry in read_folding_config(path).values())


def apply_folding_config(model: ModelWrapper, path: str | Path) -> ModelWrapper:
    """Apply a FINN-format folding_config.json (see read_folding_config). Every node it names must be
    a foldable layer of the graph; a layer it does not name keeps its folding (or the Defaults)."""
    cfg = read_folding_config(path)
    defaults = cfg.get("Defaults", {})
    nodes = {n.name: n for n in model.graph.node}
    foldable = [n for n in nodes if nodes[n].op_type in FOLDABLE]
    for name in cfg:
        if name == "Defaults":
            continue
        if name not in nodes:
            raise BuildConfigError(f"folding config {path} names node {name!r}, which the hardware graph does not "
                                   f"have; its foldable layers are {', '.join(foldable)}")
        if nodes[name].op_type not in TIMED:
            cls = op_class(nodes[name].op_type)
            extra = cls.FOLD_NOTE if cls else ""
            raise BuildConfigError(f"folding config {path}: node {name} ({nodes[name].op_type}) has no folding of "
                                   f"its own{extra}; the foldable layers are {', '.join(foldable)}")
    for name in foldable:
        node = nodes[name]
        op = getCustomOp(node)
        where = f"folding config {path}"
        entry = {k: v for k, v in {**defaults, **cfg.get(name, {})}.items() if k in ("PE", "SIMD")}
        has_simd = op.FOLDS == "PE+SIMD"
        if "SIMD" in cfg.get(name, {}) and not has_simd:
            raise BuildConfigError(f"{where}, node {name}: {node.op_type} has no SIMD; it folds by PE alone")
        options = _options(model, node)
        pe = entry.get("PE", op.get_nodeattr("PE"))
        pes = sorted({o[0] for o in options})
        if pe not in pes:
            raise _fold_error(where, node, "PE", pe, pes, op.pe_bound())
        simd = None
        if has_simd:
            simd = entry.get("SIMD", op.get_nodeattr("SIMD"))
            simds = sorted({o[1] for o in options})
            if simd not in simds:
                raise _fold_error(where, node, "SIMD", simd, simds, op.simd_bound(model))
        _set(model, node, pe, simd)
        style = RAM_STYLES.get(cfg.get(name, {}).get("ram_style"))
        if style is not None and "weightStyle" in op.get_nodeattr_types():
            op.set_nodeattr("weightStyle", style)
    # A build's own folding_config.json lists the window generators too, at the SIMD of the layer they
    # feed: such an entry is accepted when it says what the graph now has.
    for name, entry in cfg.items():
        if name != "Defaults" and nodes[name].op_type not in FOLDABLE:
            op = getCustomOp(nodes[name])
            for key in ("PE", "SIMD"):
                if key in entry and (key not in op.get_nodeattr_types() or op.get_nodeattr(key) != entry[key]):
                    now = op.get_nodeattr(key) if key in op.get_nodeattr_types() else "none"
                    raise BuildConfigError(f"folding config {path}, node {name}: {key}={entry[key]}, but "
                                           f"{nodes[name].op_type} {name} runs at the {key} of the layer it feeds "
                                           f"({now}); drop the entry or make the two agree")
    return model


def write_folding_config(model: ModelWrapper, path: str | Path) -> None:
    cfg: dict = {"Defaults": {}}
    for f in layer_folds(model):
        entry = {k: v for k, v in (("PE", f.pe), ("SIMD", f.simd)) if v is not None}
        if f.weight_style is not None:
            entry["ram_style"] = "distributed" if f.weight_style == "logic" else "block"
        cfg[f.name] = entry
    write_json(path, cfg)


def predicted_fps(model: ModelWrapper, clock_mhz: float) -> float:
    return clock_mhz * 1e6 / max(f.cycles for f in layer_folds(model))


# -- the fastest automatic folding within a resource budget -------------------------


class NoFoldingFitsError(FlowError):
    """Even the slowest automatic folding does not fit the resource budget."""


def _folding_key(model: ModelWrapper) -> tuple:
    return tuple((f.name, f.pe, f.simd) for f in layer_folds(model))


def candidate_cycles(model: ModelWrapper) -> list[int]:
    """Every bottleneck auto_fold can produce, ascending (fastest first): the cycle counts of all
    layers' legal foldings from the reachable bottleneck (full parallelism) up."""
    options = [_options(model, n) for n in model.graph.node if n.op_type in FOLDABLE]
    reachable = max(min(c for _, _, c in opts) for opts in options)
    return sorted({c for opts in options for _, _, c in opts if c >= reachable})


def fold_to_budget(model: ModelWrapper, fits: Callable[[ModelWrapper], bool],
                   target_cycles: int = 1, settle: Callable[[ModelWrapper], None] | None = None) -> ModelWrapper:
    """Fold `model` (in place) as auto_fold at the smallest bottleneck, `target_cycles` or a
    slower candidate, whose design `fits`. With the default target: the fastest design that fits.

    Bisection over candidate_cycles: it assumes resources only grow as the target shrinks. That
    holds for the lanes of every layer (a tighter target never allows fewer), and so roughly for
    LUTs and flip-flops; memories can break it slightly (a block-RAM aspect ratio, a ROM moving
    between LUTs and block RAM), in which case the search may miss a slightly faster folding that
    fits. It never returns one that does not: the result is a folding `fits` accepted. The model is
    left at that folding, and then `settle` (AnalyticFit.settle: the weight styles that fit) runs on
    it; nothing else in it changes. Raises NoFoldingFitsError when even the slowest candidate (every
    layer at its least parallel folding) does not fit.
    """
    settle = settle or (lambda m: None)
    # auto_fold at the target itself comes first: its bottleneck may lie between two candidates.
    cands = [target_cycles] + [c for c in candidate_cycles(model) if c > target_cycles]
    verdicts: dict[tuple, bool] = {}  # distinct targets often give the same folding

    def fits_at(i: int) -> bool:
        auto_fold(model, cands[i])
        key = _folding_key(model)
        if key not in verdicts:
            verdicts[key] = bool(fits(model))
        return verdicts[key]

    if fits_at(0):
        settle(model)
        return model
    # Invariant: cands[lo] does not fit; cands[hi] fits, or hi is one past the end (not known yet:
    # the slowest foldings are the costliest to generate, so they are only tried when needed).
    lo, hi = 0, len(cands)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if fits_at(mid):
            hi = mid
        else:
            lo = mid
    if hi == len(cands):
        raise NoFoldingFitsError(f"even the slowest automatic folding ({bottleneck_cycles(model):,} cycles per image) "
                                 "does not fit the resource budget")
    auto_fold(model, cands[hi])
    settle(model)
    return model


def bottleneck_cycles(model: ModelWrapper) -> int:
    return max(f.cycles for f in layer_folds(model))


@dataclass
class AnalyticFit:
    """A `fits` for fold_to_budget: the structured design of the folding (flows.backends.design, no
    files written), estimated with the analytic model, fits when every resource is at most
    `max_utilisation` of the board's capacity (the rest is headroom for routing and the shell)."""

    board: Board
    max_utilisation: float
    # by folding: the weight styles chosen for it (flows.build.weight_memory) and the design's total
    totals: dict[tuple, tuple[dict[str, str], dict[str, float]]] = field(default_factory=dict, repr=False)

    def __call__(self, model: ModelWrapper) -> bool:
        return all(u <= self.max_utilisation for u in self.utilisation(model).values())

    def total(self, model: ModelWrapper) -> dict[str, float]:
        """The analytic estimate of the whole design at the model's current folding, with the weight
        ROMs where this budget puts them; leaves the model's MVTUs with those weight styles."""
        key = _folding_key(model)
        if key not in self.totals:
            set_weight_styles(model, {})
            block = estimate_design(build_design(model), self.board, "analytic").total.as_dict()
            styles = choose_weight_styles(model, block, self.board.capacity, self.max_utilisation)
            set_weight_styles(model, styles)
            total = (block if "logic" not in styles.values()
                     else estimate_design(build_design(model), self.board, "analytic").total.as_dict())
            self.totals[key] = (styles, total)
        styles, total = self.totals[key]
        set_weight_styles(model, styles)
        return total

    def settle(self, model: ModelWrapper) -> None:
        """Give the model the weight styles this budget chose for its folding."""
        self.total(model)

    def utilisation(self, model: ModelWrapper) -> dict[str, float]:
        total = self.total(model)
        return {k: total[k] / cap if cap else (math.inf if total[k] else 0.0)
                for k, cap in ((k, self.board.capacity[k]) for k in KINDS)}

    def describe(self, model: ModelWrapper) -> str:
        return ", ".join(f"{k} {u:.1%}" for k, u in self.utilisation(model).items())
