// TLAST for the board's DMA: the accelerator has no packet boundaries, but an
// AXI DMA S2MM transfer in simple mode ends only at TLAST. The MM2S side marks
// the last input beat of each transfer with TLAST; this module counts the
// images of that transfer and raises TLAST on the last output beat of the
// same number of images, so one S2MM transfer returns one batch, of any size.
//
// Data passes straight through; only the TLAST bookkeeping is added. Up to
// BATCHES transfers may be in flight; further input waits.
module bnn_axis_tlast #(
    parameter integer IN_BEATS = 1,   // input beats per image
    parameter integer OUT_BEATS = 1,  // output beats per image
    parameter integer BATCHES = 4
) (
    input  wire ap_clk,
    input  wire ap_rst_n,
    // from the DMA
    input  wire s_tvalid,
    input  wire s_tlast,
    output wire s_tready,
    // to the accelerator
    output wire a_in_tvalid,
    input  wire a_in_tready,
    // from the accelerator
    input  wire a_out_tvalid,
    output wire a_out_tready,
    // to the DMA
    output wire m_tvalid,
    output wire m_tlast,
    input  wire m_tready
);
    localparam integer QW = (BATCHES > 1) ? $clog2(BATCHES) : 1;
    localparam integer Q_LAST_I = BATCHES - 1;
    localparam [QW-1:0] Q_LAST = Q_LAST_I[QW-1:0];
    localparam [QW:0] Q_FULL = BATCHES[QW:0];
    localparam [31:0] IN_LAST = IN_BEATS - 1;
    localparam [31:0] OUT_LAST = OUT_BEATS - 1;

    reg [31:0] in_beat, in_imgs, out_beat, out_imgs;
    reg [31:0] queue [0:BATCHES-1];  // images per transfer, oldest first
    reg [QW-1:0] head, tail;
    reg [QW:0] count;

    wire full = (count == Q_FULL);
    assign s_tready = a_in_tready && !full;
    assign a_in_tvalid = s_tvalid && !full;
    assign m_tvalid = a_out_tvalid;
    assign a_out_tready = m_tready;

    wire in_fire = s_tvalid && s_tready;
    wire in_img_end = (in_beat == IN_LAST);
    wire push = in_fire && s_tlast;
    wire out_fire = a_out_tvalid && m_tready;
    wire out_img_end = (out_beat == OUT_LAST);
    assign m_tlast = out_img_end && (count != {(QW+1){1'b0}}) && (out_imgs + 1 == queue[head]);
    wire pop = out_fire && m_tlast;

    always @(posedge ap_clk) begin
        if (push) queue[tail] <= in_imgs + (in_img_end ? 32'd1 : 32'd0);
    end

    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            in_beat <= 0; in_imgs <= 0; out_beat <= 0; out_imgs <= 0;
            head <= 0; tail <= 0; count <= 0;
        end else begin
            if (in_fire) begin
                in_beat <= in_img_end ? 32'd0 : in_beat + 1;
                in_imgs <= push ? 32'd0 : in_imgs + (in_img_end ? 32'd1 : 32'd0);
            end
            if (out_fire) begin
                out_beat <= out_img_end ? 32'd0 : out_beat + 1;
                out_imgs <= pop ? 32'd0 : out_imgs + (out_img_end ? 32'd1 : 32'd0);
            end
            if (push) tail <= (tail == Q_LAST) ? {QW{1'b0}} : tail + 1'b1;
            if (pop) head <= (head == Q_LAST) ? {QW{1'b0}} : head + 1'b1;
            if (push && !pop) count <= count + 1'b1;
            else if (pop && !push) count <= count - 1'b1;
        end
    end
endmodule
