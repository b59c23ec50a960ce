// Matrix-vector-threshold unit: a folded binary/integer matrix-vector product
// followed by an optional per-neuron threshold.
//
// The MH x MW weight matrix is folded onto PE neurons x SIMD inputs; one
// (nf, sf) fold step is issued per cycle, nf outer and sf inner. The input
// vector streams in during nf == 0 and is replayed from a buffer for nf > 0.
//
// Weights are +-1 bits (WEIGHT_BITS = 1: bit 1 is +1), or WEIGHT_BITS-bit
// two's complement integers stored as bit planes: ROM bit
// (pe*WEIGHT_BITS + j)*SIMD + s is bit j of the weight of input s. Each
// plane is summed by the same unsigned adder trees as a 1-bit weight, and
// x.w = sum_j 2^j S_j - 2^(WB-1) S_(WB-1) combines the plane sums S_j:
// shifts and adds, so synthesis spends no multiplier (or DSP) per input.
// With 1-bit inputs and integer weights the inputs are 0/1 (the +-1 of
// a binary stream is 2x - 1, an affine the compiler moves into thresholds).
//
// Flow control is credit based: the datapath after the issue point never
// stalls, and a step that completes a neuron group is only issued while the
// output FIFO has a slot reserved for its result. This keeps the only enable
// signals at the issue point, so the deep datapath needs no stall fan-out.
//
// Pipeline: issue -> S0 (weight ROM read, operand select) -> S1 (the word
//           registered again) -> S2 (chunk sums) -> S3 (sum of chunks)
//           -> S4 (accumulate, threshold ROM read) -> output FIFO (threshold
//           compare on its write side). S1 keeps a block RAM's clock-to-out
//           (2.45 ns on a 7-series -1 part without its output register) out of
//           the XNOR-popcount path of S2, which otherwise sets the clock.
module bnn_mvtu #(
    parameter integer MW = 16,
    parameter integer MH = 16,
    parameter integer PE = 4,
    parameter integer SIMD = 4,
    parameter integer IN_BITS = 1,   // unsigned inputs; 1 with +-1 weights: XNOR-popcount
    parameter integer WEIGHT_BITS = 1,  // 1: +-1; >1: signed integers
    parameter integer ACC_BITS = 16,
    parameter integer USE_THRESH = 1,
    parameter WEIGHT_FILE = "weights.hex",
    parameter THRESH_FILE = "thresh.hex",
    parameter WEIGHT_STYLE = "block"  // "block" or "logic": see the weight ROM
) (
    input  wire                                       ap_clk,
    input  wire                                       ap_rst_n,
    input  wire [SIMD*IN_BITS-1:0]                    s_axis_tdata,
    input  wire                                       s_axis_tvalid,
    output wire                                       s_axis_tready,
    output wire [PE*((USE_THRESH != 0) ? 1 : ACC_BITS)-1:0] m_axis_tdata,
    output wire                                       m_axis_tvalid,
    input  wire                                       m_axis_tready
);
    localparam integer SF = MW / SIMD;
    localparam integer NF = MH / PE;
    localparam integer IW = SIMD * IN_BITS;
    localparam integer OEW = (USE_THRESH != 0) ? 1 : ACC_BITS;
    localparam integer OW = PE * OEW;
    localparam XNOR = (IN_BITS == 1) && (WEIGHT_BITS == 1);
    localparam integer WB = WEIGHT_BITS;
    localparam integer WW = PE * WB * SIMD;  // one ROM word: every plane of every PE

    // The per-neuron sum is split into NCH chunks of CH inputs, registered
    // separately, so neither adder chain is longer than about sqrt(SIMD).
    function integer isqrt_ceil(input integer v);
        integer r;
        begin
            r = 1;
            while (r * r < v) r = r + 1;
            isqrt_ceil = r;
        end
    endfunction
    localparam integer CH = isqrt_ceil(SIMD);
    localparam integer NCH = (SIMD + CH - 1) / CH;
    // Synthesis keeps a sum written as a chain of adders a chain, one level per
    // term: at SIMD = 576 (a whole 3x3 window of 64 channels) the 24-term
    // chains of S2 and S3 were 23 LUT levels, 30 ns. Up to CHAIN_MAX terms
    // (SIMD <= 64) the chain stays, within 100 MHz; beyond, the terms are
    // added as a balanced tree, ceil(log2) levels.
    localparam integer CHAIN_MAX = 8;
    // Chunk sums only need enough bits for CH terms.
    localparam integer XCW = $clog2(CH + 1);  // CH single bits
    localparam integer CW = XNOR ? XCW : IN_BITS + $clog2(CH);
    // S2 holds chunk c's sum zero-extended in bits [c*FW +: FW]; XNOR
    // fields are CH bits wide, the layout the simulator computes them in.
    localparam integer FW = XNOR ? CH : CW;

    // Covers the pipeline round trip (issue to credit return is 7 cycles), so
    // SF == 1 layers still issue every cycle.
    localparam integer OFIFO_DEPTH = 16;

    localparam integer SFW = (SF > 1) ? $clog2(SF) : 1;
    localparam integer NFW = (NF > 1) ? $clog2(NF) : 1;
    localparam integer WAW = (SF * NF > 1) ? $clog2(SF * NF) : 1;
    localparam integer CRW = $clog2(OFIFO_DEPTH + 1);
    localparam integer SF_LAST_I = SF - 1;
    localparam integer NF_LAST_I = NF - 1;
    localparam integer WA_LAST_I = SF * NF - 1;
    localparam [SFW-1:0] SF_LAST = SF_LAST_I[SFW-1:0];
    localparam [NFW-1:0] NF_LAST = NF_LAST_I[NFW-1:0];
    localparam [WAW-1:0] WA_LAST = WA_LAST_I[WAW-1:0];
    localparam [CRW-1:0] CREDITS_INIT = OFIFO_DEPTH[CRW-1:0];

    // ------------------------------------------------------------------
    // Issue: fold counters, input acceptance and output credits
    // ------------------------------------------------------------------
    reg [SFW-1:0] sf;
    reg [NFW-1:0] nf;
    reg [WAW-1:0] waddr;  // nf * SF + sf, kept as a counter to avoid a multiply
    reg [CRW-1:0] credits;

    wire step_last = (sf == SF_LAST);
    wire need_in = (nf == {NFW{1'b0}});
    wire can_issue = !step_last || (credits != {CRW{1'b0}});
    wire issue = can_issue && (!need_in || s_axis_tvalid);
    wire out_fire = m_axis_tvalid && m_axis_tready;
    wire take_credit = issue && step_last;

    assign s_axis_tready = need_in && can_issue;

    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            sf <= {SFW{1'b0}};
            nf <= {NFW{1'b0}};
            waddr <= {WAW{1'b0}};
            credits <= CREDITS_INIT;
        end else begin
            if (issue) begin
                waddr <= (waddr == WA_LAST) ? {WAW{1'b0}} : waddr + 1'b1;
                if (step_last) begin
                    sf <= {SFW{1'b0}};
                    nf <= (nf == NF_LAST) ? {NFW{1'b0}} : nf + 1'b1;
                end else begin
                    sf <= sf + 1'b1;
                end
            end
            if (take_credit && !out_fire) credits <= credits - 1'b1;
            else if (out_fire && !take_credit) credits <= credits + 1'b1;
        end
    end

    // ------------------------------------------------------------------
    // S0: weight ROM read and operand select
    // ------------------------------------------------------------------
    // WEIGHT_STYLE places the weight ROM: "block" RAM, or "logic", constants
    // that synthesis folds into LUTs, where a shallow fold's weights cost
    // about a LUT per bit and a deep one's block RAM is cheaper. The read is
    // the same in both, registered into w0 below.
    wire [WW-1:0] w_read;
    generate
        if (WEIGHT_STYLE == "logic") begin : g_wrom_logic
            (* rom_style = "logic" *) reg [WW-1:0] wrom [0:NF*SF-1];
            initial $readmemh(WEIGHT_FILE, wrom);
            assign w_read = wrom[waddr];
        end else begin : g_wrom_block
            (* rom_style = "block" *) reg [WW-1:0] wrom [0:NF*SF-1];
            initial $readmemh(WEIGHT_FILE, wrom);
            assign w_read = wrom[waddr];
        end
    endgenerate

    wire [IW-1:0] x_replay;
    generate
        if (NF > 1) begin : g_ibuf
            reg [IW-1:0] ibuf [0:SF-1];
            always @(posedge ap_clk) begin
                if (issue && need_in) ibuf[sf] <= s_axis_tdata;
            end
            assign x_replay = ibuf[sf];
        end else begin : g_no_ibuf
            // Every step consumes a fresh input beat; nothing to replay.
            assign x_replay = s_axis_tdata;
        end
    endgenerate
    // The operand vector of the step being issued.
    wire [IW-1:0] x_issue = need_in ? s_axis_tdata : x_replay;

    reg [WW-1:0] w0;
    reg [IW-1:0] x0;
    reg v0, first0, last0;
    reg [NFW-1:0] nf0;
    always @(posedge ap_clk) begin
        if (issue) begin
            w0 <= w_read;
            x0 <= x_issue;
        end
        first0 <= (sf == {SFW{1'b0}});
        last0 <= step_last;
        nf0 <= nf;
    end

    // S1: the operands registered once more (see the pipeline note above).
    reg [WW-1:0] w1;
    reg [IW-1:0] x1;
    reg v1, first1, last1;
    reg [NFW-1:0] nf1;
    always @(posedge ap_clk) begin
        if (v0) begin
            w1 <= w0;
            x1 <= x0;
        end
        first1 <= first0;
        last1 <= last0;
        nf1 <= nf0;
    end

    // ------------------------------------------------------------------
    // S2..S4 and the output stage
    // ------------------------------------------------------------------
    // Unsigned sum over inputs c*CH .. c*CH+CH-1 of one neuron: the XNOR
    // match count, or in integer mode the inputs whose weight is +1. The
    // signed integer dot product is then 2*sum(w&x) - sum(x), which keeps all
    // adder trees unsigned and shares sum(x) across the PEs.
    function [CW-1:0] chunk_sum(input [SIMD-1:0] w, input [IW-1:0] x, input integer c);
        reg [CH*CW-1:0] t;
        integer i, idx, s;
        begin
            t = {CH*CW{1'b0}};
            for (i = 0; i < CH; i = i + 1) begin
                idx = c * CH + i;
                if (idx < SIMD) begin
                    if (XNOR)
                        t[i*CW +: CW] = {{(CW-1){1'b0}}, ~(w[idx] ^ x[idx])};
                    else
                        t[i*CW +: CW] = {{(CW-IN_BITS){1'b0}}, x[idx*IN_BITS +: IN_BITS] & {IN_BITS{w[idx]}}};
                end
            end
            if (CH <= CHAIN_MAX) begin
                chunk_sum = {CW{1'b0}};
                for (i = 0; i < CH; i = i + 1) chunk_sum = chunk_sum + t[i*CW +: CW];
            end else begin
                for (s = 1; s < CH; s = s * 2)
                    for (i = 0; i + s < CH; i = i + 2 * s)
                        t[i*CW +: CW] = t[i*CW +: CW] + t[(i+s)*CW +: CW];
                chunk_sum = t[CW-1:0];
            end
        end
    endfunction

    // One slice of a zero-extended word rather than a per-bit loop: the
    // simulator would run a loop's read-modify-write per bit every cycle.
    // The top of `ext` exists only to make the slice legal for any widths.
    /* verilator lint_off UNUSEDSIGNAL */
    function [ACC_BITS-1:0] widen(input [CW-1:0] v);
        reg [CW+ACC_BITS-1:0] ext;
        begin
            ext = {{ACC_BITS{1'b0}}, v};
            widen = ext[ACC_BITS-1:0];
        end
    endfunction
    /* verilator lint_on UNUSEDSIGNAL */

    // Sum of the NCH chunk fields. Called in the clocked S3 blocks, so the
    // simulator adds only on the cycles that load the register. The same
    // chain-or-tree as chunk_sum's, at another field width: one reduction
    // over ACC_BITS-wide fields for both cost Yosys 8% more LUTs at
    // PE 8 x SIMD 64 (443 to 479), so each keeps its own width.
    /* verilator lint_off UNUSEDSIGNAL */
    function [ACC_BITS-1:0] sum_chunks(input [NCH*FW-1:0] v);
        reg [NCH*ACC_BITS-1:0] t;
        integer k, s;
        begin
            for (k = 0; k < NCH; k = k + 1) t[k*ACC_BITS +: ACC_BITS] = widen(v[k*FW +: CW]);
            if (NCH <= CHAIN_MAX) begin
                sum_chunks = {ACC_BITS{1'b0}};
                for (k = 0; k < NCH; k = k + 1) sum_chunks = sum_chunks + t[k*ACC_BITS +: ACC_BITS];
            end else begin
                for (s = 1; s < NCH; s = s * 2)
                    for (k = 0; k + s < NCH; k = k + 2 * s)
                        t[k*ACC_BITS +: ACC_BITS] = t[k*ACC_BITS +: ACC_BITS] + t[(k+s)*ACC_BITS +: ACC_BITS];
                sum_chunks = t[ACC_BITS-1:0];
            end
        end
    endfunction
    /* verilator lint_on UNUSEDSIGNAL */

    // All NCH chunk sums of a neuron in the S2 layout. Fields are or-ed in
    // shifted rather than assigned as variable part-selects, which the
    // simulator would route through memory.
    function [NCH*FW-1:0] chunk_sums(input [SIMD-1:0] w, input [IW-1:0] x);
        reg [NCH*FW-1:0] f;
        integer c;
        begin
            chunk_sums = {NCH*FW{1'b0}};
            for (c = 0; c < NCH; c = c + 1) begin
                f = {NCH*FW{1'b0}};
                f[CW-1:0] = chunk_sum(w, x, c);
                chunk_sums = chunk_sums | (f << (c * FW));
            end
        end
    endfunction

    // Bit c*CH set for every chunk c: the lowest bit of each chunk's field.
    function [NCH*CH-1:0] chunk_lsbs(input integer n);
        integer c;
        begin
            chunk_lsbs = {NCH*CH{1'b0}};
            for (c = 0; c < n; c = c + 1) chunk_lsbs[c*CH] = 1'b1;
        end
    endfunction
    localparam [NCH*CH-1:0] CH_LSB = chunk_lsbs(NCH);

    // Bits 0, 2, 4, ... of an NCH*CH-bit word.
    function [NCH*CH-1:0] even_bits(input integer n);
        integer i;
        begin
            even_bits = {NCH*CH{1'b0}};
            for (i = 0; i < n; i = i + 2) even_bits[i] = 1'b1;
        end
    endfunction
    localparam [NCH*CH-1:0] EVEN_BITS = even_bits(NCH * CH);

    // Simulation-only forms of S2 and S3 in XNOR mode (SIM_SWAR), equal to
    // chunk_sums and sum_chunks. In Verilator chunk_sum's loop costs several
    // word operations per input bit, which was most of a large design's
    // simulation time; synthesis keeps the per-chunk adder trees.
    //
    // All chunk sums at once: bit plane i of the match vector (bit c*CH+i
    // for every chunk c) is added into each chunk's CH-bit field, which
    // holds its count without carrying into the next (CH >= XCW), so the
    // result is already the S2 layout. Three word operations per plane; for
    // an even CH the bits are first counted in pairs (a pair never straddles
    // two fields), which halves the planes.
    function [NCH*CH-1:0] match_chunk_sums(input [SIMD-1:0] hits);
        reg [NCH*CH-1:0] m;
        integer i;
        begin
            m = {NCH*CH{1'b0}};
            m[SIMD-1:0] = hits;
            match_chunk_sums = {NCH*CH{1'b0}};
            if (CH % 2 == 0) begin
                m = m - ((m >> 1) & EVEN_BITS);
                for (i = 0; i < CH; i = i + 2)
                    match_chunk_sums = match_chunk_sums + ((m >> i) & (CH_LSB | (CH_LSB << 1)));
            end else begin
                for (i = 0; i < CH; i = i + 1)
                    match_chunk_sums = match_chunk_sums + ((m >> i) & CH_LSB);
            end
        end
    endfunction

    function [NCH*CH-1:0] xnor_chunk_sums(input [SIMD-1:0] w, input [SIMD-1:0] x);
        xnor_chunk_sums = match_chunk_sums(~(w ^ x));
    endfunction

    // Sum of the S2 fields in one multiply: field NCH-1 of v * CH_LSB is
    // the sum of fields 0..NCH-1, exact when no partial sum carries out of
    // a CH-bit field (SIMD < 2**CH). Used where the product fits a 64-bit
    // word (MUL_SUM); otherwise sum_chunks.
    localparam MUL_SUM = (NCH * CH <= 64) && ((1 << CH) > SIMD);
    /* verilator lint_off UNUSEDSIGNAL */
    function [ACC_BITS-1:0] mul_sum(input [NCH*CH-1:0] v);
        reg [NCH*CH-1:0] p;
        reg [CH+ACC_BITS-1:0] ext;
        begin
            p = v * CH_LSB;
            ext = {{ACC_BITS{1'b0}}, p[(NCH-1)*CH +: CH]};
            mul_sum = ext[ACC_BITS-1:0];
        end
    endfunction
    /* verilator lint_on UNUSEDSIGNAL */

    // Sum of the CH-bit fields of match_chunk_sums where one multiply cannot.
    /* verilator lint_off UNUSEDSIGNAL */
    function [ACC_BITS-1:0] field_total(input [NCH*CH-1:0] v);
        reg [CH+ACC_BITS-1:0] ext;
        integer k;
        begin
            field_total = {ACC_BITS{1'b0}};
            for (k = 0; k < NCH; k = k + 1) begin
                ext = {{ACC_BITS{1'b0}}, v[k*CH +: CH]};
                field_total = field_total + ext[ACC_BITS-1:0];
            end
        end
    endfunction
    /* verilator lint_on UNUSEDSIGNAL */

    // BNN_SYNTH_DATAPATH makes Verilator build the synthesised form, so
    // the unit test checks both forms against the same reference.
`ifdef VERILATOR
`ifdef BNN_SYNTH_DATAPATH
    localparam SIM = 1'b0;
`else
    localparam SIM = 1'b1;
`endif
`else
    localparam SIM = 1'b0;
`endif
    localparam SIM_SWAR = SIM && XNOR;
    // Simulation-only form for 0/1 inputs and integer weights (SIM_AND):
    // per plane the word-parallel count of w & x, as SIM_SWAR counts xnor.
    localparam SIM_AND = SIM && !XNOR && (IN_BITS == 1);

    // Simulation-only form of S2 in integer mode (SIM_INT), equal to
    // sum_chunks(chunk_sums(w, x)): the dot product of a group of G inputs
    // with their 0/1 weights is one 64-bit multiply of two lane-packed words,
    // weights in lanes 0..G-1 and inputs in reverse lane order, whose lane G-1
    // then holds sum(w_i * x_i). Lanes are LW bits, wide enough for G inputs,
    // so no lane carries into the next. Replaces a loop of masks and adds per
    // input and PE, in the busiest layer of a typical network (the first).
    function integer int_group(input integer simd, input integer bits);
        integer g, lw;
        begin
            int_group = 1;
            for (g = 1; g <= simd; g = g + 1) begin
                lw = bits + $clog2(g);
                // g < lw: spreading weight bits by one multiply needs it (below)
                if (g * lw <= 64 && g < lw) int_group = g;
            end
        end
    endfunction
    localparam integer G = int_group(SIMD, IN_BITS);
    localparam integer LW = IN_BITS + $clog2(G);
    localparam integer NG = (SIMD + G - 1) / G;
    localparam SIM_INT = SIM && (IN_BITS > 1);

    function [63:0] lane_bits(input integer step, input integer n);
        integer i;
        begin
            lane_bits = 64'd0;
            for (i = 0; i < n; i = i + 1) lane_bits[i * step] = 1'b1;
        end
    endfunction
    // Weight bit i moves to bit i*LW: the multiply's terms i + k*(LW-1)
    // never collide while G < LW, and the mask keeps the k == i ones.
    localparam [63:0] SPREAD = lane_bits(LW - 1, G);
    localparam [63:0] LANE_LSBS = lane_bits(LW, G);

    // Inputs of each group in reverse lane order, one 64-bit word per group.
    function [NG*64-1:0] int_lanes(input [IW-1:0] x);
        reg [NG*G*IN_BITS-1:0] xp;
        integer g, i;
        begin
            xp = {NG*G*IN_BITS{1'b0}};
            xp[IW-1:0] = x;
            int_lanes = {NG*64{1'b0}};
            for (g = 0; g < NG; g = g + 1)
                for (i = 0; i < G; i = i + 1)
                    int_lanes[g*64 + (G-1-i)*LW +: IN_BITS] = xp[(g*G+i)*IN_BITS +: IN_BITS];
        end
    endfunction

    /* verilator lint_off UNUSEDSIGNAL */
    function [ACC_BITS-1:0] int_dot(input [SIMD-1:0] w, input [NG*64-1:0] xl);
        reg [NG*G-1:0] wp;
        reg [63:0] wl, p;
        reg [64+ACC_BITS-1:0] ext;
        integer g;
        begin
            wp = {NG*G{1'b0}};
            wp[SIMD-1:0] = w;
            int_dot = {ACC_BITS{1'b0}};
            for (g = 0; g < NG; g = g + 1) begin
                wl = {{(64-G){1'b0}}, wp[g*G +: G]};
                p = ((wl * SPREAD) & LANE_LSBS) * xl[g*64 +: 64];
                ext = {{ACC_BITS{1'b0}}, (p >> ((G-1) * LW)) & ((64'd1 << LW) - 64'd1)};
                int_dot = int_dot + ext[ACC_BITS-1:0];
            end
        end
    endfunction
    /* verilator lint_on UNUSEDSIGNAL */

    // Signed sum of the plane sums of WB-bit two's complement weights.
    function [ACC_BITS-1:0] plane_sum(input [WB*ACC_BITS-1:0] s);
        integer j;
        begin
            plane_sum = {ACC_BITS{1'b0}};
            for (j = 0; j < WB; j = j + 1) begin
                if (j == WB - 1) plane_sum = plane_sum - (s[j*ACC_BITS +: ACC_BITS] << j);
                else plane_sum = plane_sum + (s[j*ACC_BITS +: ACC_BITS] << j);
            end
        end
    endfunction

    // Dot product of one PE's weights: 0/1 weights (WB == 1) or every plane.
    function [ACC_BITS-1:0] int_dot_planes(input [WB*SIMD-1:0] w, input [NG*64-1:0] xl);
        reg [WB*ACC_BITS-1:0] s;
        integer j;
        begin
            for (j = 0; j < WB; j = j + 1) s[j*ACC_BITS +: ACC_BITS] = int_dot(w[j*SIMD +: SIMD], xl);
            int_dot_planes = (WB == 1) ? s[ACC_BITS-1:0] : plane_sum(s);
        end
    endfunction

    // Dot product of one PE's integer weights with 0/1 inputs, plane by plane.
    function [ACC_BITS-1:0] and_dot_planes(input [WB*SIMD-1:0] w, input [SIMD-1:0] x);
        reg [WB*ACC_BITS-1:0] s;
        reg [NCH*CH-1:0] f;
        integer j;
        begin
            for (j = 0; j < WB; j = j + 1) begin
                f = match_chunk_sums(w[j*SIMD +: SIMD] & x);
                s[j*ACC_BITS +: ACC_BITS] = MUL_SUM ? mul_sum(f) : field_total(f);
            end
            and_dot_planes = plane_sum(s);
        end
    endfunction

    // The chunk sums of every plane, plane j at bits [j*NCH*FW +: NCH*FW].
    function [WB*NCH*FW-1:0] plane_chunk_sums(input [WB*SIMD-1:0] w, input [IW-1:0] x);
        integer j;
        begin
            for (j = 0; j < WB; j = j + 1)
                plane_chunk_sums[j*NCH*FW +: NCH*FW] = chunk_sums(w[j*SIMD +: SIMD], x);
        end
    endfunction

    // S3 of the synthesised form: the chunk sums added up, planes combined.
    function [ACC_BITS-1:0] plane_chunks_total(input [WB*NCH*FW-1:0] c);
        reg [WB*ACC_BITS-1:0] s;
        integer j;
        begin
            for (j = 0; j < WB; j = j + 1) s[j*ACC_BITS +: ACC_BITS] = sum_chunks(c[j*NCH*FW +: NCH*FW]);
            plane_chunks_total = (WB == 1) ? s[ACC_BITS-1:0] : plane_sum(s);
        end
    endfunction

    // The lanes are packed once per issued step and shared by every PE.
    wire [NG*64-1:0] xl1;
    generate
        if (SIM_INT) begin : g_lanes
            reg [NG*64-1:0] xl0, xl;
            always @(posedge ap_clk) begin
                if (issue) xl0 <= int_lanes(x_issue);
                if (v0) xl <= xl0;
            end
            assign xl1 = xl;
        end else begin : g_no_lanes
            assign xl1 = {NG*64{1'b0}};
            wire unused_xl = &{1'b0, xl1};
        end
    endgenerate

    // Control flags travel alongside the datapath; only valids are reset.
    reg v2, v3, v4;
    reg first2, first3;
    reg last2, last3, last4;
    reg [NFW-1:0] nf2, nf3;
    always @(posedge ap_clk) begin
        first2 <= first1;
        last2 <= last1;
        nf2 <= nf1;
        first3 <= first2;
        last3 <= last2;
        nf3 <= nf2;
        last4 <= last3;
    end

    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            v0 <= 1'b0;
            v1 <= 1'b0;
            v2 <= 1'b0;
            v3 <= 1'b0;
            v4 <= 1'b0;
        end else begin
            v0 <= issue;
            v1 <= v0;
            v2 <= v1;
            v3 <= v2;
            v4 <= v3;
        end
    end

    // Thresholds for neuron group nf3, aligned with the accumulators in S4.
    wire [PE*ACC_BITS-1:0] thr4;
    generate
        if (USE_THRESH != 0) begin : g_trom
            reg [PE*ACC_BITS-1:0] trom [0:NF-1];
            initial $readmemh(THRESH_FILE, trom);
            reg [PE*ACC_BITS-1:0] thr_q;
            always @(posedge ap_clk) begin
                if (v3 && last3) thr_q <= trom[nf3];
            end
            assign thr4 = thr_q;
        end else begin : g_no_trom
            assign thr4 = {PE*ACC_BITS{1'b0}};
            // The neuron-group index is only needed to address thresholds.
            wire unused_nf = &{1'b0, nf3};
        end
    endgenerate

    // Sum of the input elements (integer mode, +-1 weights), shared by all
    // PEs; S2 and S3 registers keep it aligned with the per-neuron sums.
    wire [ACC_BITS-1:0] xsum3;
    genvar gp;
    generate
        if (XNOR || WB > 1) begin : g_no_xsum
            assign xsum3 = {ACC_BITS{1'b0}};
            // The simulator's integer form reads the packed lanes, not x1.
            wire unused_x1 = &{1'b0, x1};
        end else begin : g_xsum
            reg [NCH*FW-1:0] chunks;
            always @(posedge ap_clk) begin
                if (v1) chunks <= chunk_sums({SIMD{1'b1}}, x1);
            end
            reg [ACC_BITS-1:0] sum_q;
            always @(posedge ap_clk) begin
                if (v2) sum_q <= sum_chunks(chunks);
            end
            assign xsum3 = sum_q;
        end
    endgenerate

    // Per-neuron datapath, elaborated per PE so every index is static.
    wire [OW-1:0] result;
    generate
        for (gp = 0; gp < PE; gp = gp + 1) begin : g_pe
            // S2: chunk sums (layout FW); S3: their sum. The registers after
            // the issue point only load valid steps (v1, v2), so an idle
            // layer costs the simulator almost nothing. In integer mode
            // Yosys maps the chunk adders behind an enable to carry chains,
            // about 5% more LUTs, so there S2 loads every cycle in hardware
            // (the S2 value of an invalid step is never used).
            reg [ACC_BITS-1:0] psum;
            if (SIM_SWAR) begin : g_sim
                reg [NCH*FW-1:0] csum;
                always @(posedge ap_clk) begin
                    if (v1) csum <= xnor_chunk_sums(w1[gp*WB*SIMD +: SIMD], x1[SIMD-1:0]);
                    if (v2) psum <= MUL_SUM ? mul_sum(csum) : sum_chunks(csum);
                end
            end else if (SIM_AND) begin : g_sim_and
                reg [ACC_BITS-1:0] dot;
                always @(posedge ap_clk) begin
                    if (v1) dot <= and_dot_planes(w1[gp*WB*SIMD +: WB*SIMD], x1[SIMD-1:0]);
                    if (v2) psum <= dot;
                end
            end else if (SIM_INT) begin : g_sim_int
                reg [ACC_BITS-1:0] dot;
                always @(posedge ap_clk) begin
                    if (v1) dot <= int_dot_planes(w1[gp*WB*SIMD +: WB*SIMD], xl1);
                    if (v2) psum <= dot;
                end
            end else begin : g_hw
                reg [WB*NCH*FW-1:0] csum;
                always @(posedge ap_clk) begin
                    if (v1 || !XNOR) csum <= plane_chunk_sums(w1[gp*WB*SIMD +: WB*SIMD], x1);
                    if (v2) psum <= plane_chunks_total(csum);
                end
            end

            // S4: accumulate over the SF steps of a neuron group. With +-1
            // weights on integers the dot product is 2*sum(w&x) - sum(x).
            wire [ACC_BITS-1:0] step = (XNOR || WB > 1) ? psum : {psum[ACC_BITS-2:0], 1'b0} - xsum3;
            reg [ACC_BITS-1:0] acc;
            always @(posedge ap_clk) begin
                if (v3) acc <= step + (first3 ? {ACC_BITS{1'b0}} : acc);
            end

            wire [ACC_BITS-1:0] thr = thr4[gp*ACC_BITS +: ACC_BITS];
            if (USE_THRESH != 0) begin : g_cmp
                assign result[gp] = XNOR ? (acc >= thr) : ($signed(acc) >= $signed(thr));
            end else begin : g_raw
                assign result[gp*ACC_BITS +: ACC_BITS] = acc;
                wire unused_thr = &{1'b0, thr};
            end
        end
    endgenerate

    /* verilator lint_off PINCONNECTEMPTY */
    // The credit counter guarantees a free slot for every write, so the
    // FIFO's input ready is redundant and left unconnected.
    bnn_fifo #(
        .WIDTH(OW),
        .DEPTH(OFIFO_DEPTH)
    ) u_ofifo (
        .ap_clk(ap_clk),
        .ap_rst_n(ap_rst_n),
        .s_axis_tdata(result),
        .s_axis_tvalid(v4 && last4),
        .s_axis_tready(),
        .m_axis_tdata(m_axis_tdata),
        .m_axis_tvalid(m_axis_tvalid),
        .m_axis_tready(m_axis_tready)
    );
    /* verilator lint_on PINCONNECTEMPTY */
endmodule
