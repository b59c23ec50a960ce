// Fixed-point residual add of two beat-aligned streams of the same shape:
//     term_i = x_i >= knot_i,c ? mul_hi_i,c * x_i + off_hi_i,c
//                              : mul_lo_i,c * x_i + off_lo_i,c
//     out    = (term_0 + term_1 + round) >>> SHIFT, low OUT_BITS bits
// with round = 2^(SHIFT-1) for SHIFT > 0 (round half up), 0 otherwise.
//
// Each input's piecewise-linear term absorbs what the flow folded into that
// branch (a requantiser's scale and zero point, a ReLU/clip knee), rescaled
// to one shared fixed-point grid, so the sum and one shift give the integer
// the next stage expects. Channels are last and cycle 0..C-1, PE consecutive
// channels per beat; the ten constants of a lane (five per input) come from
// one ROM word at address (beat index within the pixel): field f (0 knot,
// 1 mul_hi, 2 off_hi, 3 mul_lo, 4 off_lo) of input i for lane p at
// [((p*2 + i)*5 + f)*F_BITS +: F_BITS], two's complement.
//
// Width contract: ACC_BITS holds every selected term and their sum (signed).
// The datapath works modulo 2^(ACC_BITS+1), one bit more so that adding the
// rounding constant cannot wrap, so products and offsets may individually
// overflow it; the knot compare is exact at any widths. The selection is
// made before the multiply, so the unselected branch never needs to fit.
//
// Two stages (products, then sum and shift) for the multipliers' timing; a
// beat is taken from both inputs in the same cycle or from neither, so the
// inputs never drift apart. A branch that runs ahead simply waits, and its
// FIFO must absorb the skew between the branches.
module bnn_residual_add #(
    parameter integer C = 8,
    parameter integer PE = 1,
    parameter integer IN0_BITS = 8,
    parameter integer IN0_SIGNED = 0,
    parameter integer IN1_BITS = 8,
    parameter integer IN1_SIGNED = 0,
    parameter integer F_BITS = 16,
    parameter integer ACC_BITS = 24,
    parameter integer SHIFT = 0,
    parameter integer OUT_BITS = 8,
    parameter PARAM_FILE = "residual_add.hex"
) (
    input  wire                   ap_clk,
    input  wire                   ap_rst_n,
    input  wire [PE*IN0_BITS-1:0] s0_axis_tdata,
    input  wire                   s0_axis_tvalid,
    output wire                   s0_axis_tready,
    input  wire [PE*IN1_BITS-1:0] s1_axis_tdata,
    input  wire                   s1_axis_tvalid,
    output wire                   s1_axis_tready,
    output reg  [PE*OUT_BITS-1:0] m_axis_tdata,
    output reg                    m_axis_tvalid,
    input  wire                   m_axis_tready
);
    localparam integer BEATS = C / PE;
    localparam integer NF = 5;
    localparam integer WORD = PE * 2 * NF * F_BITS;
    localparam integer AW = (BEATS > 1) ? $clog2(BEATS) : 1;
    localparam integer LAST_I = BEATS - 1;
    localparam [AW-1:0] LAST = LAST_I[AW-1:0];
    localparam integer SW = ACC_BITS + 1;
    // Knot compare width: holds a constant and either input exactly.
    localparam integer KW0 = (F_BITS > IN0_BITS + 1) ? F_BITS : IN0_BITS + 1;
    localparam integer KW = (KW0 > IN1_BITS + 1) ? KW0 : IN1_BITS + 1;
    localparam [SW-1:0] ONE = {{(SW-1){1'b0}}, 1'b1};
    localparam [SW-1:0] RND = (ONE << SHIFT) >> 1;  // 2^(SHIFT-1), or 0 when SHIFT = 0

    reg [WORD-1:0] params [0:BEATS-1];
    initial $readmemh(PARAM_FILE, params);

    reg [AW-1:0] beat;
    reg v1;  // stage 1 (products) holds a beat
    wire adv2 = v1 && (!m_axis_tvalid || m_axis_tready);
    wire en1 = !v1 || adv2;
    // Each ready waits on the other input's valid: taking one side alone
    // would shift one stream against the other for the rest of the run.
    assign s0_axis_tready = en1 && s1_axis_tvalid;
    assign s1_axis_tready = en1 && s0_axis_tvalid;
    wire take = en1 && s0_axis_tvalid && s1_axis_tvalid;

    wire [WORD-1:0] word = params[beat];
    wire [PE*SW-1:0] prod0, prod1, offs, sums;
    wire [PE*OUT_BITS-1:0] outs;
    reg [PE*SW-1:0] prod0_r, prod1_r, offs_r;

    // Resizing is done by slicing an oversized sign extension, which is legal
    // for any pair of widths (extension or truncation); the slices leave the
    // top of each helper unread, which is the point.
    /* verilator lint_off UNUSEDSIGNAL */
    genvar p;
    generate
        for (p = 0; p < PE; p = p + 1) begin : lanes
            // This lane's five constants of each input, field f at [f*F_BITS +: F_BITS].
            wire [NF*F_BITS-1:0] c0 = word[(p*2 + 0)*NF*F_BITS +: NF*F_BITS];
            wire [NF*F_BITS-1:0] c1 = word[(p*2 + 1)*NF*F_BITS +: NF*F_BITS];

            wire [IN0_BITS-1:0] x0 = s0_axis_tdata[p*IN0_BITS +: IN0_BITS];
            wire [IN1_BITS-1:0] x1 = s1_axis_tdata[p*IN1_BITS +: IN1_BITS];
            wire sx0 = (IN0_SIGNED != 0) && x0[IN0_BITS-1];
            wire sx1 = (IN1_SIGNED != 0) && x1[IN1_BITS-1];

            wire [KW+IN0_BITS-1:0] x0_kx = {{KW{sx0}}, x0};
            wire [KW+IN1_BITS-1:0] x1_kx = {{KW{sx1}}, x1};
            wire [KW+F_BITS-1:0] k0_kx = {{KW{c0[F_BITS-1]}}, c0[0 +: F_BITS]};
            wire [KW+F_BITS-1:0] k1_kx = {{KW{c1[F_BITS-1]}}, c1[0 +: F_BITS]};
            wire hi0 = $signed(x0_kx[KW-1:0]) >= $signed(k0_kx[KW-1:0]);
            wire hi1 = $signed(x1_kx[KW-1:0]) >= $signed(k1_kx[KW-1:0]);

            // Selecting before the multiply: one multiplier per input, not two.
            wire [F_BITS-1:0] m0 = hi0 ? c0[1*F_BITS +: F_BITS] : c0[3*F_BITS +: F_BITS];
            wire [F_BITS-1:0] o0 = hi0 ? c0[2*F_BITS +: F_BITS] : c0[4*F_BITS +: F_BITS];
            wire [F_BITS-1:0] m1 = hi1 ? c1[1*F_BITS +: F_BITS] : c1[3*F_BITS +: F_BITS];
            wire [F_BITS-1:0] o1 = hi1 ? c1[2*F_BITS +: F_BITS] : c1[4*F_BITS +: F_BITS];

            // Everything below is modulo 2^SW, which holds the final sum.
            wire [SW+IN0_BITS-1:0] x0_sx = {{SW{sx0}}, x0};
            wire [SW+IN1_BITS-1:0] x1_sx = {{SW{sx1}}, x1};
            wire [SW+F_BITS-1:0] m0_sx = {{SW{m0[F_BITS-1]}}, m0};
            wire [SW+F_BITS-1:0] m1_sx = {{SW{m1[F_BITS-1]}}, m1};
            wire [SW+F_BITS-1:0] o0_sx = {{SW{o0[F_BITS-1]}}, o0};
            wire [SW+F_BITS-1:0] o1_sx = {{SW{o1[F_BITS-1]}}, o1};
            assign prod0[p*SW +: SW] = m0_sx[SW-1:0] * x0_sx[SW-1:0];
            assign prod1[p*SW +: SW] = m1_sx[SW-1:0] * x1_sx[SW-1:0];
            assign offs[p*SW +: SW] = o0_sx[SW-1:0] + o1_sx[SW-1:0] + RND;

            assign sums[p*SW +: SW] = prod0_r[p*SW +: SW] + prod1_r[p*SW +: SW] + offs_r[p*SW +: SW];
            wire signed [SW-1:0] shifted = $signed(sums[p*SW +: SW]) >>> SHIFT;
            wire [SW+OUT_BITS-1:0] out_sx = {{OUT_BITS{shifted[SW-1]}}, shifted};
            assign outs[p*OUT_BITS +: OUT_BITS] = out_sx[OUT_BITS-1:0];
        end
    endgenerate
    /* verilator lint_on UNUSEDSIGNAL */

    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            v1 <= 1'b0;
            m_axis_tvalid <= 1'b0;
            beat <= 0;
        end else begin
            if (take) beat <= (beat == LAST) ? {AW{1'b0}} : beat + 1'b1;
            if (en1) v1 <= take;
            if (adv2) m_axis_tvalid <= 1'b1;
            else if (m_axis_tready) m_axis_tvalid <= 1'b0;
        end
    end
    always @(posedge ap_clk) begin
        if (take) begin
            prod0_r <= prod0;
            prod1_r <= prod1;
            offs_r <= offs;
        end
        if (adv2) m_axis_tdata <= outs;
    end
endmodule
