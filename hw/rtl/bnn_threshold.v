// Per-channel threshold of a multi-bit stream into bits: x >= T_c, or
// x <= T_c for channels whose descending flag is set (a negative scale in
// front of the sign function flips the comparison).
//
// The flow emits this stage where a binarising activation follows something
// that is not an MVTU (a residual add, a pooling of multi-bit values), so the
// threshold cannot be folded into an accumulator. Channels are last and cycle
// 0..C-1, PE consecutive channels per beat; the constants of a beat come from
// one ROM word at address (beat index within the pixel): per lane p, T at
// [p*(T_BITS+1) +: T_BITS] and the descending flag just above it.
//
// T_BITS must exceed IN_BITS: inputs are sign- or zero-extended into a signed
// T_BITS compare, so a threshold outside the input range (always 0 or always
// 1) is still exact.
module bnn_threshold #(
    parameter integer C = 8,
    parameter integer PE = 1,
    parameter integer IN_BITS = 8,
    parameter integer IN_SIGNED = 0,
    parameter integer T_BITS = 9,
    parameter PARAM_FILE = "threshold.hex"
) (
    input  wire                  ap_clk,
    input  wire                  ap_rst_n,
    input  wire [PE*IN_BITS-1:0] s_axis_tdata,
    input  wire                  s_axis_tvalid,
    output wire                  s_axis_tready,
    output reg  [PE-1:0]         m_axis_tdata,
    output reg                   m_axis_tvalid,
    input  wire                  m_axis_tready
);
    localparam integer BEATS = C / PE;
    localparam integer FW = T_BITS + 1;  // one lane's field: threshold and flag
    localparam integer WORD = PE * FW;
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
    wire [PE-1:0] bits;
    genvar p;
    generate
        for (p = 0; p < PE; p = p + 1) begin : lanes
            wire sx = (IN_SIGNED != 0) && s_axis_tdata[p*IN_BITS+IN_BITS-1];
            wire signed [T_BITS-1:0] x = {{(T_BITS-IN_BITS){sx}}, s_axis_tdata[p*IN_BITS +: IN_BITS]};
            wire signed [T_BITS-1:0] t = word[p*FW +: T_BITS];
            wire desc = word[p*FW + T_BITS];
            // Ties count as 1 in both directions (x == T satisfies >= and <=).
            assign bits[p] = desc ? (x <= t) : (x >= t);
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
    always @(posedge ap_clk) if (take) m_axis_tdata <= bits;
endmodule
