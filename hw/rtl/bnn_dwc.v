// AXI-Stream data-width converter between widths where one divides the other.
//
// Up-conversion (OUT_W = k * IN_W) packs k consecutive input words low-first;
// down-conversion (IN_W = k * OUT_W) emits the low OUT_W bits first. Both keep
// the narrow side at one beat per cycle. Equal widths are a plain wire.
module bnn_dwc #(
    parameter integer IN_W = 8,
    parameter integer OUT_W = 32
) (
    input  wire             ap_clk,
    input  wire             ap_rst_n,
    input  wire [IN_W-1:0]  s_axis_tdata,
    input  wire             s_axis_tvalid,
    output wire             s_axis_tready,
    output wire [OUT_W-1:0] m_axis_tdata,
    output wire             m_axis_tvalid,
    input  wire             m_axis_tready
);
    generate
        if (OUT_W > IN_W) begin : g_up
            localparam integer K = OUT_W / IN_W;
            localparam integer CW = $clog2(K);
            localparam integer K_LAST_I = K - 1;
            localparam [CW-1:0] K_LAST = K_LAST_I[CW-1:0];

            // Words shift in from the top so the first one ends at the bottom.
            reg [OUT_W-IN_W-1:0] partial;
            reg [CW-1:0] cnt;
            reg [OUT_W-1:0] out_data;
            reg out_valid;

            wire [OUT_W-1:0] shifted = {s_axis_tdata, partial};
            wire completing = (cnt == K_LAST);
            // Only the word that completes a group needs the output register.
            assign s_axis_tready = !completing || !out_valid || m_axis_tready;
            wire in_fire = s_axis_tvalid && s_axis_tready;

            always @(posedge ap_clk) begin
                if (in_fire) begin
                    if (completing) out_data <= shifted;
                    else partial <= shifted[OUT_W-1:IN_W];
                end
            end

            always @(posedge ap_clk) begin
                if (!ap_rst_n) begin
                    cnt <= {CW{1'b0}};
                    out_valid <= 1'b0;
                end else begin
                    if (in_fire) cnt <= completing ? {CW{1'b0}} : cnt + 1'b1;
                    if (in_fire && completing) out_valid <= 1'b1;
                    else if (m_axis_tready) out_valid <= 1'b0;
                end
            end

            assign m_axis_tdata = out_data;
            assign m_axis_tvalid = out_valid;
        end else if (IN_W > OUT_W) begin : g_down
            localparam integer K = IN_W / OUT_W;
            localparam integer CW = $clog2(K);
            localparam integer K_LAST_I = K - 1;
            localparam [CW-1:0] K_LAST = K_LAST_I[CW-1:0];

            reg [IN_W-1:0] word;
            reg [CW-1:0] cnt;
            reg full;

            wire out_fire = full && m_axis_tready;
            // A new word may enter as the last piece of the current one leaves.
            assign s_axis_tready = !full || (m_axis_tready && cnt == K_LAST);
            wire in_fire = s_axis_tvalid && s_axis_tready;

            always @(posedge ap_clk) begin
                if (in_fire) word <= s_axis_tdata;
                else if (out_fire) word <= {{OUT_W{1'b0}}, word[IN_W-1:OUT_W]};
            end

            always @(posedge ap_clk) begin
                if (!ap_rst_n) begin
                    cnt <= {CW{1'b0}};
                    full <= 1'b0;
                end else begin
                    if (out_fire) cnt <= (cnt == K_LAST) ? {CW{1'b0}} : cnt + 1'b1;
                    if (in_fire) full <= 1'b1;
                    else if (out_fire && cnt == K_LAST) full <= 1'b0;
                end
            end

            assign m_axis_tdata = word[OUT_W-1:0];
            assign m_axis_tvalid = full;
        end else begin : g_pass
            assign m_axis_tdata = s_axis_tdata;
            assign m_axis_tvalid = s_axis_tvalid;
            assign s_axis_tready = m_axis_tready;
            // Clock and reset exist only for a uniform interface here.
            wire unused_clk_rst = &{1'b0, ap_clk, ap_rst_n};
        end
    endgenerate
endmodule
