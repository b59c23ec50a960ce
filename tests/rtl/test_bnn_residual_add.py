"""bnn_residual_add against flows.ops piecewise_term / residual_add, through a test-only top.

The harness drives one input stream, so the top carries both inputs side by
side in each beat, {d1, d0, x1, x0}, forks it and holds each branch's beat
back for its own d_i cycles before offering it to the adder:

    in -> duplicate -> fifo -> delay(d0) -> s0 \
                    -> fifo -> delay(d1) -> s1 -> residual_add -> out

Random d_i make the two valids independent cycle by cycle (either side may
arrive first, by up to a few beats), which is what the join must survive;
with all d_i = 0 the path runs at one beat per cycle.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from rtl_files import rtl
from flows.backends.rtl_words import hex_words
from flows.ops.residual_add import RESIDUAL_FIELDS, piecewise_term, residual_add, residual_add_words
from flows.sim.verilator import Harness, build_harness, run_harness

DELAY_BITS = 2

RESIDUAL_TB = """
module residual_tb #(
    parameter integer C = 8, parameter integer PE = 1,
    parameter integer IN0_BITS = 8, parameter integer IN0_SIGNED = 0,
    parameter integer IN1_BITS = 8, parameter integer IN1_SIGNED = 0,
    parameter integer F_BITS = 16, parameter integer ACC_BITS = 24, parameter integer SHIFT = 0,
    parameter integer OUT_BITS = 8, parameter PARAM_FILE = "p.hex",
    parameter integer WP = 8, parameter integer DEPTH0 = 2, parameter integer DEPTH1 = 3
) (
    input wire ap_clk, input wire ap_rst_n,
    input wire [WP-1:0] s_axis_tdata, input wire s_axis_tvalid, output wire s_axis_tready,
    output wire [PE*OUT_BITS-1:0] m_axis_tdata, output wire m_axis_tvalid, input wire m_axis_tready
);
    localparam integer W0 = PE * IN0_BITS;
    localparam integer W = W0 + PE * IN1_BITS;
    wire [WP-1:0] a_d, b_d, fa_d, fb_d;
    wire a_v, a_r, b_v, b_r, fa_v, fa_r, fb_v, fb_r, r0, r1;
    reg [1:0] wait0, wait1;  // cycles the head beat of each branch has been held
    wire ok0 = wait0 >= fa_d[W +: 2];
    wire ok1 = wait1 >= fb_d[W + 2 +: 2];
    assign fa_r = ok0 && r0;
    assign fb_r = ok1 && r1;
    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            wait0 <= 0;
            wait1 <= 0;
        end else begin
            if (fa_v && fa_r) wait0 <= 0; else if (fa_v && !ok0) wait0 <= wait0 + 1'b1;
            if (fb_v && fb_r) wait1 <= 0; else if (fb_v && !ok1) wait1 <= wait1 + 1'b1;
        end
    end
    bnn_duplicate #(.WIDTH(WP)) u_dup (
        .ap_clk(ap_clk), .ap_rst_n(ap_rst_n),
        .s_axis_tdata(s_axis_tdata), .s_axis_tvalid(s_axis_tvalid), .s_axis_tready(s_axis_tready),
        .m0_axis_tdata(a_d), .m0_axis_tvalid(a_v), .m0_axis_tready(a_r),
        .m1_axis_tdata(b_d), .m1_axis_tvalid(b_v), .m1_axis_tready(b_r));
    bnn_fifo #(.WIDTH(WP), .DEPTH(DEPTH0)) u_fifo0 (
        .ap_clk(ap_clk), .ap_rst_n(ap_rst_n),
        .s_axis_tdata(a_d), .s_axis_tvalid(a_v), .s_axis_tready(a_r),
        .m_axis_tdata(fa_d), .m_axis_tvalid(fa_v), .m_axis_tready(fa_r));
    bnn_fifo #(.WIDTH(WP), .DEPTH(DEPTH1)) u_fifo1 (
        .ap_clk(ap_clk), .ap_rst_n(ap_rst_n),
        .s_axis_tdata(b_d), .s_axis_tvalid(b_v), .s_axis_tready(b_r),
        .m_axis_tdata(fb_d), .m_axis_tvalid(fb_v), .m_axis_tready(fb_r));
    bnn_residual_add #(.C(C), .PE(PE), .IN0_BITS(IN0_BITS), .IN0_SIGNED(IN0_SIGNED),
                       .IN1_BITS(IN1_BITS), .IN1_SIGNED(IN1_SIGNED), .F_BITS(F_BITS),
                       .ACC_BITS(ACC_BITS), .SHIFT(SHIFT), .OUT_BITS(OUT_BITS),
                       .PARAM_FILE(PARAM_FILE)) u_dut (
        .ap_clk(ap_clk), .ap_rst_n(ap_rst_n),
        .s0_axis_tdata(fa_d[0 +: W0]), .s0_axis_tvalid(fa_v && ok0), .s0_axis_tready(r0),
        .s1_axis_tdata(fb_d[W0 +: W - W0]), .s1_axis_tvalid(fb_v && ok1), .s1_axis_tready(r1),
        .m_axis_tdata(m_axis_tdata), .m_axis_tvalid(m_axis_tvalid), .m_axis_tready(m_axis_tready));
endmodule
"""

# (C, PE, IN0_BITS, IN0_SIGNED, IN1_BITS, IN1_SIGNED, F_BITS, SHIFT, OUT_EXTRA); OUT_BITS is
# the tightest width plus OUT_EXTRA, which when large makes the output sign-extend the shifted
# sum (and so tells an arithmetic shift from a logical one).
CONFIGS = [
    (4, 1, 4, 0, 3, 1, 8, 0, 0),     # PE=1, no shift, mixed signedness
    (6, 3, 8, 1, 5, 0, 10, 3, 5),    # PE>1, rounding shift, signed bytes, OUT_BITS > ACC_BITS + 1
    (8, 4, 2, 1, 6, 1, 16, 2, 0),    # products beyond ACC_BITS, knots outside the input range,
                                     # a sum at the top of ACC_BITS (+ rounding overflows it)
]


def x_range(bits: int, signed: int) -> np.ndarray:
    """Every value an input element can take."""
    return np.arange(-(1 << (bits - 1)), 1 << (bits - 1)) if signed else np.arange(0, 1 << bits)


def signed_bits(lo: int, hi: int) -> int:
    """Fewest two's complement bits holding lo..hi."""
    b = 1
    while not (-(1 << (b - 1)) <= lo and hi < (1 << (b - 1))):
        b += 1
    return b


def make_params(rng: np.random.Generator, c: int, f_bits: int, ranges: list[np.ndarray]
                ) -> dict[str, list[list[int]]]:
    fmax = (1 << (f_bits - 1)) - 1
    p: dict[str, list[list[int]]] = {f: [[], []] for f in RESIDUAL_FIELDS}
    for i, xs in enumerate(ranges):
        for ch in range(c):
            knot = int(rng.choice(xs))  # reachable, so x == knot happens
            mh, ml = (int(v) for v in rng.integers(-min(20, fmax), min(20, fmax) + 1, size=2))
            oh, ol = (int(v) for v in rng.integers(-min(200, fmax), min(200, fmax) + 1, size=2))
            if ch == 1:
                knot = -fmax - 1 if i == 0 else fmax  # always the hi / always the lo piece
            if ch == 2:
                # Huge multiplier cancelled by the offset only where it is selected
                # (the top input value): the product overflows ACC_BITS, the term does not.
                top = int(xs[-1])
                knot, mh = top, (fmax // 2) // max(top, 1)
                oh = 3 - mh * top
            for f, v in zip(RESIDUAL_FIELDS, (knot, mh, oh, ml, ol)):
                p[f][i].append(v)
    return p


def terms(params: dict[str, list[list[int]]], i: int, x: np.ndarray) -> np.ndarray:
    """Reference term of input i for x of shape (..., C)."""
    k, mh, oh, ml, ol = (np.array(params[f][i], dtype=np.int64) for f in RESIDUAL_FIELDS)
    return piecewise_term(x, k, mh, oh, ml, ol)


def widths(params: dict[str, list[list[int]]], ranges: list[np.ndarray], shift: int
           ) -> tuple[int, int]:
    """Tightest ACC_BITS (every term and sum) and OUT_BITS (every result), by enumeration."""
    c = len(params["knot"][0])
    t0 = terms(params, 0, np.repeat(ranges[0][:, None], c, axis=1))
    t1 = terms(params, 1, np.repeat(ranges[1][:, None], c, axis=1))
    sums = t0[:, None, :] + t1[None, :, :]
    acc = max(signed_bits(int(t.min()), int(t.max())) for t in (t0, t1, sums))
    out = residual_add([t0[:, None, :], t1[None, :, :]], shift)
    return acc, signed_bits(int(out.min()), int(out.max()))


LIMIT_CH = 3


def top_sum_at_limit(params: dict[str, list[list[int]]], ranges: list[np.ndarray], acc_bits: int,
                     shift: int) -> None:
    """Move input 0's offsets of LIMIT_CH so its largest sum is exactly 2^(ACC_BITS-1) - 1.

    The sum fits ACC_BITS but adding the rounding constant does not: the datapath's
    extra bit must absorb it. ACC_BITS itself must not change.
    """
    c = len(params["knot"][0])
    t = [terms(params, i, np.repeat(xs[:, None], c, axis=1))[:, LIMIT_CH]
         for i, xs in enumerate(ranges)]
    delta = (1 << (acc_bits - 1)) - 1 - int(t[0].max() + t[1].max())
    params["off_hi"][0][LIMIT_CH] += delta
    params["off_lo"][0][LIMIT_CH] += delta
    assert widths(params, ranges, shift)[0] == acc_bits


def pack(x0: np.ndarray, x1: np.ndarray, d: np.ndarray, in0: int, in1: int, wp: int) -> np.ndarray:
    """Beats {d1, d0, x1, x0} as rows of wp // 8 bytes (the harness's 8-bit elements)."""
    pe = x0.shape[1]
    rows = []
    for b in range(x0.shape[0]):
        word, pos = 0, 0
        for vals, bits in ((x0[b], in0), (x1[b], in1)):
            for v in vals:
                word |= (int(v) & ((1 << bits) - 1)) << pos
                pos += bits
        assert pos == pe * (in0 + in1)
        word |= int(d[b, 0]) << pos | int(d[b, 1]) << (pos + DELAY_BITS)
        rows.append(list(word.to_bytes(wp // 8, "little")))
    return np.array(rows, dtype=np.int64)


def harness(tmp: Path, params: dict[str, int | str]) -> Harness:
    top = tmp / "residual_tb.v"
    top.write_text(RESIDUAL_TB)
    return build_harness([top, *rtl("bnn_residual_add", "bnn_duplicate", "bnn_fifo")],
                         "residual_tb", params)


@pytest.mark.parametrize("c,pe,in0,s0,in1,s1,f_bits,shift,out_extra", CONFIGS,
                         ids=[f"c{c[0]}-pe{c[1]}-in{c[2]}s{c[3]}-{c[4]}s{c[5]}-f{c[6]}-sh{c[7]}"
                              f"-o{c[8]}" for c in CONFIGS])
def test_residual_add(tmp_path: Path, c: int, pe: int, in0: int, s0: int, in1: int, s1: int,
                      f_bits: int, shift: int, out_extra: int) -> None:
    rng = np.random.default_rng(c * 1000 + pe * 100 + in0 * 10 + in1)
    ranges = [x_range(in0, s0), x_range(in1, s1)]
    params = make_params(rng, c, f_bits, ranges)
    acc_bits, out_bits = widths(params, ranges, shift)
    limits = f_bits >= 16  # room in the constants for the overflow cases
    if limits:
        # The cancelling channel's product must really overflow the datapath.
        assert params["mul_hi"][0][2] * int(ranges[0][-1]) >= 1 << acc_bits
        assert shift
        top_sum_at_limit(params, ranges, acc_bits, shift)
        acc_bits, out_bits = widths(params, ranges, shift)
    out_bits += out_extra
    (tmp_path / "p.hex").write_text(hex_words(residual_add_words(params, pe, f_bits),
                                              pe * 10 * f_bits))
    wp = -(-(pe * (in0 + in1) + 2 * DELAY_BITS) // 8) * 8
    h = harness(tmp_path, {"C": c, "PE": pe, "IN0_BITS": in0, "IN0_SIGNED": s0, "IN1_BITS": in1,
                           "IN1_SIGNED": s1, "F_BITS": f_bits, "ACC_BITS": acc_bits, "SHIFT": shift,
                           "OUT_BITS": out_bits, "PARAM_FILE": "p.hex", "WP": wp})

    pixels = 40
    x0 = rng.choice(ranges[0], size=(pixels, c))
    x1 = rng.choice(ranges[1], size=(pixels, c))
    # Ties at every knot, and the extremes of both inputs together.
    x0[:4] = np.clip(params["knot"][0], ranges[0][0], ranges[0][-1])
    x1[2:6] = np.clip(params["knot"][1], ranges[1][0], ranges[1][-1])
    for r, (a, b) in enumerate(itertools.product((0, -1), repeat=2)):
        x0[6 + r], x1[6 + r] = ranges[0][a], ranges[1][b]
    if limits:
        x0[10, LIMIT_CH], x1[10, LIMIT_CH] = (int(xs[np.argmax(terms(params, i, np.repeat(
            xs[:, None], c, axis=1))[:, LIMIT_CH])]) for i, xs in enumerate(ranges))
    total = residual_add([terms(params, 0, x0), terms(params, 1, x1)], shift)
    assert (total < 0).any() and (total > 0).any()
    if shift:
        raw = terms(params, 0, x0) + terms(params, 1, x1)
        assert ((raw < 0) & (raw % (1 << shift) == 1 << (shift - 1))).any(), "no negative tie"
    expect = total.reshape(-1, pe)
    n = expect.shape[0]
    b0, b1 = x0.reshape(n, pe), x1.reshape(n, pe)

    no_delay = np.zeros((n, 2), dtype=np.int64)
    some = rng.integers(0, 1 << DELAY_BITS, size=(n, 2))
    only0 = some * np.array([1, 0])
    only1 = some * np.array([0, 1])
    runs = [(no_delay, 1.0, 1.0), (some, 0.7, 0.5), (some, 1.0, 0.2), (only0, 1.0, 1.0),
            (only1, 0.6, 0.8), (no_delay, 0.5, 0.5)]
    for seed, (d, pin, pout) in enumerate(runs, start=1):
        res = run_harness(h, pack(b0, b1, d, in0, in1, wp), 8, out_bits, n, out_signed=True,
                          in_prob=pin, out_prob=pout, seed=seed, cwd=tmp_path,
                          in_elems_per_beat=wp // 8)
        np.testing.assert_array_equal(res.outputs, expect, err_msg=f"run {seed}")
        if seed == 1:
            assert res.stats.cycles <= n + 12, res.stats.cycles  # one beat per cycle
