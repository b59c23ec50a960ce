// Top-1 selection: consumes an N-element vector, PE elements per beat, and
// emits one beat holding the index of the largest element. Ties go to the
// lowest index, matching numpy/torch argmax, because a later element only
// wins when strictly greater.
module bnn_label_select #(
    parameter integer N = 10,
    parameter integer PE = 1,
    parameter integer EW = 8,
    parameter integer SIGNED = 0,
    parameter integer OUT_W = 8   // must hold N-1
) (
    input  wire             ap_clk,
    input  wire             ap_rst_n,
    input  wire [PE*EW-1:0] s_axis_tdata,
    input  wire             s_axis_tvalid,
    output wire             s_axis_tready,
    output wire [OUT_W-1:0] m_axis_tdata,
    output wire             m_axis_tvalid,
    input  wire             m_axis_tready
);
    localparam integer NB = N / PE;  // beats per vector
    localparam integer BW = (NB > 1) ? $clog2(NB) : 1;
    localparam integer IW = (N > 1) ? $clog2(N) : 1;
    localparam integer NB_LAST_I = NB - 1;
    localparam [BW-1:0] NB_LAST = NB_LAST_I[BW-1:0];

    function gt(input [EW-1:0] a, input [EW-1:0] b);
        gt = (SIGNED != 0) ? ($signed(a) > $signed(b)) : (a > b);
    endfunction

    reg [BW-1:0] beat;
    reg [EW-1:0] best_val;
    reg [IW-1:0] best_idx;
    reg [IW-1:0] beat_base;  // index of element 0 of the current beat
    reg [IW-1:0] out_idx;
    reg out_valid;

    wire last_beat = (beat == NB_LAST);
    // Only the final beat writes the output register.
    assign s_axis_tready = !last_beat || !out_valid || m_axis_tready;
    wire in_fire = s_axis_tvalid && s_axis_tready;

    // Winner among the running best and this beat's elements, scanned in
    // index order. On the first beat the running best is ignored.
    reg [EW-1:0] cand_val;
    reg [IW-1:0] cand_idx;
    integer i;
    always @* begin
        cand_val = s_axis_tdata[0 +: EW];
        cand_idx = beat_base;
        if (beat != {BW{1'b0}} && !gt(cand_val, best_val)) begin
            cand_val = best_val;
            cand_idx = best_idx;
        end
        for (i = 1; i < PE; i = i + 1) begin
            if (gt(s_axis_tdata[i*EW +: EW], cand_val)) begin
                cand_val = s_axis_tdata[i*EW +: EW];
                cand_idx = beat_base + i[IW-1:0];
            end
        end
    end

    always @(posedge ap_clk) begin
        if (in_fire) begin
            best_val <= cand_val;
            best_idx <= cand_idx;
            if (last_beat) out_idx <= cand_idx;
        end
    end

    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            beat <= {BW{1'b0}};
            beat_base <= {IW{1'b0}};
            out_valid <= 1'b0;
        end else begin
            if (in_fire) begin
                beat <= last_beat ? {BW{1'b0}} : beat + 1'b1;
                beat_base <= last_beat ? {IW{1'b0}} : beat_base + PE[IW-1:0];
            end
            if (in_fire && last_beat) out_valid <= 1'b1;
            else if (m_axis_tready) out_valid <= 1'b0;
        end
    end

    assign m_axis_tdata = {{(OUT_W-IW){1'b0}}, out_idx};
    assign m_axis_tvalid = out_valid;
endmodule
