// Channel concatenation of two streams of the same image: per pixel, the CH0
// channels of input 0 and then the CH1 channels of input 1, OUT_SIMD
// elements per output beat.
//
// Width rule: OUT_SIMD divides CH0 and CH1, so no output beat straddles the
// two inputs, and each input's SIMD divides or is a multiple of OUT_SIMD;
// a bnn_dwc per input brings it to OUT_SIMD. The pattern repeats every pixel,
// so the module needs no pixel count. Those beats take (CH0 + CH1) / OUT_SIMD
// cycles a pixel, at least (CH0 + CH1) / gcd(CH0, CH1): too slow behind
// layers that make a pixel every cycle or two. So OUT_SIMD = CH0 + CH1 is
// allowed too: whole pixels, each input widened to its CH elements (SIMD
// dividing CH) and the two joined in one beat.
//
// An input is only read during its own part of the pixel: when one branch
// runs ahead, its producer simply waits, so the branches' FIFOs must absorb
// the skew between them (or the upstream fork stalls both).
module bnn_concat #(
    parameter integer CH0 = 2,
    parameter integer CH1 = 2,
    parameter integer SIMD0 = 1,
    parameter integer SIMD1 = 1,
    parameter integer EW = 1,
    parameter integer OUT_SIMD = 1
) (
    input  wire                   ap_clk,
    input  wire                   ap_rst_n,
    input  wire [SIMD0*EW-1:0]    s0_axis_tdata,
    input  wire                   s0_axis_tvalid,
    output wire                   s0_axis_tready,
    input  wire [SIMD1*EW-1:0]    s1_axis_tdata,
    input  wire                   s1_axis_tvalid,
    output wire                   s1_axis_tready,
    output wire [OUT_SIMD*EW-1:0] m_axis_tdata,
    output wire                   m_axis_tvalid,
    input  wire                   m_axis_tready
);
    localparam integer OW = OUT_SIMD * EW;
    generate
        if (OUT_SIMD == CH0 + CH1) begin : g_pixel
            wire [CH0*EW-1:0] p0;
            wire [CH1*EW-1:0] p1;
            wire v0, v1;
            reg [OW-1:0] out_data;
            reg out_valid;
            wire take = !out_valid || m_axis_tready;
            wire fire = take && v0 && v1;

            bnn_dwc #(.IN_W(SIMD0 * EW), .OUT_W(CH0 * EW)) u_dwc0 (
                .ap_clk(ap_clk), .ap_rst_n(ap_rst_n),
                .s_axis_tdata(s0_axis_tdata), .s_axis_tvalid(s0_axis_tvalid), .s_axis_tready(s0_axis_tready),
                .m_axis_tdata(p0), .m_axis_tvalid(v0), .m_axis_tready(fire)
            );

            bnn_dwc #(.IN_W(SIMD1 * EW), .OUT_W(CH1 * EW)) u_dwc1 (
                .ap_clk(ap_clk), .ap_rst_n(ap_rst_n),
                .s_axis_tdata(s1_axis_tdata), .s_axis_tvalid(s1_axis_tvalid), .s_axis_tready(s1_axis_tready),
                .m_axis_tdata(p1), .m_axis_tvalid(v1), .m_axis_tready(fire)
            );

            always @(posedge ap_clk) begin
                if (fire) out_data <= {p1, p0};
            end

            always @(posedge ap_clk) begin
                if (!ap_rst_n) out_valid <= 1'b0;
                else if (fire) out_valid <= 1'b1;
                else if (m_axis_tready) out_valid <= 1'b0;
            end

            assign m_axis_tdata = out_data;
            assign m_axis_tvalid = out_valid;
        end else begin : g_beats
            localparam integer NB0 = CH0 / OUT_SIMD;  // output beats per pixel from input 0
            localparam integer NB = NB0 + CH1 / OUT_SIMD;
            localparam integer BW = $clog2(NB);      // NB >= 2
            localparam integer NB_LAST_I = NB - 1;
            localparam [BW-1:0] NB_LAST = NB_LAST_I[BW-1:0];
            localparam [BW-1:0] NB0_B = NB0[BW-1:0];

            wire [OW-1:0] d0, d1;
            wire v0, v1;
            wire sel1;  // this beat comes from input 1
            wire take = !m_axis_tvalid || m_axis_tready;

            bnn_dwc #(.IN_W(SIMD0 * EW), .OUT_W(OW)) u_dwc0 (
                .ap_clk(ap_clk), .ap_rst_n(ap_rst_n),
                .s_axis_tdata(s0_axis_tdata), .s_axis_tvalid(s0_axis_tvalid), .s_axis_tready(s0_axis_tready),
                .m_axis_tdata(d0), .m_axis_tvalid(v0), .m_axis_tready(take && !sel1)
            );

            bnn_dwc #(.IN_W(SIMD1 * EW), .OUT_W(OW)) u_dwc1 (
                .ap_clk(ap_clk), .ap_rst_n(ap_rst_n),
                .s_axis_tdata(s1_axis_tdata), .s_axis_tvalid(s1_axis_tvalid), .s_axis_tready(s1_axis_tready),
                .m_axis_tdata(d1), .m_axis_tvalid(v1), .m_axis_tready(take && sel1)
            );

            reg [BW-1:0] beat;
            reg [OW-1:0] out_data;
            reg out_valid;

            assign sel1 = (beat >= NB0_B);
            wire fire = take && (sel1 ? v1 : v0);

            always @(posedge ap_clk) begin
                if (fire) out_data <= sel1 ? d1 : d0;
            end

            always @(posedge ap_clk) begin
                if (!ap_rst_n) begin
                    beat <= {BW{1'b0}};
                    out_valid <= 1'b0;
                end else begin
                    if (fire) beat <= (beat == NB_LAST) ? {BW{1'b0}} : beat + 1'b1;
                    if (fire) out_valid <= 1'b1;
                    else if (m_axis_tready) out_valid <= 1'b0;
                end
            end

            assign m_axis_tdata = out_data;
            assign m_axis_tvalid = out_valid;
        end
    endgenerate
endmodule
