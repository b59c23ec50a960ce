"""Timing evidence without Vivado: the longest register-to-register path of a synthesised module.

Yosys `synth_xilinx` maps a module instance to 7-series cells (LUT1-6, MUXF7/8, CARRY4, FDRE...,
RAMB18E1/36E1, LUT-RAM, SRL, DSP48E1). This module walks the flattened netlist (Yosys
`write_json`) bit by bit and finds the path of largest delay from a start point (a flip-flop's Q,
a block RAM's or SRL's clocked output, a module input) to an end point (a flip-flop's D/CE/R/S, a
block RAM's or SRL's clocked input, a module output). For that path it reports:

- LUT levels (LUT1-6 and LUT-RAM reads), CARRY4 cells and routed nets crossed (hops);
- delay = clock-to-out of the start + sum over the path of (ROUTE_PS + the cell's pin-to-pin delay)
  + ROUTE_PS + setup of the end, where ROUTE_PS is left out on the slice's dedicated links (a LUT
  into its MUXF7/MUXF8 or its CARRY4's S input, one CARRY4's carry into the next).

Cell delays are Yosys's own 7-series timing models (the `specify` blocks of
share/yosys/xilinx/cells_sim.v, taken by Yosys from Project X-Ray's database of an Artix-7 -1
part; the xc7z020's programmable logic is the same 7-series fabric and speed grade). Routing is not
in a netlist: ROUTE_PS per net is an assumption, stated in every report, and Vivado's post-route
timing report is the sign-off. A module input or output counts as a register boundary: the
accelerator's modules meet through AXI streams whose data are registered on one side, but a
combinational ready/valid path through several modules is not seen here.

Supported clock = 1 / delay. The budget at a clock f is 1/f: a module whose path is longer is
reported as over budget.
"""
from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import asdict, dataclass

# Assumed delay of one routed net (ps): short 7-series nets route in about 0.3-0.6 ns; not measured here.
ROUTE_PS = 500

# Pin-to-output delays (ps), Yosys 0.23 cells_sim.v (Project X-Ray, Artix-7 -1).
_LUT6_PINS = (642, 631, 472, 407, 238, 127)  # I0..I5 of a LUT6; a LUTk uses the last k
_CARRY4_CI_CO3, _CARRY4_WORST = 114, 642  # CI -> CO[3] through a whole CARRY4; worst other arc
_MUXF = {"MUXF7": (223, 296), "MUXF8": (104, 273)}  # (data input, select) -> O
_FF_CLK_Q, _FF_SETUP = 303, {"D": 0, "CE": 109, "R": 404, "S": 404}
_BRAM_CLK_DO = {0: 2454, 1: 882}  # by DO*_REG: without, with the optional output register
_BRAM_SETUP = 737
_SRL_CLK_Q, _SRL_SETUP = 1472, 173
_LUTRAM_SETUP = 453

FFS = ("FDRE", "FDSE", "FDCE", "FDPE")
BRAMS = ("RAMB18E1", "RAMB36E1")
SRLS = ("SRL16E", "SRLC32E")
LUTRAMS = ("RAM32X1S", "RAM64X1S", "RAM128X1S", "RAM32X1D", "RAM64X1D", "RAM128X1D", "RAM32M", "RAM64M")
# Their asynchronous read ports (address in -> data out, one LUT level); everything else is clocked.
_LUTRAM_READ = {"A", "A0", "A1", "A2", "A3", "A4", "A5", "DPRA", "DPRA0", "DPRA1", "DPRA2", "DPRA3", "DPRA4",
                "DPRA5", "ADDRA", "ADDRB", "ADDRC", "ADDRD"}
_LUTRAM_OUT = {"O", "SPO", "DPO", "DOA", "DOB", "DOC", "DOD"}


@dataclass(frozen=True)
class CriticalPath:
    delay_ps: int
    lut_levels: int
    carry4: int
    hops: int
    start: str
    end: str

    @property
    def fmax_mhz(self) -> float:
        return 1e6 / self.delay_ps

    def to_json(self) -> dict:
        return {**asdict(self), "fmax_mhz": round(self.fmax_mhz, 1)}

    @classmethod
    def from_json(cls, d: dict) -> "CriticalPath":
        return cls(**{k: d[k] for k in ("delay_ps", "lut_levels", "carry4", "hops", "start", "end")})


@dataclass(frozen=True)
class _Arc:
    src: int  # net bit
    delay: int
    lut: int
    carry: int
    routed: bool = True  # False on the slice's dedicated links, which no routing delay applies to


def _bits(conn: list) -> list[int]:
    return [b for b in conn if isinstance(b, int)]


def _param_int(cell: dict, name: str, default: int = 0) -> int:
    v = cell.get("parameters", {}).get(name)
    if v is None:
        return default
    try:
        return int(v, 2) if isinstance(v, str) else int(v)
    except ValueError:
        return default


def _comb_arcs(cell: dict) -> dict[int, list[_Arc]]:
    """Output bit -> arcs from input bits, for the cell's combinational paths."""
    t, conn = cell["type"], cell["connections"]
    out: dict[int, list[_Arc]] = defaultdict(list)
    if t.startswith("LUT") and t[3:].isdigit():
        k = int(t[3:])
        (o,) = _bits(conn["O"]) or [None]
        if o is not None:
            for j in range(k):
                for b in _bits(conn.get(f"I{j}", [])):
                    out[o].append(_Arc(b, _LUT6_PINS[6 - k + j], 1, 0))
    elif t in _MUXF:
        data, sel = _MUXF[t]
        for o in _bits(conn["O"]):
            out[o] += [_Arc(b, data, 0, 0, routed=False) for p in ("I0", "I1") for b in _bits(conn.get(p, []))]
            out[o] += [_Arc(b, sel, 0, 0) for b in _bits(conn.get("S", []))]
    elif t == "CARRY4":
        ci, cyinit = _bits(conn.get("CI", [])), _bits(conn.get("CYINIT", []))
        s, di = _bits(conn.get("S", [])), _bits(conn.get("DI", []))
        for p in ("O", "CO"):
            for o in _bits(conn.get(p, [])):
                out[o] += [_Arc(b, _CARRY4_CI_CO3, 0, 1, routed=False) for b in ci]
                out[o] += [_Arc(b, _CARRY4_WORST, 0, 1, routed=False) for b in s]
                out[o] += [_Arc(b, _CARRY4_WORST, 0, 1) for b in cyinit + di]
    elif t in LUTRAMS or t in SRLS:
        outs = [b for p in (_LUTRAM_OUT | {"Q"}) for b in _bits(conn.get(p, []))]
        reads = [b for p in _LUTRAM_READ for b in _bits(conn.get(p, []))]
        for o in outs:
            out[o] += [_Arc(b, _LUT6_PINS[0], 1, 0) for b in reads]
    return out


def _starts_and_ends(cell: dict) -> tuple[dict[int, int], dict[int, int]]:
    """(start bits with their clock-to-out, end bits with their setup) of a clocked cell."""
    t, conn = cell["type"], cell["connections"]
    starts, ends = {}, {}
    if t in FFS:
        starts.update({b: _FF_CLK_Q for b in _bits(conn.get("Q", []))})
        for p, setup in _FF_SETUP.items():
            ends.update({b: setup for b in _bits(conn.get(p, []))})
        ends.update({b: _FF_SETUP["R"] for p in ("CLR", "PRE") for b in _bits(conn.get(p, []))})
    elif t in BRAMS:
        regs = _param_int(cell, "DOA_REG") and _param_int(cell, "DOB_REG")
        for p, bits in conn.items():
            if cell["port_directions"].get(p) == "output":
                starts.update({b: _BRAM_CLK_DO[1 if regs else 0] for b in _bits(bits)})
            elif not p.startswith("CLK"):
                ends.update({b: _BRAM_SETUP for b in _bits(bits)})
    elif t in SRLS:
        starts.update({b: _SRL_CLK_Q for p in ("Q", "Q31") for b in _bits(conn.get(p, []))})
        ends.update({b: _SRL_SETUP for p in ("D", "CE") for b in _bits(conn.get(p, []))})
    elif t in LUTRAMS:
        for p, bits in conn.items():
            if cell["port_directions"].get(p) == "input" and p not in _LUTRAM_READ and p != "WCLK":
                ends.update({b: _LUTRAM_SETUP for b in _bits(bits)})
    elif cell["port_directions"] and t not in _MUXF and t != "CARRY4" and not t.startswith("LUT"):
        # Anything else (DSP48E1 and the like): its ports are clocked boundaries, with no delay assumed.
        for p, bits in conn.items():
            d = cell["port_directions"].get(p)
            (starts if d == "output" else ends).update({b: 0 for b in _bits(bits)})
    return starts, ends


def critical_path(netlist: dict, route_ps: int = ROUTE_PS) -> CriticalPath | None:
    """The longest register-to-register path (by delay) of a flattened Yosys JSON netlist's top
    module; None where the module has no path between a start and an end point."""
    modules = netlist["modules"]
    top = next((m for m in modules.values() if int(m.get("attributes", {}).get("top", "0") or 0)),
               next(iter(modules.values())))
    arcs: dict[int, list[_Arc]] = defaultdict(list)
    starts: dict[int, tuple[int, str]] = {}
    ends: dict[int, tuple[int, str]] = {}
    for pname, port in top["ports"].items():
        for b in _bits(port["bits"]):
            if port["direction"] == "input":
                starts[b] = (0, f"input {pname}")
            else:
                ends[b] = (0, f"output {pname}")
    for cname, cell in top["cells"].items():
        for o, a in _comb_arcs(cell).items():
            arcs[o] += a
        s, e = _starts_and_ends(cell)
        label = f"{cell['type']} {cname}"
        starts.update({b: (d, label) for b, d in s.items()})
        ends.update({b: (d, label) for b, d in e.items() if b not in ends or ends[b][0] < d})
    # Longest arrival per bit, in topological order of the combinational arcs (sources before sinks).
    users: dict[int, list[int]] = defaultdict(list)
    pending = {o: len(a) for o, a in arcs.items()}
    for o, a in arcs.items():
        for arc in a:
            users[arc.src].append(o)
    arrival: dict[int, tuple[int, int, int, int, str]] = {b: (d, 0, 0, 0, label) for b, (d, label) in starts.items()}
    ready = deque(b for b in set(users) if b not in arcs)
    while ready:
        b = ready.popleft()
        for o in users[b]:
            pending[o] -= 1
            if pending[o] == 0:
                best = None
                for arc in arcs[o]:
                    if arc.src in arrival:
                        d, lut, carry, hops, start = arrival[arc.src]
                        cand = (d + route_ps * arc.routed + arc.delay, lut + arc.lut, carry + arc.carry,
                                hops + arc.routed, start)
                        best = cand if best is None or cand[0] > best[0] else best
                if best is not None and (o not in starts or best[0] > starts[o][0]):
                    arrival[o] = best
                ready.append(o)
    worst = None
    for b, (setup, end) in ends.items():
        if b in arrival:
            d, lut, carry, hops, start = arrival[b]
            total = d + route_ps + setup
            if worst is None or total > worst.delay_ps:
                worst = CriticalPath(total, lut, carry, hops + 1, start, end)
    return worst
