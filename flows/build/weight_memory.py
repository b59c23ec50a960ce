"""Where each MVTU keeps its weights: block RAM, or LUT logic (bnn_mvtu's WEIGHT_STYLE).

Block RAM is the default, and stays wherever the design fits the budget. A highly parallel fold
reads a wide word from a shallow ROM: it uses a block RAM's width but little of its depth (576x64
at PE=SIMD=32 is 36 words of 1,024 bits, 14.5 BRAM36), while as logic it costs about one LUT per
bit of the word (one LUT6 per bit per 64 words, flows.estimates.analytic.lutrom_luts) and the word's
flip-flops. So when a folding's analytic estimate exceeds the budget, layers move to logic one at
a time, each time the one whose move lowers the design's peak utilisation (its largest share of
any resource) the most, until the design fits or no move lowers the peak.
"""
from __future__ import annotations

from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp

from flows.estimates.analytic import weight_rom
from flows.estimates.resources import KINDS


def set_weight_styles(model: ModelWrapper, styles: dict[str, str]) -> None:
    """Set every MVTU's weight style: `styles[name]`, block RAM where it names none."""
    for node in model.get_nodes_by_op_type("MVTU"):
        getCustomOp(node).set_nodeattr("weightStyle", styles.get(node.name, "block"))


def choose_weight_styles(model: ModelWrapper, block_total: dict[str, float], capacity: dict[str, int],
                         max_utilisation: float) -> dict[str, str]:
    """Weight styles by name for the model's folding, given the analytic total with every ROM in
    block RAM: block RAM unless moving ROMs to logic is what makes the design fit (module doc)."""
    roms = {n.name: getCustomOp(n).weight_rom_shape() for n in model.get_nodes_by_op_type("MVTU")}
    change = {name: (weight_rom(w, d, "logic") - weight_rom(w, d, "block")).as_dict() for name, (w, d) in roms.items()}
    total, styles = dict(block_total), {name: "block" for name in roms}

    def peak(t: dict[str, float]) -> float:
        return max(t[k] / capacity[k] for k in KINDS if capacity[k])

    def fits(t: dict[str, float]) -> bool:
        return all(t[k] <= max_utilisation * capacity[k] for k in KINDS)

    while not fits(total):
        moves = {name: {k: total[k] + change[name][k] for k in KINDS} for name, s in styles.items() if s == "block"}
        best = min(moves, key=lambda name: peak(moves[name]), default=None)
        if best is None or peak(moves[best]) >= peak(total):
            break
        total, styles[best] = moves[best], "logic"
    return styles
