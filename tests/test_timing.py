"""Logic depth from a synthesised netlist (flows/estimates/timing.py): hand-made netlists with known
paths, and Yosys netlists of circuits whose depth is known (an XOR tree, a carry chain)."""
import json
import subprocess

import pytest

from flows.estimates.timing import ROUTE_PS, critical_path


def _netlist(cells: dict, ports: dict | None = None) -> dict:
    return {"modules": {"top": {"attributes": {"top": "1"}, "ports": ports or {}, "cells": cells}}}


def _cell(t: str, conn: dict, dirs: dict) -> dict:
    return {"type": t, "connections": conn, "port_directions": dirs, "parameters": {}}


def _ff(d: int, q: int) -> dict:
    return _cell("FDRE", {"C": [1], "CE": ["1"], "R": ["0"], "D": [d], "Q": [q]},
                 {"C": "input", "CE": "input", "R": "input", "D": "input", "Q": "output"})


def test_two_luts_between_flip_flops():
    cells = {"a": _ff(2, 10), "l1": _cell("LUT6", {"I0": [10], "I1": [3], "I2": [3], "I3": [3], "I4": [3],
                                                    "I5": [3], "O": [11]}, {"O": "output"}),
             "l2": _cell("LUT2", {"I0": [3], "I1": [11], "O": [12]}, {"O": "output"}), "b": _ff(12, 13)}
    p = critical_path(_netlist(cells))
    # clock-to-Q 303, LUT6 pin I0 642, LUT2 pin I1 127 (a LUT2 uses a LUT6's fastest pins), setup 0.
    assert p.delay_ps == 303 + ROUTE_PS + 642 + ROUTE_PS + 127 + ROUTE_PS
    assert (p.lut_levels, p.carry4, p.hops) == (2, 0, 3)
    assert p.start == "FDRE a" and p.end == "FDRE b"


def test_ports_are_boundaries_and_a_lone_register_has_a_path():
    ports = {"i": {"direction": "input", "bits": [2]}, "o": {"direction": "output", "bits": [10]}}
    p = critical_path(_netlist({"r": _ff(2, 10)}, ports))
    assert p.delay_ps == 303 + ROUTE_PS and p.start == "FDRE r" and p.end == "output o"
    assert critical_path(_netlist({}, {"i": {"direction": "input", "bits": [2]}})) is None


def _synth(tmp_path, verilog: str, top: str) -> dict:
    (tmp_path / "t.v").write_text(verilog)
    subprocess.run(["yosys", "-q", "-p", f"read_verilog t.v; synth_xilinx -top {top} -family xc7 -flatten "
                    f"-noiopad -noclkbuf; write_json n.json"], cwd=tmp_path, check=True)
    return json.loads((tmp_path / "n.json").read_text())


def test_carry_chain_of_a_32_bit_adder(tmp_path):
    p = critical_path(_synth(tmp_path, """
module add(input clk, input [31:0] a, b, output reg [31:0] s);
  reg [31:0] ra, rb;
  always @(posedge clk) begin ra <= a; rb <= b; s <= ra + rb; end
endmodule""", "add"))
    assert p.carry4 == 8 and p.lut_levels == 1 and p.start.startswith("FDRE") and p.end.startswith("FDRE")


@pytest.mark.parametrize("width,levels", [(6, 1), (36, 2), (64, 2)])
def test_xor_tree_depth(tmp_path, width, levels):
    """A registered XOR of `width` bits: LUT6s (with MUXF7/F8 for up to 8 inputs) in a tree."""
    p = critical_path(_synth(tmp_path, f"""
module xr(input clk, input [{width - 1}:0] a, output reg y);
  reg [{width - 1}:0] r;
  always @(posedge clk) begin r <= a; y <= ^r; end
endmodule""", "xr"))
    assert p.lut_levels == levels and p.carry4 == 0


def test_every_library_module_has_a_measured_path_bound():
    """An analytic build bounds its timing by the paths measured in each module's netlists, so every
    module of hw/rtl needs a measurement, within what the delay formula can give."""
    from flows.backends.rtl_library import HW_RTL
    from flows.estimates.path_bounds import MEASURED

    assert set(MEASURED) == {f.stem for f in HW_RTL.glob("*.v")}
    for b in MEASURED.values():
        # At least the clock-to-out, one net and a setup; every LUT level adds a routed net.
        assert b.delay_ps > 303 + ROUTE_PS * (b.lut_levels + 1) and b.instances >= 1
