"""Build report: report.md with folding, cycles, resources, throughput and accuracy, plus PNG plots.

Peak model for binary operations: every XNOR-popcount lane (one weight bit
times one input bit per cycle, counted as 2 operations, multiply and add)
costs MVTU_LUT_PER_PRODUCT_BIT LUTs in our MVTU (flows/analytic.py), so a
board whose LUTs were all lanes would reach
    peak = 2 * LUT_capacity / MVTU_LUT_PER_PRODUCT_BIT * f_clk
binary ops/s. The report sets the achieved rate against it: every multiply-
accumulate of every XNOR layer (1-bit inputs and 1-bit weights) counted as 2
operations, MW*MH MACs per vector times numVectors vectors per image (the output
pixels of a convolution, 1 for a dense layer), times FPS. The other layers,
with integer inputs (8-bit pixels) or multi-bit weights (a 4-bit stem, transition
or classifier), are not XNOR-popcount lanes and have no place against that peak:
the report gives their operations, counted the same way, separately.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
from qonnx.core.modelwrapper import ModelWrapper  # noqa: E402
from qonnx.custom_op.registry import getCustomOp  # noqa: E402

from flows.build.artefacts import (CYCLES_PLOT, GOLDEN, REPORT, RESOURCES, RESOURCES_PLOT, SIM_OUTPUTS, SIM_RESULTS,
                                   GoldenOutputs, class_name)
from flows.estimates.analytic import MVTU_LUT_PER_PRODUCT_BIT, measured_error  # noqa: E402
from flows.estimates.path_bounds import MEASURED, design_bound  # noqa: E402
from flows.boards import Board  # noqa: E402
from flows.fileio import write_text  # noqa: E402
from flows.build.fold import LayerFold, layer_folds  # noqa: E402
from flows.estimates.resources import KINDS  # noqa: E402
from flows.frontend.streamline import fixed_point_streams  # noqa: E402

if TYPE_CHECKING:
    from flows.build.steps import BuildConfig

BOTTLENECK_COLOUR, OTHER_COLOUR = "#d62728", "#1f77b4"


def peak_binary_ops(board: Board, clock_mhz: float) -> float:
    return 2.0 * board.capacity["LUT"] / MVTU_LUT_PER_PRODUCT_BIT * clock_mhz * 1e6


def gops_per_klut(ops_per_s: float, luts: float) -> float:
    """Binary GOP/s per thousand LUTs of the whole design: how much of the LUT fabric does work."""
    return ops_per_s / 1e9 / (luts / 1000)


class OpsPerImage(NamedTuple):
    """Operations (2 per multiply-accumulate) of one image, split by kind of MVTU."""

    binary: int  # XNOR-popcount layers: 1-bit inputs, 1-bit weights
    other: int  # layers with integer inputs or multi-bit weights
    binary_layers: int
    other_layers: tuple[str, ...]  # their names


def ops_per_image(model: ModelWrapper) -> OpsPerImage:
    """2 * MW * MH * numVectors per MVTU: each weight meets one input element per output vector
    (numVectors: a convolution's output pixels, 1 for a dense layer)."""
    binary = other = n_binary = 0
    other_layers = []
    for node in model.get_nodes_by_op_type("MVTU"):
        op = getCustomOp(node)
        ops = 2 * op.get_nodeattr("MW") * op.get_nodeattr("MH") * op.get_nodeattr("numVectors")
        if op.get_nodeattr("binaryXnorMode"):
            binary, n_binary = binary + ops, n_binary + 1
        else:
            other += ops
            other_layers.append(node.name)
    return OpsPerImage(binary, other, n_binary, tuple(other_layers))


def plot_cycles(folds: list[LayerFold], path: Path) -> None:
    """Horizontal bars, one row per layer, so that deep networks stay readable."""
    worst = max(f.cycles for f in folds)
    fig, ax = plt.subplots(figsize=(8, 0.28 * len(folds) + 1.4))
    colours = [BOTTLENECK_COLOUR if f.cycles == worst else OTHER_COLOUR for f in folds]
    bars = ax.barh([f.name for f in folds], [f.cycles for f in folds], color=colours)
    ax.bar_label(bars, fmt="%d", fontsize=7, padding=2)
    ax.invert_yaxis()
    ax.set_xlabel("cycles per image")
    ax.set_title("Cycles per layer (bottleneck in red)")
    ax.tick_params(axis="y", labelsize=7)
    ax.margins(x=0.15)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_resources(est: dict, path: Path) -> None:
    """Per-layer share of the board, per resource kind, with the total as the last row."""
    cap = est["capacity"]
    names = [layer["name"] for layer in est["layers"]] + ["total"]
    fig, ax = plt.subplots(figsize=(8, 0.4 * len(names) + 1.6))
    height = 0.8 / len(KINDS)
    for k, kind in enumerate(KINDS):
        values = [100 * layer[kind] / cap[kind] if cap[kind] else 0 for layer in est["layers"]]
        values.append(100 * est["total"][kind] / cap[kind] if cap[kind] else 0)
        ax.barh([i + (k - 1.5) * height for i in range(len(names))], values, height, label=kind)
    ax.axvline(100, color="black", linestyle="--", linewidth=1)
    ax.text(100, -0.8, " board", va="bottom", ha="left", fontsize=8)
    ax.set_yticks(range(len(names)), names, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel(f"% of {est['board']}")
    ax.set_title(f"Resources per layer ({est['method']} estimate)")
    ax.set_xlim(0, max(110, 1.1 * max(100 * est["total"][k] / cap[k] for k in KINDS if cap[k])))
    ax.legend(fontsize=8, ncol=4, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _fmt(kind: str, v: float) -> str:
    return f"{v:,.1f}" if kind == "BRAM36" else f"{v:,.0f}"


def class_table(golden: GoldenOutputs, rtl_pred: np.ndarray) -> list[str]:
    """Per class, over the simulated inputs: how often the RTL picks it and, with labels, how often
    an input of that class is picked right (recall = correct / labelled)."""
    n = len(rtl_pred)
    labels = golden.labels[:n]
    count = golden.scores.reshape(len(golden.scores), -1).shape[1]
    labelled = bool(n) and (labels >= 0).all()
    out = ["| class | RTL picks | " + ("labelled | recall |" if labelled else ""),
           "|---|---:|" + ("---:|---:|" if labelled else "")]
    for k in range(count):
        row = f"| {class_name(k, golden.classes)} | {int((rtl_pred == k).sum()):,} |"
        if labelled:
            mine = labels == k
            hits = int((rtl_pred[mine] == k).sum())
            row += f" {int(mine.sum()):,} | {hits / mine.sum():.2%} |" if mine.any() else " 0 | n/a |"
        out.append(row)
    return out


def _bound_lines(est: dict | None, clock_mhz: float) -> list[str]:
    """An analytic build's timing evidence: the longest path measured in its modules elsewhere."""
    modules = {m for e in (est or {}).get("layers", []) for m in e.get("modules", [])}
    bound = design_bound(modules)
    text = ["Not synthesised: the analytic estimate finds no paths of this design (ESTIMATE=yosys does)."]
    if bound is None:
        return text
    worst, b = bound
    budget = 1e6 / clock_mhz
    verdict = "within" if b.delay_ps <= budget else "**over**"
    text[0] += (f" Bound from Yosys netlists of the same modules (flows/estimates/path_bounds.py): the longest "
                f"path measured in any of them is **{worst}**'s, {b.lut_levels} LUT levels, {b.carry4} CARRY4, "
                f"{b.delay_ps / 1000:.2f} ns (**{b.fmax_mhz:,.0f} MHz**), {verdict} the {budget / 1000:.2f} ns "
                f"budget of {clock_mhz:g} MHz, for instances within the measured ranges.")
    rows = sorted(((m, MEASURED[m]) for m in modules if m in MEASURED), key=lambda mb: -mb[1].delay_ps)
    text += ["", "| module | longest measured path (ns) | supports (MHz) | instances measured | measured over |",
             "|---|---:|---:|---:|---|"]
    text += [f"| {m} | {b.delay_ps / 1000:.2f} | {b.fmax_mhz:,.0f} | {b.instances} | {b.span} |" for m, b in rows]
    unmeasured = sorted(modules - set(MEASURED))
    if unmeasured:
        text += ["", f"No measurement for: {', '.join(unmeasured)}."]
    return text


def timing_section(est: dict | None, clock_mhz: float) -> list[str]:
    """The design's longest register-to-register path and each layer's (flows.estimates.timing)."""
    out = ["", "## Timing (logic depth)", ""]
    layers = [e for e in (est or {}).get("layers", []) if e.get("path")]
    if not layers:
        return out + _bound_lines(est, clock_mhz)
    worst = max(layers, key=lambda e: e["path"]["delay_ps"])
    p, budget = worst["path"], 1e6 / clock_mhz
    verdict = "within" if p["delay_ps"] <= budget else "**over**"
    out += [f"Longest register-to-register path: **{worst['name']}** ({p['instance']}), {p['lut_levels']} LUT "
            f"levels, {p['carry4']} CARRY4, {p['hops']} routed nets: {p['delay_ps'] / 1000:.2f} ns, so the "
            f"design supports **{p['fmax_mhz']:,.0f} MHz**; {verdict} the {budget / 1000:.2f} ns budget of "
            f"{clock_mhz:g} MHz.", "",
            "delay = clock-to-out + sum of (route + cell delay) + route + setup; cell delays are Yosys's 7-series "
            f"models (Project X-Ray, Artix-7 -1), route = {est['route_ps']} ps per net (assumed, not measured: "
            "Vivado's post-route timing is the sign-off); module ports count as registers.", "",
            "| layer | instance | LUT levels | CARRY4 | nets | delay (ns) | supports (MHz) |",
            "|---|---|---:|---:|---:|---:|---:|"]
    out += [f"| {e['name']} | {e['path']['instance']} | {e['path']['lut_levels']} | {e['path']['carry4']} | "
            f"{e['path']['hops']} | {e['path']['delay_ps'] / 1000:.2f} | {e['path']['fmax_mhz']:,.0f} |"
            for e in layers]
    return out


def report_markdown(cfg: BuildConfig, folds: list[LayerFold], ops_image: OpsPerImage, est: dict | None,
                    sim: dict | None, streams: list[dict] = (), classes: list[str] = ()) -> str:
    board = cfg.board_data
    worst = max(folds, key=lambda f: f.cycles)
    fps = cfg.clock_mhz * 1e6 / worst.cycles
    ops = ops_image.binary * fps
    peak = peak_binary_ops(board, cfg.clock_mhz)
    out = [f"# {cfg.model} on {board.name}", "",
           f"Part {board.part}, clock {cfg.clock_mhz:g} MHz, backend {cfg.backend}.", "",
           "## Throughput", "",
           f"- bottleneck: **{worst.name}**, {worst.cycles:,} cycles per image",
           f"- predicted: **{fps:,.0f} FPS** at {cfg.clock_mhz:g} MHz "
           f"(one image every {worst.cycles / cfg.clock_mhz:.2f} us)"]
    if sim:
        out += [f"- RTL simulation: {sim['cycles_per_image']:.1f} cycles per image, "
                f"{sim['fps_at_clock']:,.0f} FPS; latency {sim['latency_cycles']:,} cycles = "
                f"{sim['latency_cycles'] / cfg.clock_mhz:.2f} us"]
    out += [f"- binary (XNOR-popcount) operations: {ops / 1e9:,.1f} GOP/s = 2 x MW x MH x output pixels, "
            f"summed over the {ops_image.binary_layers} layers with 1-bit inputs and weights "
            f"({ops_image.binary:,} per image), x FPS; against a LUT-bound peak of "
            f"{peak / 1e9:,.0f} GOP/s ({ops / peak:.2%}); peak = 2 x {board.capacity['LUT']:,} "
            f"LUT / {MVTU_LUT_PER_PRODUCT_BIT} LUT per XNOR-popcount lane x clock"]
    if est:
        out.append(f"- efficiency: {gops_per_klut(ops, est['total']['LUT']):,.1f} binary GOP/s per kLUT "
                   f"(the GOP/s above / the {est['method']} estimate's {est['total']['LUT']:,.0f} LUT of the "
                   f"whole design; at the peak's lane cost every LUT would give "
                   f"{gops_per_klut(peak, board.capacity['LUT']):,.1f})")
    if ops_image.other_layers:
        out.append(f"- other operations (not XNOR, not in the figure above): "
                   f"{ops_image.other * fps / 1e9:,.1f} GOP/s, the same count over the layer(s) with "
                   f"integer inputs or multi-bit weights ({', '.join(ops_image.other_layers)}: "
                   f"{ops_image.other:,} per image); "
                   f"all layers: {(ops_image.binary + ops_image.other) * fps / 1e9:,.1f} GOP/s")
    out += ["", "## Accuracy", ""]
    if sim and sim["accuracy"] is None:
        out.append(f"RTL simulation on {sim['images']:,} inputs, equal to the golden model on every one; "
                   "no labels, so no accuracy.")
    elif sim:
        out.append(f"RTL simulation: **{sim['accuracy']:.2%}** on {sim['images']:,} test images "
                   f"(golden model on the same images: {sim['golden_accuracy']:.2%}).")
    else:
        out.append("No RTL simulation results (sim/results.json).")
    if classes:
        out += ["", f"Classes on the {sim['images']:,} simulated inputs:" if sim else "Classes:", "", *classes]
    if streams:
        out += ["", "## Residual streams (fixed point)", "",
                "One shared step per stream; exact when every coefficient is a multiple of it.", "",
                "| add | bits | step | error bound |", "|---|---|---|---|"]
        out += [f"| {s['node']} | {s['bits']} | {s['scale']} | {s['error_bound']:.3g} |" for s in streams]
    out += ["", "## Folding and cycles", "", "| layer | PE | SIMD | cycles |", "|---|---|---|---|"]
    for f in folds:
        mark = " (bottleneck)" if f is worst else ""
        out.append(f"| {f.name}{mark} | {f.pe or ''} | {f.simd or ''} | {f.cycles:,} |")
    out += ["", "![cycles per layer](cycles.png)", "", "## Resources", ""]
    if est:
        error = f" The analytic model, {measured_error()}." if est["method"] == "analytic" else ""
        out += [f"{est['method']} estimate; {'fits' if est['fits'] else '**does not fit**'} {board.name}.{error}", "",
                "| layer | modules | " + " | ".join(KINDS) + " |", "|---" * (len(KINDS) + 2) + "|"]
        for layer in est["layers"]:
            mods = ", ".join(sorted(set(layer["modules"])))
            out.append(f"| {layer['name']} | {mods} | " + " | ".join(_fmt(k, layer[k]) for k in KINDS) + " |")
        out.append("| **total** | | " + " | ".join(_fmt(k, est["total"][k]) for k in KINDS) + " |")
        out.append(f"| {board.name} | | " + " | ".join(f"{est['capacity'][k]:,}" for k in KINDS) + " |")
        out += ["", "![resources per layer](resources.png)"]
    else:
        out.append("No resource estimate (estimate/resources.json).")
    out += timing_section(est, cfg.clock_mhz)
    return "\n".join(out) + "\n"


def write_report(cfg: BuildConfig, folded: ModelWrapper) -> Path:
    folds = layer_folds(folded)
    est_file, sim_file = cfg.path(RESOURCES), cfg.path(SIM_RESULTS)
    est = json.loads(est_file.read_text()) if est_file.is_file() else None
    sim = json.loads(sim_file.read_text()) if sim_file.is_file() else None
    plot_cycles(folds, cfg.path(CYCLES_PLOT))
    if est:
        plot_resources(est, cfg.path(RESOURCES_PLOT))
    path = cfg.path(REPORT)
    classes = []
    if sim and cfg.path(SIM_OUTPUTS).is_file():
        with np.load(cfg.path(SIM_OUTPUTS)) as z:
            classes = class_table(GoldenOutputs.load(cfg.path(GOLDEN)), z["outputs"][:, 0])
    write_text(path, report_markdown(cfg, folds, ops_per_image(folded), est, sim, fixed_point_streams(folded),
                                     classes))
    return path


def step_report(model: ModelWrapper, cfg: BuildConfig) -> ModelWrapper:
    """Build step: report.md, cycles.png and resources.png under the build folder."""
    path = write_report(cfg, model)
    cfg.log(f"  {path}")
    return model
