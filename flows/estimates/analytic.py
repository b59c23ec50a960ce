"""Analytic resource model of the hw/rtl modules: instant, for folding and for large models.

Memories are counted from their shapes the way Yosys maps them for 7-series
(BRAM aspect ratios, LUT-RAM primitives); flip-flops follow the registers of
the RTL; logic LUTs are a linear model of the datapath whose coefficients were
fitted to Yosys `synth_xilinx` results (flows/bench_resources.py --calibrate
reruns the fit and prints the errors).

Calibration (Yosys 0.23, xc7, the 10 binary-weight MVTU configurations of
flows/bench_resources.py CALIBRATION: MW 27..1024, PE 1..32, SIMD 3..64, 1- and
8-bit inputs): LUT -13%..+7%, FF -9%..+9%, BRAM36 exact on every one
(tests/test_estimate.py holds the model to 15% LUT / 10% FF on a subset).
Its 7 multi-bit-weight configurations (first layers: SIMD 9 and 27, 2- to
8-bit weights; 4-bit layers on +-1 bits): LUT -9%..+44%, FF -9%..+5%, BRAM36
exact but once +100%; the overestimates are a weight ROM two words deep,
which Yosys partly keeps in LUTs, so the model errs on the side that folds a
layer down.
FIFO, DWC and label-select models are counted from their registers, not fitted.
Window generator, max pool, concat, global accumulate and score stage: memories
and registers counted, a few logic coefficients fitted (see SWG_* and below);
the whole-window generator likewise (SWGP_*).
"""
from __future__ import annotations

import math
from typing import Callable

from flows.errors import FlowError
from flows.estimates.resources import Resources

# BRAM aspect ratios (width, depth): a RAMB36 and, counted as half, a RAMB18.
BRAM36_SHAPES = ((72, 512), (36, 1024), (18, 2048), (9, 4096), (4, 8192), (2, 16384), (1, 32768))
BRAM18_SHAPES = ((36, 512), (18, 1024), (9, 2048), (4, 4096), (2, 8192), (1, 16384))
# Memories deeper than this go to block RAM when the tool may choose (Yosys keeps shallower ones in LUT RAM).
LUTRAM_MAX_DEPTH = 64
LUTROM_MAX_BITS = 16384
MVTU_OFIFO_DEPTH = 16  # bnn_mvtu's output FIFO

# Fitted coefficients of bnn_mvtu's logic LUTs and flip-flops (see the module docstring).
MVTU_LUT_BASE = 83.0
MVTU_LUT_PER_PRODUCT_BIT = 2.0  # per PE*SIMD*IN_BITS: XNOR/AND and the chunk popcounts
MVTU_LUT_PER_ACC_BIT = 1.12  # per PE*ACC_BITS: accumulator and threshold compare
# Multi-bit weights: per adder output bit of every plane's tree and of the plane combination.
MVTU_LUT_PER_PLANE_ADDER_BIT = 0.97
MVTU_FF_BASE = 34.0
MVTU_FF_PER_SUM_BIT = 0.94  # per PE*(chunk sum bits + partial sum bits)
MVTU_FF_PER_ACC_BIT = 0.68  # per 2*PE*ACC_BITS: accumulator and threshold register
MVTU_FF_PER_IO_BIT = 1.79  # per input-register and output-FIFO bit


def bram36(width: int, depth: int) -> float:
    """Block RAMs (RAMB18 = 0.5) for a width x depth memory, best aspect ratio."""
    if width <= 0 or depth <= 0:
        return 0.0
    full = min(math.ceil(width / w) * math.ceil(depth / d) for w, d in BRAM36_SHAPES)
    half = min(math.ceil(width / w) * math.ceil(depth / d) for w, d in BRAM18_SHAPES)
    return min(float(full), half / 2)


def lutram_luts(width: int, depth: int) -> int:
    """LUTs of a simple-dual-port LUT RAM: RAM32M (6 bits x 32 in 4 LUTs) or 64-deep single bits."""
    if depth <= 32:
        return 4 * math.ceil(width / 6)
    return width * math.ceil(depth / 64) + (width * (math.ceil(depth / 64) - 1) if depth > 64 else 0)


def lutrom_luts(width: int, depth: int) -> int:
    """A ROM in LUTs: one LUT6 per bit per 64 words, plus the output multiplexers beyond that."""
    words = math.ceil(depth / 64)
    return width * (words + (words - 1))


def memory(width: int, depth: int, block: bool) -> Resources:
    if block or depth > LUTRAM_MAX_DEPTH:
        return Resources(BRAM36=bram36(width, depth))
    return Resources(LUT=lutram_luts(width, depth))


def _isqrt_ceil(v: int) -> int:
    r = 1
    while r * r < v:
        r += 1
    return r


def weight_rom(width: int, depth: int, style: str) -> Resources:
    """bnn_mvtu's weight ROM and its two word registers (S0, S1): block RAM, whose output latch is
    S0, or LUT logic (lutrom_luts) with both registers in flip-flops."""
    if style == "logic":
        return Resources(LUT=lutrom_luts(width, depth), FF=2 * width)
    return Resources(BRAM36=bram36(width, depth), FF=width)


def mvtu(MW: int, MH: int, PE: int, SIMD: int, IN_BITS: int, ACC_BITS: int, USE_THRESH: int = 1,
         WEIGHT_BITS: int = 1, WEIGHT_STYLE: str = "block") -> Resources:
    """bnn_mvtu: weight ROM (block RAM or LUTs, WEIGHT_STYLE), input replay buffer, per-PE adder
    trees, output FIFO.

    A WEIGHT_BITS-bit weight is that many planes, each with the adder trees of
    a 1-bit weight, and a shift-add per plane to combine their sums; their
    LUTs are counted from the adders' output bits (fitted separately, below).
    """
    sf, nf = MW // SIMD, MH // PE
    wb = WEIGHT_BITS
    xnor = IN_BITS == 1
    ch = _isqrt_ceil(SIMD)
    nch = math.ceil(SIMD / ch)
    cw = math.ceil(math.log2(ch + 1)) if xnor else IN_BITS + math.ceil(math.log2(ch)) if ch > 1 else IN_BITS
    iw = SIMD * IN_BITS
    ow = PE * (ACC_BITS if not USE_THRESH else 1)
    res = weight_rom(PE * wb * SIMD, nf * sf, WEIGHT_STYLE)
    if nf > 1:
        res = res + memory(iw, sf, block=False)
    if USE_THRESH:
        trom = (Resources(LUT=lutrom_luts(PE * ACC_BITS, nf)) if nf * PE * ACC_BITS <= LUTROM_MAX_BITS
                else Resources(BRAM36=bram36(PE * ACC_BITS, nf)))
        res = res + trom
    res = res + Resources(LUT=lutram_luts(ow, MVTU_OFIFO_DEPTH))
    logic = MVTU_LUT_BASE + MVTU_LUT_PER_ACC_BIT * PE * ACC_BITS
    combine = (wb - 1) * min(ACC_BITS, IN_BITS + wb + _clog2(SIMD + 1))
    if IN_BITS == 1:
        # Popcounts of 1-bit products (xnor, or and with a plane) pack into LUT6 compressors.
        logic += MVTU_LUT_PER_PRODUCT_BIT * PE * SIMD * wb + MVTU_LUT_PER_PLANE_ADDER_BIT * PE * combine
    elif wb == 1:
        logic += MVTU_LUT_PER_PRODUCT_BIT * PE * SIMD * IN_BITS
    else:
        # Per plane: NCH chunk trees of CH inputs, then the tree of the chunk sums.
        plane = nch * (ch - 1) * (IN_BITS + _clog2(ch)) + (nch - 1) * (IN_BITS + _clog2(SIMD))
        logic += MVTU_LUT_PER_PLANE_ADDER_BIT * PE * (wb * plane + combine)
    # Sum registers only keep the bits their values can reach; Yosys drops constant ones.
    psum_bits = min(ACC_BITS, IN_BITS + (wb if wb > 1 else 0) + math.ceil(math.log2(SIMD + 1)))
    ff = (MVTU_FF_BASE + MVTU_FF_PER_SUM_BIT * PE * (nch * cw * wb + psum_bits)
          + MVTU_FF_PER_ACC_BIT * PE * ACC_BITS * (2 if USE_THRESH else 1) + MVTU_FF_PER_IO_BIT * (iw + ow)
          + iw)  # the input's second register (S1)
    return res + Resources(LUT=logic, FF=ff)


def fifo(WIDTH: int, DEPTH: int) -> Resources:
    """bnn_fifo: DEPTH words of memory plus the output register."""
    aw = max(1, math.ceil(math.log2(DEPTH)))
    ctrl = Resources(LUT=3 * aw + 6, FF=3 * aw + 2 + WIDTH)
    if DEPTH <= 2:
        return ctrl + Resources(LUT=WIDTH, FF=WIDTH * DEPTH)  # tiny memories become registers and a mux
    return ctrl + memory(WIDTH, DEPTH, block=False)


def dwc(IN_W: int, OUT_W: int) -> Resources:
    """bnn_dwc: a shift register on the wide side and a beat counter."""
    if IN_W == OUT_W:
        return Resources()
    k = max(IN_W, OUT_W) // min(IN_W, OUT_W)
    cw = max(1, math.ceil(math.log2(k)))
    if OUT_W > IN_W:
        return Resources(LUT=cw + 4, FF=2 * OUT_W - IN_W + cw + 1)
    return Resources(LUT=IN_W + cw + 4, FF=IN_W + cw + 1)


def label_select(N: int, PE: int, EW: int, OUT_W: int = 8, SIGNED: int = 0) -> Resources:
    """bnn_label_select: PE comparators and multiplexers of EW bits, the running best and its index."""
    iw = max(1, math.ceil(math.log2(N)))
    return Resources(LUT=PE * (2 * EW + iw) + 3 * iw, FF=EW + 4 * iw + 2)


def duplicate(WIDTH: int) -> Resources:
    """bnn_duplicate: one data register with a valid flag per side."""
    return Resources(LUT=4, FF=WIDTH + 2)


def threshold(C: int, PE: int, IN_BITS: int, IN_SIGNED: int, T_BITS: int) -> Resources:
    """bnn_threshold: PE comparators of T_BITS against a ROM of C/PE words, one output register."""
    rom = memory(PE * (T_BITS + 1), C // PE, False)
    return Resources(LUT=PE * (T_BITS + 1) + rom.LUT, FF=PE + 8, BRAM36=rom.BRAM36)


def residual_add(C: int, PE: int, IN0_BITS: int, IN0_SIGNED: int, IN1_BITS: int, IN1_SIGNED: int, F_BITS: int,
                 ACC_BITS: int, SHIFT: int, OUT_BITS: int) -> Resources:
    """bnn_residual_add: per lane and input a knot compare, a piece select and one DSP multiply-add."""
    rom = memory(PE * 10 * F_BITS, C // PE, False)
    per_lane = 2 * (2 * F_BITS + ACC_BITS) + 2 * ACC_BITS
    return Resources(LUT=PE * per_lane + rom.LUT, FF=PE * (3 * ACC_BITS + OUT_BITS) + 8, DSP=2 * PE,
                     BRAM36=rom.BRAM36)


def pool_sum(IFM_H: int, IFM_W: int, CH: int, K: int, PE: int, EW: int, SIGNED: int, OUT_BITS: int) -> Resources:
    """bnn_pool_sum: a row of PE * OUT_BITS partial sums, one LUT per sum bit (adder and first-beat select),
    and the pixel counters; within 12% of Yosys synth_xilinx in LUTs and 5% in FFs on three configurations."""
    width, words = PE * OUT_BITS, (IFM_W // K) * (CH // PE)
    row = memory(width, words, block=False) if K > 1 else Resources()
    counters = sum(max(1, math.ceil(math.log2(v))) for v in (words, words, K, K, IFM_W, IFM_H))
    return row + Resources(LUT=width + 2 * counters, FF=width + counters + 1)


# Window generator, max pool, concat, global accumulate and score stage: counted from their
# memories and registers, logic LUTs per counter/data bit fitted to Yosys 0.23 xc7 (synth_xilinx)
# on the instances of binarydensenet_nobn and cnv_w1a1 (FINN folding) plus a few more (PE > 1
# accumulators, a 1024-word max-pool row, 8-bit max pool, 8192-word line buffer), 34 distinct
# instances: window generator (18) LUT -16%..+19%, FF -17%..+14%, BRAM36 exact; max pool (6) LUT
# within 6%, FF within 17%; concat (8, 15..105 LUTs) LUT -34%..+47%, FF exact; global accumulate (2)
# within 6%; score stage (2) DSP exact, LUT 30 vs 29 and 23 vs 44. Whole designs: tests/test_estimate.py.
SWG_OFIFO_DEPTH = 4  # bnn_swg's output FIFO
SWG_LUT_PER_LOOP_BIT = 16.0  # per bit of the window loop counters, with their coordinate arithmetic
SWG_LUT_PER_DATA_BIT = 1.3  # padding select and read data path, per beat bit
SWG_FF_PER_LOOP_BIT = 9.0
MAXPOOL_LUT_PER_COUNTER_BIT = 1.7
MAXPOOL_LUT_PER_INT_BIT = 1.75  # compare and select per bit of a multi-bit element
CONCAT_LUT_PER_OUT_BIT = 1.5
GACC_LUT_PER_SUM_BIT = 0.5  # the adders of 1-bit inputs map mostly to carry chains
GACC_LUT_PER_COUNTER_BIT = 2.5


def _clog2(v: int) -> int:
    """Verilog's $clog2."""
    return max(0, (v - 1).bit_length())


def _bits(v: int) -> int:
    """Width of a counter or address over v values, as the RTL declares it (at least 1)."""
    return max(1, _clog2(v))


def lutram_sp_luts(width: int, depth: int) -> int:
    """LUTs of a single-port LUT RAM (one address reads and writes, asynchronous read):
    RAM32M as 8 bits x 32, RAM64X1S/RAM128X1S/RAM256X1S (1/2/4 LUTs per bit), muxes beyond 256 words."""
    if depth <= 32:
        return 4 * math.ceil(width / 8)
    words = math.ceil(depth / 64)
    return width * (words + (math.ceil(depth / 256) - 1 if depth > 256 else 0))


def swg(IFM_H: int, IFM_W: int, CH: int, K: int, STRIDE: int, PAD_T: int, PAD_L: int, PAD_B: int, PAD_R: int,
        SIMD: int, EW: int, PAD_VALUE: int = 0) -> Resources:
    """bnn_swg: a (K+STRIDE)-row line buffer in block RAM, window loop counters and signed
    coordinates, a padding multiplexer and a 4-deep output FIFO."""
    w, cpb = SIMD * EW, CH // SIMD
    oh = (IFM_H + PAD_T + PAD_B - K) // STRIDE + 1
    ow = (IFM_W + PAD_L + PAD_R - K) // STRIDE + 1
    depth = (K + STRIDE) * IFM_W * cpb
    # The window loops (j over K*CH/SIMD words, ky, ox, oy): each bit of them comes with its share
    # of the coordinate arithmetic (row/column positions, buffer addresses, the data-ready compare).
    loop_bits = _bits(K * cpb) + _bits(K) + _bits(ow) + _bits(oh)
    logic = Resources(LUT=SWG_LUT_PER_LOOP_BIT * loop_bits + SWG_LUT_PER_DATA_BIT * w,
                      FF=SWG_FF_PER_LOOP_BIT * loop_bits)
    return Resources(BRAM36=bram36(w, depth)) + fifo(w, SWG_OFIFO_DEPTH) + logic


# bnn_swg_parallel: memories and registers counted, the walk's logic fitted (SWGP_LUT_PER_CTRL_BIT) to
# Yosys 0.23 xc7 (synth_xilinx) on 12 instances: CH 1..64, EW 1 and 8, images 8..224 wide, K 2..7,
# strides 1 and 2, column memories of 8 to 230 words (in RAM32M, RAM64M, three RAM32M banks, block
# RAM): LUT -5.4%..+2.4%, FF 0..+1%, BRAM36 exact.
SWGP_OFIFO_DEPTH = 3  # bnn_swg_parallel's output FIFO
SWGP_LUT_PER_CTRL_BIT = 1.7  # per bit of the position, phase and credit counters, with their compares
# memory_libmap's costs in Yosys's xilinx techlib: a LUT-RAM cell, a RAMB18.
YOSYS_LUTRAM_CELL_COST = 8
YOSYS_RAMB18_COST = 129


def sdp_memory(width: int, depth: int) -> tuple[Resources, bool]:
    """A simple-dual-port memory with a registered read, of the kind Yosys picks for 7-series by cost:
    RAM32M (6 bits x 32), RAM64M (3 bits x 64), banks of RAM32M with a read multiplexer, or block RAM.
    Also whether block RAM took the read register."""
    if depth <= 32:
        cells, mux = math.ceil(width / 6), 0
    elif depth <= 64:
        cells, mux = math.ceil(width / 3), 0
    else:
        banks = math.ceil(depth / 32)
        cells, mux = banks * math.ceil(width / 6), width * math.ceil((banks - 1) / 2)
    bram = bram36(width, depth)
    if YOSYS_LUTRAM_CELL_COST * cells <= YOSYS_RAMB18_COST * 2 * bram:
        return Resources(LUT=4 * cells + mux), False
    return Resources(BRAM36=bram), True


def swg_parallel(IFM_H: int, IFM_W: int, CH: int, K: int, STRIDE: int, PAD_T: int, PAD_L: int, PAD_B: int,
                 PAD_R: int, EW: int, PAD_VALUE: int = 0) -> Resources:
    """bnn_swg_parallel: a column memory of one word of K-1 pixels per padded column, the K-1 previous
    window columns, the new pixel (its padding select is the flip-flops' set/reset), the walk's
    counters and a 3-deep output FIFO of whole windows."""
    pw = CH * EW
    hp, wp = IFM_H + PAD_T + PAD_B, IFM_W + PAD_L + PAD_R
    mem, absorbed = sdp_memory((K - 1) * pw, wp)
    ctrl = _bits(wp) + _bits(hp) + 2 * _bits(max(K, STRIDE)) + _clog2(SWGP_OFIFO_DEPTH + 2)
    regs = (0 if absorbed else (K - 1) * pw) + pw + (K - 1) * K * pw + _bits(wp) + 2
    return (mem + fifo(K * K * pw, SWGP_OFIFO_DEPTH)
            + Resources(LUT=SWGP_LUT_PER_CTRL_BIT * ctrl, FF=regs + ctrl))


def maxpool(IFM_H: int, IFM_W: int, CH: int, K: int, PE: int, EW: int, SIGNED: int = 0) -> Resources:
    """bnn_maxpool: one row of running maxima in single-port LUT RAM, PE max units, the output register."""
    w, cpb = PE * EW, CH // PE
    row = (IFM_W // K) * cpb
    aw = _bits(row)
    counters = 2 * aw + 2 * _bits(K) + _bits(IFM_W) + _bits(IFM_H)
    # On bits the maximum and the first-beat select share one LUT per bit; on integers a compare and a select.
    datapath = w if EW == 1 else PE * MAXPOOL_LUT_PER_INT_BIT * EW
    return Resources(LUT=lutram_sp_luts(w, row) + datapath + MAXPOOL_LUT_PER_COUNTER_BIT * counters,
                     FF=w + counters + 1)


def concat(CH0: int, CH1: int, SIMD0: int, SIMD1: int, EW: int, OUT_SIMD: int) -> Resources:
    """bnn_concat: a width converter per input, the output select and register, a beat counter; or,
    for whole pixels, converters to each input's pixel and the joined output register."""
    ow = OUT_SIMD * EW
    if OUT_SIMD == CH0 + CH1:
        return dwc(SIMD0 * EW, CH0 * EW) + dwc(SIMD1 * EW, CH1 * EW) + Resources(LUT=4, FF=ow + 1)
    bw = _bits(CH0 // OUT_SIMD + CH1 // OUT_SIMD)
    return (dwc(SIMD0 * EW, ow) + dwc(SIMD1 * EW, ow)
            + Resources(LUT=CONCAT_LUT_PER_OUT_BIT * ow + 2 * bw + 4, FF=ow + bw + 1))


def global_acc(PIXELS: int, CH: int, PE: int, EW: int, OUT_BITS: int, OUT_PE: int, SIGNED: int = 0) -> Resources:
    """bnn_global_acc: running sums and finished totals (two CH/PE x PE*OUT_BITS LUT RAMs),
    PE adders, pixel/channel/drain counters, the drain register and its width converter."""
    sw, cpb = PE * OUT_BITS, CH // PE
    aw, pw = _bits(cpb), _bits(PIXELS)
    mem = 2 * lutram_luts(sw, cpb)
    per_sum_bit = GACC_LUT_PER_SUM_BIT if EW == 1 else 1.0  # a full adder per bit on multi-bit inputs
    logic = per_sum_bit * sw + GACC_LUT_PER_COUNTER_BIT * (2 * aw + pw) + 6
    # Flip-flops: the drain register, channel/pixel/drain counters and the handshake.
    return dwc(sw, OUT_PE * OUT_BITS) + Resources(LUT=mem + logic, FF=sw + 2 * aw + pw + 7)


def score_affine(C: int, PE: int, IN_BITS: int, M_BITS: int, OUT_BITS: int, IN_SIGNED: int = 0) -> Resources:
    """bnn_score_affine: a C/PE-word parameter ROM in LUTs and one multiply-add per lane in DSPs
    (a 25x18 DSP48 per product slice); Yosys folds one lane's output register into its DSP."""
    beats = C // PE
    aw = _bits(beats)
    rom = lutrom_luts(PE * (M_BITS + OUT_BITS), beats)
    dsp = PE * math.ceil(OUT_BITS / 25) * math.ceil(OUT_BITS / 18)
    return Resources(LUT=rom + 2 * aw + 4, FF=2 * aw + 1 + (PE - 1) * OUT_BITS, DSP=dsp)


# The whole-design error of the analytic estimate against Yosys 0.23 (synth_xilinx, xc7) on the same
# RTL, analytic / Yosys - 1 for LUT and BRAM36, as measured by `make build ESTIMATE=yosys` builds; the
# build prints it with every analytic estimate.
# The whole-window designs are over-estimated: the MVTU model, fitted before them, charges the
# 8-bit stem at PE 16 and the shallow ROMs of SIMD 288-432 units (block RAM 2x, logic 1.5x) too much.
MEASURED_ERROR: tuple[tuple[str, float, float], ...] = (
    ("binarydensenet_nobn at 9,216 cycles", +0.035, +0.06),
    ("binarydensenet_nobn at 2,304 cycles", +0.251, +0.235),
    ("binarydensenet_wide_nobn at 9,792 cycles", +0.014, +0.044),
    ("cnv_w1a1_nobn at 6,272 cycles", +0.098, +0.039),
    ("cnv_w1a1 at FINN's folding", -0.035, +0.06),
)


def measured_error() -> str:
    """How far the analytic estimate has been from Yosys on whole designs, in one line."""
    lut, bram = ([e[i] for e in MEASURED_ERROR] for i in (1, 2))
    return (f"measured against Yosys on {len(MEASURED_ERROR)} whole designs: LUT {min(lut):+.1%} to "
            f"{max(lut):+.1%}, BRAM36 {min(bram):+.1%} to {max(bram):+.1%} "
            f"({'; '.join(e[0] for e in MEASURED_ERROR)})")


MODELS: dict[str, Callable[..., Resources]] = {
    "bnn_mvtu": mvtu, "bnn_fifo": fifo, "bnn_dwc": dwc, "bnn_label_select": label_select,
    "bnn_duplicate": duplicate, "bnn_threshold": threshold, "bnn_residual_add": residual_add,
    "bnn_pool_sum": pool_sum,
    "bnn_swg": swg, "bnn_swg_parallel": swg_parallel, "bnn_maxpool": maxpool, "bnn_concat": concat,
    "bnn_global_acc": global_acc, "bnn_score_affine": score_affine,
}
# Stream glue whose model is close enough that synthesising every instance is
# not worth minutes of Yosys: the measured estimate takes these from the model.
GLUE = ("bnn_fifo", "bnn_dwc", "bnn_duplicate")


def analytic_resources(module: str, params: dict[str, str]) -> Resources:
    """The model of `module` with the instance's parameters (memory-file names are ignored; other
    strings, such as bnn_mvtu's WEIGHT_STYLE, are passed unquoted)."""
    model = MODELS.get(module)
    if model is None:
        raise FlowError(f"no analytic resource model for module {module!r} (flows/analytic.py MODELS); "
                        "use --estimate yosys")
    args = {k: v.strip('"') if v.startswith('"') else int(v) for k, v in params.items() if not k.endswith("_FILE")}
    return model(**args)
