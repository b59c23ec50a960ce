// Whole-window sliding-window generator for a channels-last image: for every
// output pixel, in raster order, it emits its K*K*CH window in one beat,
// element (ky*K + kx)*CH + c at bits [((ky*K + kx)*CH + c)*EW +: EW], with
// the padding generated here rather than stored or received. Where bnn_swg
// streams a window SIMD elements per beat, this one keeps a thin-channel
// convolution (a one-channel 8-bit image stem) at one output pixel per cycle.
//
// It walks the padded image one position per cycle in raster order: a
// position inside the image takes one input pixel, a padding position
// takes PAD_VALUE without waiting for the input. A column memory of one
// word per padded column holds that column's K-1 previous rows; the word is
// read as the position issues (a registered read, so wide or long rows may
// map to block RAM), joined with the new pixel into the position's window
// column and, without its oldest row, written back the next cycle. That
// write never meets a read of the same word: the next read is of the next
// column, and a padded row is at least K >= 2 columns wide. The window is a
// shift register of the K-1 previous columns next to the new one.
//
// Windows are only taken where they are complete and on the stride, which
// also means stale rows and columns left from the previous image or row are
// never emitted, so images stream back to back without a flush. Rows and
// columns that do not fit a whole stride are walked but give no window.
//
// The walk never stalls between the memory read and the write-back: a
// credit counter reserves a slot in the output FIFO for every window at
// issue, so a position waits only for its input pixel or a free slot. In
// steady state an image takes exactly (IFM_H+PAD_T+PAD_B)*(IFM_W+PAD_L+PAD_R)
// cycles.
//
// Requires K >= 2 and each padding smaller than K.
module bnn_swg_parallel #(
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
    parameter integer EW = 1
) (
    input  wire                   ap_clk,
    input  wire                   ap_rst_n,
    input  wire [CH*EW-1:0]       s_axis_tdata,
    input  wire                   s_axis_tvalid,
    output wire                   s_axis_tready,
    output wire [K*K*CH*EW-1:0]   m_axis_tdata,
    output wire                   m_axis_tvalid,
    input  wire                   m_axis_tready
);
    localparam integer PW = CH * EW;      // one pixel
    localparam integer COLW = K * PW;     // one window column, rows ky = 0..K-1
    localparam integer WINW = K * COLW;
    localparam integer MEMW = COLW - PW;  // a column's K-1 previous rows
    localparam integer HP = IFM_H + PAD_T + PAD_B;
    localparam integer WP = IFM_W + PAD_L + PAD_R;
    localparam integer OH = (HP - K) / STRIDE + 1;
    localparam integer OW = (WP - K) / STRIDE + 1;

    // Output FIFO: issue to credit return takes 4 cycles (memory read, FIFO
    // write, FIFO output register, credit update), so 3 words plus the
    // output register keep a run of windows going one per cycle.
    localparam integer OFIFO_DEPTH = 3;

    localparam integer XW = $clog2(WP);  // WP >= K >= 2
    localparam integer YW = $clog2(HP);
    localparam integer PHASE = (K > STRIDE) ? K : STRIDE;
    localparam integer CW = (PHASE > 1) ? $clog2(PHASE) : 1;
    localparam integer CRW = $clog2(OFIFO_DEPTH + 2);

    localparam integer WP_LAST_I = WP - 1;
    localparam integer HP_LAST_I = HP - 1;
    // Just past the last column and row a window ends on; those beyond are
    // cropped.
    localparam integer X_STOP_I = K + (OW - 1) * STRIDE;
    localparam integer Y_STOP_I = K + (OH - 1) * STRIDE;
    localparam integer K_LAST_I = K - 1;
    localparam integer S_LAST_I = STRIDE - 1;
    localparam integer CREDITS_I = OFIFO_DEPTH + 1;
    localparam [XW-1:0] WP_LAST = WP_LAST_I[XW-1:0];
    localparam [YW-1:0] HP_LAST = HP_LAST_I[YW-1:0];
    localparam [CW-1:0] K_LAST = K_LAST_I[CW-1:0];
    localparam [CW-1:0] S_LAST = S_LAST_I[CW-1:0];
    // Image bounds one bit wider than the position: a position before the
    // image start wraps to a number far above the image size.
    localparam [XW:0] PAD_L_X = PAD_L[XW:0];
    localparam [XW:0] IFM_W_X = IFM_W[XW:0];
    localparam [YW:0] PAD_T_X = PAD_T[YW:0];
    localparam [YW:0] IFM_H_X = IFM_H[YW:0];
    localparam [XW:0] X_STOP_X = X_STOP_I[XW:0];
    localparam [YW:0] Y_STOP_X = Y_STOP_I[YW:0];
    localparam [EW-1:0] PAD_ELEM = PAD_VALUE[EW-1:0];
    localparam [CRW-1:0] CREDITS_INIT = CREDITS_I[CRW-1:0];

    // ------------------------------------------------------------------
    // The walk: position (py, px) of the padded image, and the phases
    // counting down to the next row and column a window ends on.
    // ------------------------------------------------------------------
    reg [XW-1:0] px;
    reg [YW-1:0] py;
    reg [CW-1:0] xph;
    reg [CW-1:0] yph;
    reg [CRW-1:0] credits;

    wire x_last = (px == WP_LAST);
    wire y_last = (py == HP_LAST);
    wire [XW:0] ix = {1'b0, px} - PAD_L_X;
    wire [YW:0] iy = {1'b0, py} - PAD_T_X;
    wire in_img = (ix < IFM_W_X) && (iy < IFM_H_X);
    wire emit = (xph == {CW{1'b0}}) && (yph == {CW{1'b0}})
             && ({1'b0, px} < X_STOP_X) && ({1'b0, py} < Y_STOP_X);
    wire slot = !emit || (credits != {CRW{1'b0}});
    assign s_axis_tready = in_img && slot;
    wire issue = slot && (s_axis_tvalid || !in_img);
    wire out_fire = m_axis_tvalid && m_axis_tready;

    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            px <= {XW{1'b0}};
            py <= {YW{1'b0}};
            xph <= K_LAST;
            yph <= K_LAST;
        end else if (issue) begin
            if (!x_last) begin
                px <= px + 1'b1;
                xph <= (xph == {CW{1'b0}}) ? S_LAST : xph - 1'b1;
            end else begin
                px <= {XW{1'b0}};
                xph <= K_LAST;
                if (!y_last) begin
                    py <= py + 1'b1;
                    yph <= (yph == {CW{1'b0}}) ? S_LAST : yph - 1'b1;
                end else begin
                    py <= {YW{1'b0}};
                    yph <= K_LAST;
                end
            end
        end
    end

    always @(posedge ap_clk) begin
        if (!ap_rst_n) credits <= CREDITS_INIT;
        else if (issue && emit && !out_fire) credits <= credits - 1'b1;
        else if (out_fire && !(issue && emit)) credits <= credits + 1'b1;
    end

    // ------------------------------------------------------------------
    // Column memory and window. Data registers load every cycle: they are
    // only used the cycle after an issue, when they hold its values.
    // ------------------------------------------------------------------
    reg [MEMW-1:0] cmem [0:WP-1];
    reg [MEMW-1:0] rdata;  // rows py-K+1 .. py-1 of column px, oldest lowest
    reg [PW-1:0] pix1;
    reg [XW-1:0] px1;
    reg v1, e1;
    reg [WINW-COLW-1:0] win;  // the K-1 previous columns, oldest lowest

    always @(posedge ap_clk) begin
        rdata <= cmem[px];
        pix1 <= in_img ? s_axis_tdata : {CH{PAD_ELEM}};
        px1 <= px;
    end

    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            v1 <= 1'b0;
            e1 <= 1'b0;
        end else begin
            v1 <= issue;
            e1 <= issue && emit;
        end
    end

    wire [COLW-1:0] col = {pix1, rdata};
    // Column kx at [kx*COLW +: COLW], the newest (kx = K-1) on top.
    wire [WINW-1:0] window = {col, win};

    always @(posedge ap_clk) begin
        if (v1) begin
            cmem[px1] <= col[COLW-1:PW];
            win <= window[WINW-1:COLW];
        end
    end

    // Column-major to the (ky, kx, c) order of the output: wiring only.
    wire [WINW-1:0] odata;
    genvar gy, gx;
    generate
        for (gy = 0; gy < K; gy = gy + 1) begin : g_row
            for (gx = 0; gx < K; gx = gx + 1) begin : g_col
                assign odata[(gy*K + gx)*PW +: PW] = window[gx*COLW + gy*PW +: PW];
            end
        end
    endgenerate

    /* verilator lint_off PINCONNECTEMPTY */
    // Credits guarantee a free slot for every write.
    bnn_fifo #(
        .WIDTH(WINW),
        .DEPTH(OFIFO_DEPTH)
    ) u_ofifo (
        .ap_clk(ap_clk),
        .ap_rst_n(ap_rst_n),
        .s_axis_tdata(odata),
        .s_axis_tvalid(e1),
        .s_axis_tready(),
        .m_axis_tdata(m_axis_tdata),
        .m_axis_tvalid(m_axis_tvalid),
        .m_axis_tready(m_axis_tready)
    );
    /* verilator lint_on PINCONNECTEMPTY */
endmodule
