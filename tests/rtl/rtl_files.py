"""Locations of the RTL sources, shared by the RTL tests."""

from __future__ import annotations

from pathlib import Path

RTL = Path(__file__).resolve().parents[2] / "hw" / "rtl"


def rtl(*names: str) -> list[Path]:
    return [RTL / f"{n}.v" for n in names]
