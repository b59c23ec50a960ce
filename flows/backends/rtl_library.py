"""The Verilog library in hw/rtl: where its modules are, and which modules each one instantiates.

The one table of library-module dependencies: the RTL generator copies a module's
dependencies next to it, and the lint and synthesis tests read the same table.
"""
from __future__ import annotations

from pathlib import Path

from flows.paths import HW

HW_RTL = HW / "rtl"
# Library modules that instantiate other library modules.
MODULE_DEPS: dict[str, tuple[str, ...]] = {
    "bnn_mvtu": ("bnn_fifo",),
    "bnn_swg": ("bnn_fifo",),
    "bnn_swg_parallel": ("bnn_fifo",),
    "bnn_concat": ("bnn_dwc",),
    "bnn_global_acc": ("bnn_dwc",),
}


def with_deps(module: str) -> tuple[str, ...]:
    """`module` and every library module it instantiates, directly or not."""
    out = [module]
    for dep in MODULE_DEPS.get(module, ()):
        out += [m for m in with_deps(dep) if m not in out]
    return tuple(out)


def library_files(module: str, rtl_dir: Path = HW_RTL) -> list[Path]:
    """The Verilog files a tool needs to elaborate `module`: its own first, then its dependencies."""
    return [rtl_dir / f"{m}.v" for m in with_deps(module)]
