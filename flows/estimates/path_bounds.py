"""Timing evidence for a build that synthesises nothing: each library module's longest path as
measured in Yosys netlists of its instances.

The analytic estimate (the default gate) has no netlist to find the design's own paths in. What it
can state is how long a path each module has been measured to take: the longest register-to-register
path flows.estimates.timing found (its delay formula, 500 ps per net) over the instances Yosys
synthesised on 2026-12-07, from the RTL as it is now (bnn_mvtu's trees included). It bounds a new
instance as far as that instance's parameters stay within the ranges measured, which `span` names;
ESTIMATE=yosys finds the design's own paths.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PathBound:
    delay_ps: int
    lut_levels: int
    carry4: int
    instances: int  # instances measured
    span: str  # the parameters they covered

    @property
    def fmax_mhz(self) -> float:
        return 1e6 / self.delay_ps


MEASURED: dict[str, PathBound] = {
    "bnn_mvtu": PathBound(8424, 5, 9, 22, "SIMD 1-576, PE 1-32, 1- and 8-bit inputs, 1- and 4-bit weights, "
                                           "block and logic ROMs"),
    "bnn_swg": PathBound(8822, 5, 4, 11, "3x3 to 16x16 images, 40 to 256 channels, K 1 and 3, SIMD 10-64"),
    "bnn_swg_parallel": PathBound(5292, 3, 2, 6, "12x12 to 32x32 images, 1 to 128 channels, K 3, 1- and 8-bit"),
    "bnn_maxpool": PathBound(5761, 4, 2, 4, "10x10 to 32x32 images, 64 to 128 channels, PE 4-32"),
    "bnn_concat": PathBound(3310, 2, 0, 8, "40 to 72 + 16 channels, beats of 2 to 64"),
    "bnn_label_select": PathBound(4083, 1, 2, 2, "10 classes, 10- and 16-bit scores"),
    "bnn_score_affine": PathBound(3821, 2, 1, 1, "10 classes, PE 2, 15-bit scores"),
    "bnn_residual_add": PathBound(6063, 4, 5, 1, "64 channels, PE 2, 8-bit streams, 24-bit accumulator"),
    "bnn_threshold": PathBound(4383, 2, 1, 1, "64 channels, PE 4, 8-bit input"),
    "bnn_global_acc": PathBound(4061, 2, 2, 1, "64 pixels x 64 channels, PE 8"),
    "bnn_pool_sum": PathBound(5386, 3, 4, 1, "9x9x8, K 3, PE 2, 8-bit"),
    "bnn_fifo": PathBound(4614, 2, 3, 1, "32 bits x 512 words"),
    "bnn_dwc": PathBound(2179, 1, 0, 2, "8 <-> 24 bits"),
    "bnn_duplicate": PathBound(2043, 1, 0, 1, "32 bits"),
}


def design_bound(modules: set[str]) -> tuple[str, PathBound] | None:
    """The module with the longest measured path among `modules`, and that bound."""
    known = [(m, MEASURED[m]) for m in modules if m in MEASURED]
    return max(known, key=lambda mb: mb[1].delay_ps) if known else None
