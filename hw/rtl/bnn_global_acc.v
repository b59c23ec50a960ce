// Global accumulation: the per-channel sum over the PIXELS pixels of each
// image (a popcount when EW == 1), emitted as CH sums of OUT_BITS bits,
// OUT_PE per beat, after the image's last pixel.
//
// Running sums live in a CH/PE-word memory with an asynchronous read, so
// each input beat is a single-cycle read-modify-write. The last pixel's
// totals go to a second memory that is drained while the next image
// accumulates; only if the drain has not finished by the next image's last
// pixel does the input wait. The drain is PE sums wide and a bnn_dwc turns
// it into OUT_PE sums, so OUT_PE must divide or be a multiple of PE (and
// divide CH). OUT_BITS >= EW; sums wrap at OUT_BITS bits.
module bnn_global_acc #(
    parameter integer PIXELS = 4,
    parameter integer CH = 2,
    parameter integer PE = 1,
    parameter integer EW = 1,
    parameter integer SIGNED = 0,  // inputs are two's complement (EW > 1 only)
    parameter integer OUT_BITS = 8,
    parameter integer OUT_PE = 1
) (
    input  wire                     ap_clk,
    input  wire                     ap_rst_n,
    input  wire [PE*EW-1:0]         s_axis_tdata,
    input  wire                     s_axis_tvalid,
    output wire                     s_axis_tready,
    output wire [OUT_PE*OUT_BITS-1:0] m_axis_tdata,
    output wire                     m_axis_tvalid,
    input  wire                     m_axis_tready
);
    localparam integer SW = PE * OUT_BITS;
    localparam integer CPB = CH / PE;
    localparam integer AW = (CPB > 1) ? $clog2(CPB) : 1;
    localparam integer PW = (PIXELS > 1) ? $clog2(PIXELS) : 1;
    localparam integer CPB_LAST_I = CPB - 1;
    localparam integer PIX_LAST_I = PIXELS - 1;
    localparam [AW-1:0] CPB_LAST = CPB_LAST_I[AW-1:0];
    localparam [PW-1:0] PIX_LAST = PIX_LAST_I[PW-1:0];

    // PE running sums plus this beat's elements, each widened to OUT_BITS.
    function [SW-1:0] add_beat(input [SW-1:0] acc, input [PE*EW-1:0] x);
        integer i, b;
        reg [OUT_BITS-1:0] e;
        begin
            for (i = 0; i < PE; i = i + 1) begin
                for (b = 0; b < OUT_BITS; b = b + 1) begin
                    if (b < EW) e[b] = x[i*EW + b];
                    else e[b] = (SIGNED != 0 && EW > 1) ? x[i*EW + EW - 1] : 1'b0;
                end
                add_beat[i*OUT_BITS +: OUT_BITS] = acc[i*OUT_BITS +: OUT_BITS] + e;
            end
        end
    endfunction

    reg [SW-1:0] acc [0:CPB-1];
    reg [SW-1:0] res [0:CPB-1];

    reg [AW-1:0] cb;
    reg [PW-1:0] pix;
    reg res_busy;  // res holds totals not yet fully drained
    reg [AW-1:0] rd;
    reg [SW-1:0] d_data;
    reg d_valid;
    wire d_ready;

    wire first = (pix == {PW{1'b0}});
    wire last_pix = (pix == PIX_LAST);
    wire cb_last = (cb == CPB_LAST);
    assign s_axis_tready = !(last_pix && res_busy);
    wire in_fire = s_axis_tvalid && s_axis_tready;
    wire [SW-1:0] sum = add_beat(first ? {SW{1'b0}} : acc[cb], s_axis_tdata);

    wire load = res_busy && (!d_valid || d_ready);

    always @(posedge ap_clk) begin
        if (in_fire && !last_pix) acc[cb] <= sum;
        if (in_fire && last_pix) res[cb] <= sum;
        if (load) d_data <= res[rd];
    end

    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            cb <= {AW{1'b0}};
            pix <= {PW{1'b0}};
            res_busy <= 1'b0;
            rd <= {AW{1'b0}};
            d_valid <= 1'b0;
        end else begin
            if (in_fire) begin
                cb <= cb_last ? {AW{1'b0}} : cb + 1'b1;
                if (cb_last) pix <= last_pix ? {PW{1'b0}} : pix + 1'b1;
            end
            // Set only while not busy (input waits otherwise), cleared by the
            // drain, so the two never coincide.
            if (in_fire && last_pix && cb_last) res_busy <= 1'b1;
            else if (load && rd == CPB_LAST) res_busy <= 1'b0;
            if (load) rd <= (rd == CPB_LAST) ? {AW{1'b0}} : rd + 1'b1;
            if (load) d_valid <= 1'b1;
            else if (d_ready) d_valid <= 1'b0;
        end
    end

    bnn_dwc #(.IN_W(SW), .OUT_W(OUT_PE * OUT_BITS)) u_dwc (
        .ap_clk(ap_clk), .ap_rst_n(ap_rst_n),
        .s_axis_tdata(d_data), .s_axis_tvalid(d_valid), .s_axis_tready(d_ready),
        .m_axis_tdata(m_axis_tdata), .m_axis_tvalid(m_axis_tvalid), .m_axis_tready(m_axis_tready)
    );
endmodule
