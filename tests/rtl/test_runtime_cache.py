"""The Verilator runtime cache fills from whatever builds come first.

Which runtime objects a build compiles depends on its design: bnn_dwc has no DPI, so it
compiles no verilated_dpi.o. On an empty cache whose first build was such a design, the
cache publish failed and every build after it failed too, until a DPI design built first."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rtl_files import rtl
from flows.sim.verilator import build_harness, run_harness


def _runtime(root: Path) -> Path:
    (runtime,) = root.glob("runtime-*")
    return runtime


def _dwc(root: Path, in_w: int, out_w: int):
    """A width converter built under `root`, checked to pass 32 bytes through unchanged."""
    harness = build_harness(rtl("bnn_dwc"), "bnn_dwc", {"IN_W": in_w, "OUT_W": out_w}, build_root=root)
    x = np.arange(32)
    np.testing.assert_array_equal(run_harness(harness, x, 8, 8, 32 * 8 // out_w).outputs.reshape(-1), x)


def test_builds_on_an_empty_cache_from_a_design_without_dpi(tmp_path: Path) -> None:
    _dwc(tmp_path, 8, 32)
    cached = {p.name for p in _runtime(tmp_path).iterdir()}
    assert "verilated.o" in cached and not any(name.startswith(".") for name in cached)


def test_a_partial_cache_is_reused_and_completed(tmp_path: Path) -> None:
    _dwc(tmp_path, 8, 32)
    (_runtime(tmp_path) / "verilated_threads.o").unlink()
    _dwc(tmp_path, 32, 8)
    assert (_runtime(tmp_path) / "verilated_threads.o").is_file()
