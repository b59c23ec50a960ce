"""Resource estimate of an accelerator, per layer and in total, against the board.

Works from the structured design (flows.backends.design), so it covers any model
the RTL generator can emit: every module instance is estimated, measured (Yosys,
on the written rtl/; stream glue such as FIFOs and width converters always comes
from the model) or modelled (the instance's op, by default the fitted model of its
Verilog module in flows.estimates.analytic), and charged to the layer the design
builder charged it to (a layer's own unit plus the width converters and FIFOs
generated in front of it).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from qonnx.core.modelwrapper import ModelWrapper

from flows.backends.manifest import Manifest
from flows.build.artefacts import ESTIMATE, RESOURCES, RTL
from flows.backends.design import Design, build_design
from flows.boards import Board
from flows.estimates.analytic import GLUE, analytic_resources, measured_error
from flows.estimates.path_bounds import design_bound
from flows.errors import BuildConfigError, FlowError
from flows.fileio import write_json, write_text
from flows.estimates.resources import KINDS, Resources
from flows.estimates.timing import ROUTE_PS, CriticalPath
from flows.estimates.yosys_synth import CACHE_DIR, YOSYS_FAMILY, SynthJob, synthesise_all
from flows.ops import op_class

if TYPE_CHECKING:
    from flows.build.steps import BuildConfig

METHODS = ("yosys", "analytic")
@dataclass
class LayerEstimate:
    name: str
    modules: list[str]
    resources: Resources
    path: CriticalPath | None = None  # the longest of its synthesised instances' (Yosys only)
    path_instance: str | None = None


@dataclass
class Estimate:
    method: str
    board: Board
    layers: list[LayerEstimate]

    @property
    def total(self) -> Resources:
        return Resources.total([layer.resources for layer in self.layers])

    @property
    def worst_path(self) -> LayerEstimate | None:
        """The layer holding the design's longest register-to-register path (None: not analysed)."""
        timed = [e for e in self.layers if e.path is not None]
        return max(timed, key=lambda e: e.path.delay_ps) if timed else None

    def over_budget(self) -> dict[str, tuple[float, int]]:
        """{kind: (needed, capacity)} for every resource the design needs more of than the board has."""
        t = self.total.as_dict()
        return {k: (t[k], self.board.capacity[k]) for k in KINDS if t[k] > self.board.capacity[k]}

    def to_json(self) -> dict:
        return {
            "method": self.method, "board": self.board.name, "capacity": {k: self.board.capacity[k] for k in KINDS},
            "layers": [{"name": e.name, "modules": e.modules, **e.resources.as_dict(),
                        "path": e.path and {**e.path.to_json(), "instance": e.path_instance}} for e in self.layers],
            "total": self.total.as_dict(), "fits": not self.over_budget(),
            "route_ps": ROUTE_PS if self.worst_path else None,
        }

    def table(self) -> str:
        rows = [f"{'layer':18s} {'modules':34s} " + " ".join(f"{k:>8s}" for k in KINDS)]
        for e in self.layers:
            r = e.resources.as_dict()
            rows.append(f"{e.name:18s} {', '.join(sorted(set(e.modules)))[:34]:34s} "
                        + " ".join(f"{r[k]:8,.4g}" if k == "BRAM36" else f"{r[k]:8,.0f}" for k in KINDS))
        t = self.total.as_dict()
        cap = self.board.capacity
        rows.append(f"{'total':18s} {'':34s} " + " ".join(f"{t[k]:8,.4g}" if k == "BRAM36" else f"{t[k]:8,.0f}"
                                                          for k in KINDS))
        rows.append(f"{self.board.name + ' capacity':18s} {'':34s} " + " ".join(f"{cap[k]:8,d}" for k in KINDS))
        rows.append(f"{'utilisation':18s} {'':34s} " + " ".join(f"{t[k] / cap[k]:8.1%}" for k in KINDS))
        return "\n".join(rows)

    def fold_down_advice(self) -> list[str]:
        """Per over-budget resource, the biggest users that together cover the excess."""
        advice = []
        for kind, (need, cap) in self.over_budget().items():
            users = sorted(self.layers, key=lambda e: -e.resources.as_dict()[kind])
            chosen, covered = [], 0.0
            for e in users:
                chosen.append(f"{e.name} ({e.resources.as_dict()[kind]:,.0f})")
                covered += e.resources.as_dict()[kind]
                if covered >= need - cap:
                    break
            advice.append(f"{kind} {need:,.0f} > {cap:,} ({need / cap:.0%}): fold down {', '.join(chosen)}")
        return advice


class ResourceBudgetError(FlowError):
    """The design does not fit the board."""

    def __init__(self, estimate: Estimate) -> None:
        self.estimate = estimate
        super().__init__(
            f"the accelerator does not fit {estimate.board.name} ({estimate.board.part}), "
            f"{estimate.method} estimate:\n{estimate.table()}\n"
            + "\n".join(estimate.fold_down_advice())
            + "\nLower PE/SIMD of those layers in a --folding-config (FOLDING_CONFIG), or leave the automatic "
            "folding less of the board (--max-utilisation, its analytic budget); --estimates-only "
            "(ESTIMATES_ONLY=1) reports without stopping."
        )


def _analytic(inst) -> Resources:
    """An instance's analytic resources: its op's model, or its module's for stream glue."""
    cls = op_class(inst.op_type) if inst.op_type else None
    return cls.resources(inst) if cls else analytic_resources(inst.module, inst.str_params)


def estimate_design(design: Design, board: Board, method: str, rtl_dir: Path | None = None,
                    log: Callable[[str], None] = print, cache_dir: Path = CACHE_DIR) -> Estimate:
    """Estimate `design`; "yosys" synthesises its instances from `rtl_dir`, where it was written."""
    if method not in METHODS:
        raise BuildConfigError(f"unknown estimate method {method!r}; use one of {', '.join(METHODS)}")
    insts = design.instances
    if not insts:
        raise FlowError("the design has no module instances")
    if method == "yosys":
        family = YOSYS_FAMILY.get(board.family)
        if family is None:
            raise BuildConfigError(f"no Yosys family for board family {board.family!r}; use --estimate analytic")
        if rtl_dir is None:
            raise ValueError("a Yosys estimate synthesises the written design: pass rtl_dir")
        library = tuple(rtl_dir / f"{m}.v" for m in design.modules)
        jobs = {i.name: SynthJob(i.module, i.str_params, library, rtl_dir, family)
                for i in insts if i.module not in GLUE}
        synth = synthesise_all(jobs, log, cache_dir)
        per_instance = {name: r.resources for name, r in synth.items()}
        paths = {name: r.path for name, r in synth.items() if r.path is not None}
        per_instance.update({i.name: _analytic(i) for i in insts if i.module in GLUE})
    else:
        per_instance, paths = {i.name: _analytic(i) for i in insts}, {}
    by_layer: dict[str, LayerEstimate] = {}
    for i in insts:
        e = by_layer.setdefault(i.layer, LayerEstimate(i.layer, [], Resources()))
        e.modules.append(i.module)
        e.resources = e.resources + per_instance[i.name]
        p = paths.get(i.name)
        if p is not None and (e.path is None or p.delay_ps > e.path.delay_ps):
            e.path, e.path_instance = p, i.name
    return Estimate(method, board, list(by_layer.values()))


def estimate(rtl_dir: Path, model: ModelWrapper, board: Board, method: str,
             log: Callable[[str], None] = print, cache_dir: Path = CACHE_DIR) -> Estimate:
    """Estimate the accelerator generate_rtl wrote for `model` into rtl_dir (its FIFO depths as written)."""
    design = build_design(model, {f["stream"]: f["depth"] for f in Manifest.read(rtl_dir).fifos})
    return estimate_design(design, board, method, Path(rtl_dir), log, cache_dir)


def step_estimate(model: ModelWrapper, cfg: BuildConfig) -> ModelWrapper:
    """Build step: estimate/resources.json and table.txt; stops on a design that does not fit."""
    t0 = time.perf_counter()
    est = estimate(cfg.path(RTL), model, cfg.board_data, cfg.estimate, cfg.log)
    write_json(cfg.path(RESOURCES), est.to_json())
    write_text(cfg.path(ESTIMATE, "table.txt"), est.table() + "\n")
    cfg.log(f"  {cfg.estimate} estimate in {time.perf_counter() - t0:.1f} s:")
    if cfg.estimate == "analytic":
        cfg.log(f"    ({measured_error()}; ESTIMATE=yosys synthesises every layer, with timing evidence)")
        bound = design_bound({m for layer in est.layers for m in layer.modules})
        if bound is not None:
            module, b = bound
            cfg.log(f"  longest path measured in these modules elsewhere: {module}, {b.lut_levels} LUT levels, "
                    f"{b.delay_ps / 1000:.2f} ns, {b.fmax_mhz:,.0f} MHz (flows/estimates/path_bounds.py)")
    for line in est.table().splitlines():
        cfg.log(f"    {line}")
    if (worst := est.worst_path) is not None:
        p = worst.path
        cfg.log(f"  longest register-to-register path: {worst.name} ({worst.path_instance}), {p.lut_levels} LUT "
                f"levels, {p.carry4} CARRY4: {p.delay_ps / 1000:.2f} ns with {ROUTE_PS} ps per net, "
                f"{p.fmax_mhz:,.0f} MHz")
    if est.over_budget():
        if not cfg.estimates_only:
            raise ResourceBudgetError(est)
        cfg.log("  does not fit the board (estimates only, continuing):\n    " + "\n    ".join(est.fold_down_advice()))
    return model
