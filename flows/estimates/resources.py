"""FPGA resource counts (LUT, FF, BRAM36, DSP) with the arithmetic estimates need."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

KINDS = ("LUT", "FF", "BRAM36", "DSP")


@dataclass(frozen=True)
class Resources:
    LUT: float = 0.0
    FF: float = 0.0
    BRAM36: float = 0.0  # a RAMB18 counts as half
    DSP: float = 0.0

    def __add__(self, other: Resources) -> Resources:
        return Resources(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    def __sub__(self, other: Resources) -> Resources:
        return Resources(*(getattr(self, f.name) - getattr(other, f.name) for f in fields(self)))

    def as_dict(self) -> dict[str, float]:
        return asdict(self)

    @staticmethod
    def total(items: list[Resources]) -> Resources:
        out = Resources()
        for r in items:
            out = out + r
        return out
