// Sliding-window generator (im2col on a stream) for a channels-last image:
// for every output pixel, in raster order, it emits the K*K*CH window
// elements in (ky, kx, c) order, SIMD elements per beat, with the padding
// generated here rather than stored.
//
// Input rows go round-robin into a line buffer of NROWS = K + STRIDE rows of
// IFM_W*CH/SIMD words with a registered read, so large images map to block
// RAM. K rows hold the current window band and the other STRIDE rows receive
// the band of the next output row meanwhile, so in steady state the output is
// never waiting for the writer. Positions below are relative to the image
// the reader is on, in buffer words (row * IFM_W*CH/SIMD + column word);
// `avail` counts the words of that image written so far (negative while the
// writer still has trailing, never-read rows of the previous image to
// consume), which lets whole images stream back to back.
//
// The reader issues one beat per cycle whenever the word it needs is written
// (or the beat is padding) and an output slot is reserved, so a window
// starts as soon as its last input pixel is in. Each beat takes one buffer
// read, so the module sustains one output beat per cycle. The read pipeline
// never stalls: a credit counter reserves room in the output FIFO at issue.
//
// Requires each padding smaller than K, and SIMD dividing CH.
module bnn_swg #(
    parameter integer IFM_H = 8,
    parameter integer IFM_W = 8,
    parameter integer CH = 4,
    parameter integer K = 3,
    parameter integer STRIDE = 1,
    parameter integer PAD_T = 1,
    parameter integer PAD_L = 1,
    parameter integer PAD_B = 1,
    parameter integer PAD_R = 1,
    parameter integer PAD_VALUE = 0,  // encoded element: a bit, or an EW-bit integer
    parameter integer SIMD = 1,
    parameter integer EW = 1
) (
    input  wire               ap_clk,
    input  wire               ap_rst_n,
    input  wire [SIMD*EW-1:0] s_axis_tdata,
    input  wire               s_axis_tvalid,
    output wire               s_axis_tready,
    output wire [SIMD*EW-1:0] m_axis_tdata,
    output wire               m_axis_tvalid,
    input  wire               m_axis_tready
);
    localparam integer W = SIMD * EW;
    localparam integer CPB = CH / SIMD;  // beats per pixel
    localparam integer OH = (IFM_H + PAD_T + PAD_B - K) / STRIDE + 1;
    localparam integer OW = (IFM_W + PAD_L + PAD_R - K) / STRIDE + 1;
    localparam integer NROWS = K + STRIDE;
    localparam integer ROWW = IFM_W * CPB;  // buffer words per image row
    localparam integer DEPTH = NROWS * ROWW;
    localparam integer WINW = K * CPB;      // consecutive words of one window row
    // Going from the last output row's top input row to the next image's first.
    localparam integer IMG_ADV = ((IFM_H - (OH - 1) * STRIDE) % NROWS + NROWS) % NROWS;
    localparam integer TOP_SLOT = (NROWS - PAD_T % NROWS) % NROWS;

    // Output FIFO: issue to credit return takes 4 cycles, so 5 slots keep the
    // reader issuing every cycle.
    localparam integer OFIFO_DEPTH = 4;

    localparam integer AW = (DEPTH > 1) ? $clog2(DEPTH) : 1;
    localparam integer JW = (WINW > 1) ? $clog2(WINW) : 1;
    localparam integer KW = (K > 1) ? $clog2(K) : 1;
    localparam integer OXW = (OW > 1) ? $clog2(OW) : 1;
    localparam integer OYW = (OH > 1) ? $clog2(OH) : 1;
    localparam integer CRW = $clog2(OFIFO_DEPTH + 2);
    // Signed row/column coordinates; wide enough for every value they take
    // (including a buffer address, so a column can index the buffer).
    localparam integer RANGE = 2 * (IFM_H + PAD_T + PAD_B + NROWS + STRIDE) * ROWW
                             + (IFM_W + PAD_L + PAD_R + K + STRIDE) * CPB + DEPTH;
    localparam integer SW = $clog2(RANGE + 1) + 2;

    localparam integer WINW_LAST_I = WINW - 1;
    localparam integer K_LAST_I = K - 1;
    localparam integer OW_LAST_I = OW - 1;
    localparam integer OH_LAST_I = OH - 1;
    localparam integer DEPTH_LAST_I = DEPTH - 1;
    localparam integer NEG_PAD_T_I = -PAD_T;
    localparam integer TOP_W_I = -PAD_T * ROWW;
    localparam integer IMG_W_I = IFM_H * ROWW;
    localparam integer BUF_W_I = NROWS * ROWW;
    localparam integer COL0_I = -PAD_L * CPB;
    localparam integer SCOL_I = STRIDE * CPB;
    localparam integer SROW_I = STRIDE * ROWW;
    localparam integer IMGROW_I = IMG_ADV * ROWW;
    localparam integer TOPROW_I = TOP_SLOT * ROWW;
    localparam [JW-1:0] WINW_LAST = WINW_LAST_I[JW-1:0];
    localparam [KW-1:0] K_LAST = K_LAST_I[KW-1:0];
    localparam [OXW-1:0] OW_LAST = OW_LAST_I[OXW-1:0];
    localparam [OYW-1:0] OH_LAST = OH_LAST_I[OYW-1:0];
    localparam [AW-1:0] DEPTH_LAST = DEPTH_LAST_I[AW-1:0];
    localparam [AW:0] DEPTH_X = DEPTH[AW:0];
    localparam [AW:0] ROWW_X = ROWW[AW:0];
    localparam [AW:0] SROW_X = SROW_I[AW:0];
    localparam [AW:0] IMGROW_X = IMGROW_I[AW:0];
    localparam [AW-1:0] TOPROW = TOPROW_I[AW-1:0];
    localparam signed [SW-1:0] S_ZERO = 0;
    localparam signed [SW-1:0] S_ONE = 1;
    localparam signed [SW-1:0] S_TOP_W = TOP_W_I[SW-1:0];
    localparam signed [SW-1:0] S_IMG_W = IMG_W_I[SW-1:0];
    localparam signed [SW-1:0] S_BUF_W = BUF_W_I[SW-1:0];
    localparam signed [SW-1:0] S_SROW = SROW_I[SW-1:0];
    localparam signed [SW-1:0] S_STRIDE = STRIDE[SW-1:0];
    localparam signed [SW-1:0] S_ROWW = ROWW[SW-1:0];
    localparam [SW-1:0] U_IFM_H = IFM_H[SW-1:0];
    localparam [SW-1:0] U_ROWW = ROWW[SW-1:0];
    localparam signed [SW-1:0] S_NEG_PAD_T = NEG_PAD_T_I[SW-1:0];
    localparam signed [SW-1:0] S_COL0 = COL0_I[SW-1:0];
    localparam signed [SW-1:0] S_SCOL = SCOL_I[SW-1:0];
    localparam [EW-1:0] PAD_ELEM = PAD_VALUE[EW-1:0];
    localparam integer CREDITS_I = OFIFO_DEPTH + 1;
    localparam [CRW-1:0] CREDITS_INIT = CREDITS_I[CRW-1:0];

    // Row-base pointers advance modulo the buffer size.
    function [AW-1:0] wrap_add(input [AW-1:0] a, input [AW:0] inc);
        reg [AW:0] s;
        begin
            s = {1'b0, a} + inc;
            wrap_add = (s >= DEPTH_X) ? s[AW-1:0] - DEPTH_X[AW-1:0] : s[AW-1:0];
        end
    endfunction

    (* ram_style = "block" *) reg [W-1:0] lbuf [0:DEPTH-1];

    // ------------------------------------------------------------------
    // Reader state: window loops (oy, ox, ky, j) with j covering the K*CPB
    // words of one window row, which are consecutive in the buffer.
    // ------------------------------------------------------------------
    reg [JW-1:0] j;
    reg [KW-1:0] ky;
    reg [OXW-1:0] ox;
    reg [OYW-1:0] oy;
    reg signed [SW-1:0] win_iy;   // input row of the window's top (ky = 0)
    reg signed [SW-1:0] cur_iy;   // input row being read
    reg signed [SW-1:0] win_pos;  // win_iy * ROWW
    reg signed [SW-1:0] cur_pos;  // cur_iy * ROWW
    reg signed [SW-1:0] win_col;  // buffer column word of the window's left edge
    reg signed [SW-1:0] cur_col;  // buffer column word being read
    reg [AW-1:0] win_rb;          // buffer address of row win_iy, column 0
    reg [AW-1:0] cur_rb;          // buffer address of row cur_iy, column 0
    reg signed [SW-1:0] avail;    // words of the reader's image written
    reg [CRW-1:0] credits;

    // Writer state: rows are written consecutively round the buffer.
    reg [AW-1:0] waddr;

    wire j_last = (j == WINW_LAST);
    wire ky_last = (ky == K_LAST);
    wire ox_last = (ox == OW_LAST);
    wire oy_last = (oy == OH_LAST);

    // Outside [0, limit) in one unsigned compare: a negative coordinate
    // reads as a number far above the limit. Same as two signed compares,
    // a fraction of the simulator's work for them.
    wire pad_row = ($unsigned(cur_iy) >= U_IFM_H);
    wire pad_col = ($unsigned(cur_col) >= U_ROWW);
    wire data_ready = pad_row || pad_col || (avail > cur_pos + cur_col);
    wire issue = data_ready && (credits != {CRW{1'b0}});
    wire img_done = issue && j_last && ky_last && ox_last && oy_last;
    wire out_fire = m_axis_tvalid && m_axis_tready;

    // The oldest row still needed is max(win_iy, 0) (here in words); its
    // slot may be reused by the row NROWS later only once the reader has
    // moved past it.
    wire signed [SW-1:0] oldest = (win_pos > S_ZERO) ? win_pos : S_ZERO;
    assign s_axis_tready = (avail < oldest + S_BUF_W);
    wire in_fire = s_axis_tvalid && s_axis_tready;

    always @(posedge ap_clk) begin
        if (in_fire) lbuf[waddr] <= s_axis_tdata;
    end

    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            waddr <= {AW{1'b0}};
        end else if (in_fire) begin
            waddr <= (waddr == DEPTH_LAST) ? {AW{1'b0}} : waddr + 1'b1;
        end
    end

    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            avail <= S_ZERO;
        end else begin
            case ({in_fire, img_done})
                2'b10: avail <= avail + S_ONE;
                2'b01: avail <= avail - S_IMG_W;
                2'b11: avail <= avail + S_ONE - S_IMG_W;
                default: ;
            endcase
        end
    end

    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            j <= {JW{1'b0}};
            ky <= {KW{1'b0}};
            ox <= {OXW{1'b0}};
            oy <= {OYW{1'b0}};
            win_iy <= S_NEG_PAD_T;
            cur_iy <= S_NEG_PAD_T;
            win_pos <= S_TOP_W;
            cur_pos <= S_TOP_W;
            win_col <= S_COL0;
            cur_col <= S_COL0;
            win_rb <= TOPROW;
            cur_rb <= TOPROW;
        end else if (issue) begin
            if (!j_last) begin
                j <= j + 1'b1;
                cur_col <= cur_col + S_ONE;
            end else begin
                j <= {JW{1'b0}};
                if (!ky_last) begin
                    ky <= ky + 1'b1;
                    cur_iy <= cur_iy + S_ONE;
                    cur_pos <= cur_pos + S_ROWW;
                    cur_rb <= wrap_add(cur_rb, ROWW_X);
                    cur_col <= win_col;
                end else begin
                    ky <= {KW{1'b0}};
                    if (!ox_last) begin
                        ox <= ox + 1'b1;
                        win_col <= win_col + S_SCOL;
                        cur_col <= win_col + S_SCOL;
                        cur_iy <= win_iy;
                        cur_pos <= win_pos;
                        cur_rb <= win_rb;
                    end else begin
                        ox <= {OXW{1'b0}};
                        win_col <= S_COL0;
                        cur_col <= S_COL0;
                        if (!oy_last) begin
                            oy <= oy + 1'b1;
                            win_iy <= win_iy + S_STRIDE;
                            cur_iy <= win_iy + S_STRIDE;
                            win_pos <= win_pos + S_SROW;
                            cur_pos <= win_pos + S_SROW;
                            win_rb <= wrap_add(win_rb, SROW_X);
                            cur_rb <= wrap_add(win_rb, SROW_X);
                        end else begin
                            oy <= {OYW{1'b0}};
                            win_iy <= S_NEG_PAD_T;
                            cur_iy <= S_NEG_PAD_T;
                            win_pos <= S_TOP_W;
                            cur_pos <= S_TOP_W;
                            win_rb <= wrap_add(win_rb, IMGROW_X);
                            cur_rb <= wrap_add(win_rb, IMGROW_X);
                        end
                    end
                end
            end
        end
    end

    always @(posedge ap_clk) begin
        if (!ap_rst_n) credits <= CREDITS_INIT;
        else if (issue && !out_fire) credits <= credits - 1'b1;
        else if (out_fire && !issue) credits <= credits + 1'b1;
    end

    // ------------------------------------------------------------------
    // Buffer read, then padding substitution on the way into the FIFO.
    // ------------------------------------------------------------------
    // Only meaningful when the beat is not padding, where cur_col is a
    // column word and the sum stays inside the buffer.
    wire [AW-1:0] raddr = cur_rb + cur_col[AW-1:0];

    reg [W-1:0] rdata;
    reg pad1, v1;
    always @(posedge ap_clk) begin
        if (issue) rdata <= lbuf[raddr];
        pad1 <= pad_row || pad_col;
    end

    always @(posedge ap_clk) begin
        if (!ap_rst_n) v1 <= 1'b0;
        else v1 <= issue;
    end

    /* verilator lint_off PINCONNECTEMPTY */
    // Credits guarantee a free slot for every write.
    bnn_fifo #(
        .WIDTH(W),
        .DEPTH(OFIFO_DEPTH)
    ) u_ofifo (
        .ap_clk(ap_clk),
        .ap_rst_n(ap_rst_n),
        .s_axis_tdata(pad1 ? {SIMD{PAD_ELEM}} : rdata),
        .s_axis_tvalid(v1),
        .s_axis_tready(),
        .m_axis_tdata(m_axis_tdata),
        .m_axis_tvalid(m_axis_tvalid),
        .m_axis_tready(m_axis_tready)
    );
    /* verilator lint_on PINCONNECTEMPTY */
endmodule
