// AXI-Stream FIFO with a registered (synchronous-read) memory so that large
// instances can map to block RAM; small ones end up in LUT RAM. The memory
// style is deliberately left to the synthesis tool.
//
// Storage is DEPTH memory words plus the output register, so up to DEPTH+1
// beats can be buffered. Sustains one beat per cycle in and out.
module bnn_fifo #(
    parameter integer WIDTH = 8,
    parameter integer DEPTH = 16  // >= 2
) (
    input  wire             ap_clk,
    input  wire             ap_rst_n,
    input  wire [WIDTH-1:0] s_axis_tdata,
    input  wire             s_axis_tvalid,
    output wire             s_axis_tready,
    output reg  [WIDTH-1:0] m_axis_tdata,
    output reg              m_axis_tvalid,
    input  wire             m_axis_tready
);
    localparam integer AW = (DEPTH > 1) ? $clog2(DEPTH) : 1;
    localparam integer CW = $clog2(DEPTH + 1);
    localparam integer LAST_I = DEPTH - 1;
    localparam [AW-1:0] LAST_ADDR = LAST_I[AW-1:0];
    localparam [CW-1:0] FULL_COUNT = DEPTH[CW-1:0];

    reg [WIDTH-1:0] mem [0:DEPTH-1];
    reg [AW-1:0] wptr;
    reg [AW-1:0] rptr;
    // Words held in mem, excluding the output register. Public so the
    // simulation harness can record peak fill levels and name a full FIFO
    // when the accelerator deadlocks; synthesis ignores the comment.
    reg [CW-1:0] count /* verilator public_flat_rd */;

    wire wr = s_axis_tvalid && s_axis_tready;
    // Refill the output register whenever it is empty or being emptied.
    wire rd = (count != 0) && (!m_axis_tvalid || m_axis_tready);

    assign s_axis_tready = (count != FULL_COUNT);

    // A write and a read never hit the same word: a read needs count > 0 and
    // a write needs count < DEPTH, so the pointers differ whenever both fire.
    always @(posedge ap_clk) begin
        if (wr) mem[wptr] <= s_axis_tdata;
        if (rd) m_axis_tdata <= mem[rptr];
    end

    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            wptr <= 0;
            rptr <= 0;
            count <= 0;
            m_axis_tvalid <= 1'b0;
        end else begin
            if (wr) wptr <= (wptr == LAST_ADDR) ? {AW{1'b0}} : wptr + 1'b1;
            if (rd) rptr <= (rptr == LAST_ADDR) ? {AW{1'b0}} : rptr + 1'b1;
            // One add rather than an if/else on (wr, rd): a branch the
            // simulator mispredicts on irregular traffic, in every FIFO.
            count <= count + {{(CW-1){1'b0}}, wr} - {{(CW-1){1'b0}}, rd};
            if (rd) m_axis_tvalid <= 1'b1;
            else if (m_axis_tready) m_axis_tvalid <= 1'b0;
        end
    end
endmodule
