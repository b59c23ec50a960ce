// Stream fork: every input beat goes to both outputs, whose readies are
// independent. The beat sits in one register with a valid flag per side, so
// each side takes it when it can; the next beat enters once both have taken
// it (or are taking it this cycle), which keeps one beat per cycle when both
// sides are ready.
module bnn_duplicate #(
    parameter integer WIDTH = 8
) (
    input  wire             ap_clk,
    input  wire             ap_rst_n,
    input  wire [WIDTH-1:0] s_axis_tdata,
    input  wire             s_axis_tvalid,
    output wire             s_axis_tready,
    output wire [WIDTH-1:0] m0_axis_tdata,
    output wire             m0_axis_tvalid,
    input  wire             m0_axis_tready,
    output wire [WIDTH-1:0] m1_axis_tdata,
    output wire             m1_axis_tvalid,
    input  wire             m1_axis_tready
);
    reg [WIDTH-1:0] data;
    reg v0, v1;

    assign s_axis_tready = (!v0 || m0_axis_tready) && (!v1 || m1_axis_tready);
    wire in_fire = s_axis_tvalid && s_axis_tready;

    always @(posedge ap_clk) begin
        if (in_fire) data <= s_axis_tdata;
    end

    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            v0 <= 1'b0;
            v1 <= 1'b0;
        end else if (in_fire) begin
            v0 <= 1'b1;
            v1 <= 1'b1;
        end else begin
            if (m0_axis_tready) v0 <= 1'b0;
            if (m1_axis_tready) v1 <= 1'b0;
        end
    end

    assign m0_axis_tdata = data;
    assign m0_axis_tvalid = v0;
    assign m1_axis_tdata = data;
    assign m1_axis_tvalid = v1;
endmodule
