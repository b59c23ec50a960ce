"""bnn_duplicate and bnn_concat, through test-only tops that fork a stream and join it again.

fork_join:  in -> duplicate -> m0 ------------------------> concat s0 -> out
                            -> m1 -> fifo -> dwc(SIMD1) -> concat s1
            so every output pixel is [x, x], with independent branch readiness.

swg_branch: in -> duplicate -> m0 -> swg (3x3, pad 1) ----> concat s0 -> out
                            -> m1 -> fifo (bypass) -------> concat s1
            every output pixel is [window(x), x]; the SWG needs one input row
            and two pixels more than it emits, which the bypass FIFO must hold.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rtl_files import rtl
from flows.ops.sliding_window import sliding_window
from flows.sim.verilator import Harness, SimulationError, build_harness, run_harness

FORK_JOIN = """
module fork_join #(
    parameter integer CH = 4, parameter integer EW = 1, parameter integer SIMD = 1,
    parameter integer SIMD1 = 1, parameter integer OUT_SIMD = 1, parameter integer DEPTH = 2
) (
    input wire ap_clk, input wire ap_rst_n,
    input wire [SIMD*EW-1:0] s_axis_tdata, input wire s_axis_tvalid, output wire s_axis_tready,
    output wire [OUT_SIMD*EW-1:0] m_axis_tdata, output wire m_axis_tvalid, input wire m_axis_tready
);
    wire [SIMD*EW-1:0] a_d, b_d, f_d;
    wire [SIMD1*EW-1:0] c_d;
    wire a_v, a_r, b_v, b_r, f_v, f_r, c_v, c_r;
    bnn_duplicate #(.WIDTH(SIMD*EW)) u_dup (
        .ap_clk(ap_clk), .ap_rst_n(ap_rst_n),
        .s_axis_tdata(s_axis_tdata), .s_axis_tvalid(s_axis_tvalid), .s_axis_tready(s_axis_tready),
        .m0_axis_tdata(a_d), .m0_axis_tvalid(a_v), .m0_axis_tready(a_r),
        .m1_axis_tdata(b_d), .m1_axis_tvalid(b_v), .m1_axis_tready(b_r));
    bnn_fifo #(.WIDTH(SIMD*EW), .DEPTH(DEPTH)) u_fifo (
        .ap_clk(ap_clk), .ap_rst_n(ap_rst_n),
        .s_axis_tdata(b_d), .s_axis_tvalid(b_v), .s_axis_tready(b_r),
        .m_axis_tdata(f_d), .m_axis_tvalid(f_v), .m_axis_tready(f_r));
    bnn_dwc #(.IN_W(SIMD*EW), .OUT_W(SIMD1*EW)) u_dwc (
        .ap_clk(ap_clk), .ap_rst_n(ap_rst_n),
        .s_axis_tdata(f_d), .s_axis_tvalid(f_v), .s_axis_tready(f_r),
        .m_axis_tdata(c_d), .m_axis_tvalid(c_v), .m_axis_tready(c_r));
    bnn_concat #(.CH0(CH), .CH1(CH), .SIMD0(SIMD), .SIMD1(SIMD1), .EW(EW), .OUT_SIMD(OUT_SIMD)) u_cat (
        .ap_clk(ap_clk), .ap_rst_n(ap_rst_n),
        .s0_axis_tdata(a_d), .s0_axis_tvalid(a_v), .s0_axis_tready(a_r),
        .s1_axis_tdata(c_d), .s1_axis_tvalid(c_v), .s1_axis_tready(c_r),
        .m_axis_tdata(m_axis_tdata), .m_axis_tvalid(m_axis_tvalid), .m_axis_tready(m_axis_tready));
endmodule
"""

SWG_BRANCH = """
module swg_branch #(
    parameter integer H = 4, parameter integer W = 4, parameter integer CH = 2,
    parameter integer SIMD = 1, parameter integer DEPTH = 2
) (
    input wire ap_clk, input wire ap_rst_n,
    input wire [SIMD-1:0] s_axis_tdata, input wire s_axis_tvalid, output wire s_axis_tready,
    output wire [SIMD-1:0] m_axis_tdata, output wire m_axis_tvalid, input wire m_axis_tready
);
    wire [SIMD-1:0] a_d, b_d, w_d, f_d;
    wire a_v, a_r, b_v, b_r, w_v, w_r, f_v, f_r;
    bnn_duplicate #(.WIDTH(SIMD)) u_dup (
        .ap_clk(ap_clk), .ap_rst_n(ap_rst_n),
        .s_axis_tdata(s_axis_tdata), .s_axis_tvalid(s_axis_tvalid), .s_axis_tready(s_axis_tready),
        .m0_axis_tdata(a_d), .m0_axis_tvalid(a_v), .m0_axis_tready(a_r),
        .m1_axis_tdata(b_d), .m1_axis_tvalid(b_v), .m1_axis_tready(b_r));
    bnn_swg #(.IFM_H(H), .IFM_W(W), .CH(CH), .K(3), .STRIDE(1), .PAD_T(1), .PAD_L(1),
              .PAD_B(1), .PAD_R(1), .PAD_VALUE(0), .SIMD(SIMD), .EW(1)) u_swg (
        .ap_clk(ap_clk), .ap_rst_n(ap_rst_n),
        .s_axis_tdata(a_d), .s_axis_tvalid(a_v), .s_axis_tready(a_r),
        .m_axis_tdata(w_d), .m_axis_tvalid(w_v), .m_axis_tready(w_r));
    bnn_fifo #(.WIDTH(SIMD), .DEPTH(DEPTH)) u_fifo (
        .ap_clk(ap_clk), .ap_rst_n(ap_rst_n),
        .s_axis_tdata(b_d), .s_axis_tvalid(b_v), .s_axis_tready(b_r),
        .m_axis_tdata(f_d), .m_axis_tvalid(f_v), .m_axis_tready(f_r));
    bnn_concat #(.CH0(9 * CH), .CH1(CH), .SIMD0(SIMD), .SIMD1(SIMD), .EW(1), .OUT_SIMD(SIMD)) u_cat (
        .ap_clk(ap_clk), .ap_rst_n(ap_rst_n),
        .s0_axis_tdata(w_d), .s0_axis_tvalid(w_v), .s0_axis_tready(w_r),
        .s1_axis_tdata(f_d), .s1_axis_tvalid(f_v), .s1_axis_tready(f_r),
        .m_axis_tdata(m_axis_tdata), .m_axis_tvalid(m_axis_tvalid), .m_axis_tready(m_axis_tready));
endmodule
"""


def top_harness(tmp: Path, name: str, text: str, extra: list[str], params: dict[str, int]) -> Harness:
    top = tmp / f"{name}.v"
    top.write_text(text)
    return build_harness([top, *rtl(*extra)], name, params)


# (CH, EW, SIMD, SIMD1, OUT_SIMD, DEPTH)
FORK_CONFIGS = [
    (6, 1, 3, 6, 3, 2),     # branch 1 widened to 6, concat narrows it back
    (4, 8, 1, 2, 2, 5),     # concat widens input 0, 8-bit elements
    (5, 4, 5, 5, 1, 3),     # CH not a power of two, SIMD=CH, OUT_SIMD=1
    (4, 1, 2, 4, 8, 2),     # whole pixels: OUT_SIMD = CH0 + CH1, both inputs widened to CH
    (6, 8, 6, 3, 12, 3),    # whole pixels of 8-bit elements from SIMD = CH and a narrow branch
]


@pytest.mark.parametrize("ch,ew,simd,simd1,out_simd,depth", FORK_CONFIGS,
                         ids=[f"ch{c[0]}-ew{c[1]}-simd{c[2]}-{c[3]}-out{c[4]}" for c in FORK_CONFIGS])
def test_fork_join(ch: int, ew: int, simd: int, simd1: int, out_simd: int, depth: int,
                   tmp_path: Path) -> None:
    h = top_harness(tmp_path, "fork_join", FORK_JOIN,
                    ["bnn_duplicate", "bnn_concat", "bnn_dwc", "bnn_fifo"],
                    {"CH": ch, "EW": ew, "SIMD": simd, "SIMD1": simd1, "OUT_SIMD": out_simd,
                     "DEPTH": depth})
    pixels = 60
    x = np.random.default_rng(ch * 10 + ew).integers(0, 1 << ew, size=(pixels, ch))
    expect = np.concatenate([x, x], axis=1).reshape(-1, out_simd)

    res = run_harness(h, x.reshape(-1, simd), ew, ew, expect.shape[0])
    np.testing.assert_array_equal(res.outputs, expect)

    for seed, pin, pout in ((1, 0.7, 0.5), (2, 1.0, 0.1), (3, 0.2, 1.0)):
        res = run_harness(h, x.reshape(-1, simd), ew, ew, expect.shape[0],
                          in_prob=pin, out_prob=pout, seed=seed)
        np.testing.assert_array_equal(res.outputs, expect)


H, W, CH, SIMD = 5, 6, 4, 2


def swg_branch(tmp: Path, depth: int) -> Harness:
    return top_harness(tmp, "swg_branch", SWG_BRANCH,
                       ["bnn_duplicate", "bnn_swg", "bnn_fifo", "bnn_concat", "bnn_dwc"],
                       {"H": H, "W": W, "CH": CH, "SIMD": SIMD, "DEPTH": depth})


def swg_branch_data(n_img: int) -> tuple[np.ndarray, np.ndarray]:
    x = np.random.default_rng(5).integers(0, 2, size=(n_img, H, W, CH))
    win = sliding_window(x, 3, 1, (1, 1, 1, 1), 0)
    return x, np.concatenate([win, x], axis=-1).reshape(-1, SIMD)


def test_swg_branch_with_deep_bypass(tmp_path: Path) -> None:
    # Window (oy, ox) needs input up to pixel (oy + 1, ox + 1): the bypass
    # holds one row and two pixels of beats (14 beats was found to suffice).
    h = swg_branch(tmp_path, depth=(W + 2) * CH // SIMD)
    x, expect = swg_branch_data(3)
    for seed, pin, pout in ((1, 1.0, 1.0), (2, 0.7, 0.5), (3, 1.0, 0.1)):
        res = run_harness(h, x.reshape(-1, SIMD), 1, 1, expect.shape[0],
                          in_prob=pin, out_prob=pout, seed=seed)
        np.testing.assert_array_equal(res.outputs, expect)
        if seed == 1:
            # Free-flowing ends: the concat keeps up with the SWG's beat per cycle.
            assert res.stats.cycles <= expect.shape[0] + 32, res.stats.cycles


def test_swg_branch_deadlocks_with_shallow_bypass(tmp_path: Path) -> None:
    # Half a row of bypass: the fork stalls on the full FIFO, so the SWG never
    # gets the rows it needs and nothing moves. FIFO sizing must prevent this.
    h = swg_branch(tmp_path, depth=W * CH // SIMD // 2)
    x, expect = swg_branch_data(1)
    with pytest.raises(SimulationError) as exc:
        run_harness(h, x.reshape(-1, SIMD), 1, 1, expect.shape[0], timeout=2000)
    assert exc.value.returncode == 1
    assert "DEADLOCK" in str(exc.value) and "input stalled" in str(exc.value)
