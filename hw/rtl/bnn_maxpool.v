// Non-overlapping max pooling (stride == K, no padding, floor mode) of a
// channels-last stream, PE channels per beat. On bits (EW == 1, 1 = +1) the
// maximum is an OR.
//
// One row of running maxima (OW pixels of CH channels) is kept in a memory
// with an asynchronous read, so each input beat is a single-cycle
// read-modify-write and the module accepts one beat per cycle; beats of the
// rows and columns that floor mode drops are consumed and ignored. The
// window's last beat goes straight to the output register instead of the
// memory, so the output is OH*OW*CH/PE beats per image.
module bnn_maxpool #(
    parameter integer IFM_H = 4,
    parameter integer IFM_W = 4,
    parameter integer CH = 2,
    parameter integer K = 2,
    parameter integer PE = 1,
    parameter integer EW = 1,
    parameter integer SIGNED = 0
) (
    input  wire             ap_clk,
    input  wire             ap_rst_n,
    input  wire [PE*EW-1:0] s_axis_tdata,
    input  wire             s_axis_tvalid,
    output wire             s_axis_tready,
    output wire [PE*EW-1:0] m_axis_tdata,
    output wire             m_axis_tvalid,
    input  wire             m_axis_tready
);
    localparam integer W = PE * EW;
    localparam integer CPB = CH / PE;
    localparam integer OW = IFM_W / K;
    localparam integer ROWW = OW * CPB;  // words of running maxima
    localparam integer AW = (ROWW > 1) ? $clog2(ROWW) : 1;
    localparam integer KW = (K > 1) ? $clog2(K) : 1;
    localparam integer XW = (IFM_W > 1) ? $clog2(IFM_W) : 1;
    localparam integer YW = (IFM_H > 1) ? $clog2(IFM_H) : 1;
    localparam integer CPB_LAST_I = CPB - 1;
    localparam integer K_LAST_I = K - 1;
    localparam integer W_LAST_I = IFM_W - 1;
    localparam integer H_LAST_I = IFM_H - 1;
    localparam integer W_USED_I = OW * K;           // first column floor mode drops
    localparam integer H_USED_I = (IFM_H / K) * K;  // first row floor mode drops
    localparam [AW-1:0] CPB_LAST = CPB_LAST_I[AW-1:0];
    localparam [KW-1:0] K_LAST = K_LAST_I[KW-1:0];
    localparam [XW-1:0] W_LAST = W_LAST_I[XW-1:0];
    localparam [YW-1:0] H_LAST = H_LAST_I[YW-1:0];
    localparam [XW:0] W_USED = W_USED_I[XW:0];
    localparam [YW:0] H_USED = H_USED_I[YW:0];
    localparam [AW-1:0] CPB_A = CPB[AW-1:0];

    // On bits the whole beat is one OR; the simulator would otherwise run
    // the per-element loop bit by bit.
    function [W-1:0] vmax(input [W-1:0] a, input [W-1:0] b);
        integer i;
        reg [EW-1:0] x, y;
        begin
            vmax = a | b;
            if (EW != 1)
                for (i = 0; i < PE; i = i + 1) begin
                    x = a[i*EW +: EW];
                    y = b[i*EW +: EW];
                    if (SIGNED != 0) vmax[i*EW +: EW] = ($signed(x) > $signed(y)) ? x : y;
                    else vmax[i*EW +: EW] = (x > y) ? x : y;
                end
        end
    endfunction

    reg [W-1:0] rowmax [0:ROWW-1];

    reg [AW-1:0] cb;  // ROWW >= CPB, so the address width fits it
    reg [KW-1:0] kx, ky;
    reg [XW-1:0] x;
    reg [YW-1:0] y;
    reg [AW-1:0] win_base;  // word of channel 0 of the current output pixel
    reg [W-1:0] out_data;
    reg out_valid;

    wire cb_last = (cb == CPB_LAST);
    wire kx_last = (kx == K_LAST);
    wire ky_last = (ky == K_LAST);
    wire x_last = (x == W_LAST);
    wire y_last = (y == H_LAST);
    wire used = ({1'b0, x} < W_USED) && ({1'b0, y} < H_USED);
    wire first = (kx == {KW{1'b0}}) && (ky == {KW{1'b0}});
    wire emit = used && kx_last && ky_last;

    wire [AW-1:0] addr = win_base + cb;
    wire [W-1:0] merged = first ? s_axis_tdata : vmax(rowmax[addr], s_axis_tdata);

    assign s_axis_tready = !emit || !out_valid || m_axis_tready;
    wire in_fire = s_axis_tvalid && s_axis_tready;

    always @(posedge ap_clk) begin
        if (in_fire && used && !emit) rowmax[addr] <= merged;
        if (in_fire && emit) out_data <= merged;
    end

    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            cb <= {AW{1'b0}};
            kx <= {KW{1'b0}};
            ky <= {KW{1'b0}};
            x <= {XW{1'b0}};
            y <= {YW{1'b0}};
            win_base <= {AW{1'b0}};
            out_valid <= 1'b0;
        end else begin
            if (in_fire) begin
                cb <= cb_last ? {AW{1'b0}} : cb + 1'b1;
                if (cb_last) begin
                    x <= x_last ? {XW{1'b0}} : x + 1'b1;
                    kx <= (kx_last || x_last) ? {KW{1'b0}} : kx + 1'b1;
                    if (x_last) begin
                        win_base <= {AW{1'b0}};
                        y <= y_last ? {YW{1'b0}} : y + 1'b1;
                        ky <= (ky_last || y_last) ? {KW{1'b0}} : ky + 1'b1;
                    end else if (kx_last) begin
                        win_base <= win_base + CPB_A;
                    end
                end
            end
            if (in_fire && emit) out_valid <= 1'b1;
            else if (m_axis_tready) out_valid <= 1'b0;
        end
    end

    assign m_axis_tdata = out_data;
    assign m_axis_tvalid = out_valid;
endmodule
