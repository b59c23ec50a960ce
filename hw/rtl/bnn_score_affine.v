// Integer class scores m_c * x_c + n_c for C channels, PE per beat.
//
// The flow emits this stage only where a per-class scale or offset could
// change the class order; multipliers and offsets are exact integers with one
// shared scale, so ranking these scores equals ranking the real ones. Both
// constants of a beat come from one ROM word: PE multipliers of M_BITS, then
// PE offsets of OUT_BITS, at address (beat index within the vector).
// OUT_BITS must exceed IN_BITS and M_BITS: inputs and multipliers are
// sign-extended into the score width.
module bnn_score_affine #(
    parameter integer C = 10,
    parameter integer PE = 1,
    parameter integer IN_BITS = 8,
    parameter integer IN_SIGNED = 0,
    parameter integer M_BITS = 8,
    parameter integer OUT_BITS = 16,
    parameter PARAM_FILE = "score_affine.hex"
) (
    input  wire                   ap_clk,
    input  wire                   ap_rst_n,
    input  wire [PE*IN_BITS-1:0]  s_axis_tdata,
    input  wire                   s_axis_tvalid,
    output wire                   s_axis_tready,
    output reg  [PE*OUT_BITS-1:0] m_axis_tdata,
    output reg                    m_axis_tvalid,
    input  wire                   m_axis_tready
);
    localparam integer BEATS = C / PE;
    localparam integer WORD = PE * (M_BITS + OUT_BITS);
    localparam integer AW = (BEATS > 1) ? $clog2(BEATS) : 1;
    localparam integer LAST_I = BEATS - 1;
    localparam [AW-1:0] LAST = LAST_I[AW-1:0];

    reg [WORD-1:0] params [0:BEATS-1];
    initial $readmemh(PARAM_FILE, params);

    reg [AW-1:0] beat;
    wire take = s_axis_tvalid && s_axis_tready;
    // A one-deep output register: the input moves whenever it is empty or being emptied.
    assign s_axis_tready = !m_axis_tvalid || m_axis_tready;

    wire [WORD-1:0] word = params[beat];
    wire [PE*OUT_BITS-1:0] scores;
    genvar p;
    generate
        for (p = 0; p < PE; p = p + 1) begin : lanes
            // Everything is computed modulo 2^OUT_BITS, which the flow sized to hold every score.
            wire sx = (IN_SIGNED != 0) && s_axis_tdata[p*IN_BITS+IN_BITS-1];
            wire [OUT_BITS-1:0] x = {{(OUT_BITS-IN_BITS){sx}}, s_axis_tdata[p*IN_BITS +: IN_BITS]};
            wire [OUT_BITS-1:0] m = {{(OUT_BITS-M_BITS){word[p*M_BITS+M_BITS-1]}}, word[p*M_BITS +: M_BITS]};
            wire [OUT_BITS-1:0] n = word[PE*M_BITS + p*OUT_BITS +: OUT_BITS];
            assign scores[p*OUT_BITS +: OUT_BITS] = m * x + n;
        end
    endgenerate

    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            m_axis_tvalid <= 1'b0;
            beat <= 0;
        end else begin
            if (m_axis_tvalid && m_axis_tready) m_axis_tvalid <= 1'b0;
            if (take) begin
                m_axis_tvalid <= 1'b1;
                beat <= (beat == LAST) ? {AW{1'b0}} : beat + 1'b1;
            end
        end
    end
    always @(posedge ap_clk) if (take) m_axis_tdata <= scores;
endmodule
