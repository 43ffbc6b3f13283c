/* The direct 3x3 "same" stride-1 convolution for few channels (both counts up to 64), over the vocabulary of
   KernelBodies.h (included after it by KernelsAVX2.c and KernelsAVX512.c, inside their target regions).
   Letters: C input channels, O output channels, H x W one image's plane, Wp a padded row's floats.

   Forward, y (O, H, W) = sum over c, ky, kx of w[o, c, ky, kx] * x[c, oy + ky - 1, ox + kx - 1] + bias[o]:
   vectors run along a row's pixels, so every load of x serves four output channels (their weights broadcast) and
   every weight PV vectors of pixels; 4 x PV sums stay in registers over all C * 9 taps. The input rows are first
   copied into a ring of zero-padded rows (P[u] = x[u - 1], zero outside 0..<W), so each tap is one plain load,
   and rows above or below the plane read a row of zeros: no masks, no branches in the taps' loop.

   Weight gradient, dw[o, c, ky, kx] = sum over the pixels of dy[o, oy, ox] * x[c, oy + ky - 1, ox + kx - 1]: the
   same padded rows of x (and padded rows of dy, zero past W), vectors along the pixels, OBW output channels x 3
   taps (kx) summed in registers per (c, ky) over a block of rows (AVX2), or 3 output channels x all 9 taps per c
   (AVX-512, `conv_wg_item3`), then each sum's lanes added in a fixed order and the total added to a double
   accumulator.

   Every output is summed in one fixed order that does not depend on how rows are split among threads (forward)
   or depends only on the rows given to each call (weight gradient), so the results repeat bit for bit. */

#ifndef INLINE
#define INLINE static inline __attribute__((always_inline))
#endif

#if VL == 16
#define CONV_PV_MAX 6 /* 4 x 6 sums + 6 loaded vectors of AVX-512's 32 registers */
#define CONV_OBW 8    /* weight gradient: 8 x 3 sums + 3 loaded vectors + dy */
#else
#define CONV_PV_MAX 2 /* 4 x 2 sums + 2 loaded vectors + a weight of AVX2's 16 (4 x 3 spilled: half the speed) */
#define CONV_OBW 4    /* 4 x 3 sums + 3 loaded vectors + dy */
#endif

/* Floats of one padded row: the last vector's taps read up to two floats past it. */
INLINE int FN(conv_padded_row)(int W) { return (W + VL - 1) / VL * VL + VL; }

/* P[0] = 0, P[1 + u] = row[u] for u < W, zeros after, for Wp floats; nil row: all zeros. */
INLINE void FN(conv_fill_row)(const float *row, int W, int Wp, float *P) {
    if (!row) {
        for (int u = 0; u < Wp; u += VL) vstore(P + u, vzero());
        return;
    }
    for (int u = 0; u < Wp; u += VL) {
        const int b = u - 1; /* P[u + l] = row[b + l] */
        vstore(P + u, b >= 0 && b + VL <= W ? vload(row + b) : vmload(row + b, mrange(-b, W - b)));
    }
}

/* One strip of PV vectors at column ox of output row oy, output channels 4*ob ..< 4*ob + 4 (those below O stored).
   rows[ky][c] is input row oy + ky - 1 of channel c, padded. wp (4-blocks of output channels) is
   [ob][c][ky][kx][4]. */
INLINE void FN(conv_strip)(const float *const *rows0, const float *const *rows1, const float *const *rows2, int C,
                           const float *wp, int ob, int O, const float *bias, bool relu, float *y, long plane, int W,
                           int oy, int ox, const int PV) {
    V acc[4][CONV_PV_MAX];
    for (int o = 0; o < 4; o++) {
        const int oc = 4 * ob + o;
        const V b = vset1(bias && oc < O ? bias[oc] : 0.0f);
        for (int v = 0; v < PV; v++) acc[o][v] = b;
    }
    const float *w = wp + (long)ob * C * 36;
    for (int c = 0; c < C; c++) {
        const float *r[3] = {rows0[c] + ox, rows1[c] + ox, rows2[c] + ox};
        for (int ky = 0; ky < 3; ky++) {
            for (int kx = 0; kx < 3; kx++) {
                V xv[CONV_PV_MAX];
                for (int v = 0; v < PV; v++) xv[v] = vload(r[ky] + v * VL + kx);
                const float *wt = w + (c * 9 + ky * 3 + kx) * 4;
                for (int o = 0; o < 4; o++) {
                    const V wv = vset1(wt[o]);
                    for (int v = 0; v < PV; v++) acc[o][v] = vfma(xv[v], wv, acc[o][v]);
                }
            }
        }
    }
    for (int o = 0; o < 4; o++) {
        const int oc = 4 * ob + o;
        if (oc >= O) break;
        float *yr = y + oc * plane + (long)oy * W + ox;
        for (int v = 0; v < PV; v++) {
            V s = acc[o][v];
            if (relu) s = vsel(vlt(s, vzero()), s, vzero());
            const int col = ox + v * VL;
            if (col + VL <= W) vstore(yr + v * VL, s);
            else vmstore(yr + v * VL, mrange(0, W - col), s);
        }
    }
}

INLINE size_t FN(conv_forward_scratch)(int C, int W) { return (size_t)(3 * C + 1) * FN(conv_padded_row)(W); }

static void FN(conv_forward)(const float *x, int C, int H, int W, const float *wp, int O, const float *bias,
                             bool relu, float *y, int row0, int row1, float *scratch) {
    const int Wp = FN(conv_padded_row)(W);
    const long plane = (long)H * W;
    float *zero = scratch + (size_t)3 * C * Wp;
    FN(conv_fill_row)(0, W, Wp, zero);
    int slotRow[3] = {-2, -2, -2}; /* which input row each ring slot holds */
    const float *rows[3][64];
    const int vectors = (W + VL - 1) / VL, blocks = (O + 3) / 4;
    for (int oy = row0; oy < row1; oy++) {
        for (int ky = 0; ky < 3; ky++) {
            const int iy = oy + ky - 1;
            if (iy < 0 || iy >= H) {
                for (int c = 0; c < C; c++) rows[ky][c] = zero;
                continue;
            }
            const int slot = iy % 3;
            float *base = scratch + (size_t)slot * C * Wp;
            if (slotRow[slot] != iy) {
                for (int c = 0; c < C; c++) FN(conv_fill_row)(x + c * plane + (long)iy * W, W, Wp, base + c * Wp);
                slotRow[slot] = iy;
            }
            for (int c = 0; c < C; c++) rows[ky][c] = base + c * Wp;
        }
        /* The row's vectors in strips of near-equal width (a 128-pixel row's 8 vectors as 4 + 4, not 6 + 2): a
           narrow strip has few independent sums for the multiply-adds' latency and reloads each weight for few
           of them. Each output's sum runs over the same taps in the same order whatever the strip, so the bits do
           not depend on the split. */
        const int strips = (vectors + CONV_PV_MAX - 1) / CONV_PV_MAX;
        for (int s = 0, v0 = 0; s < strips; s++) {
            const int pv = vectors / strips + (s < vectors % strips ? 1 : 0), ox = v0 * VL;
            v0 += pv;
            for (int ob = 0; ob < blocks; ob++) {
                switch (pv) {
#define STRIP(n)                                                                                                   \
    case n: FN(conv_strip)(rows[0], rows[1], rows[2], C, wp, ob, O, bias, relu, y, plane, W, oy, ox, n); break;
                    STRIP(1)
                    STRIP(2)
#if CONV_PV_MAX > 2
                    STRIP(3)
                    STRIP(4)
                    STRIP(5)
                    STRIP(6)
#endif
#undef STRIP
                }
            }
        }
    }
}

bool FN(unet_conv3x3_forward)(const float *x, int C, int H, int W, const float *wp, int O, const float *bias,
                              bool relu, float *y, int row0, int row1, float *scratch) {
    if (C < 1 || C > 64 || O < 1 || O > 64 || W < 1 || H < 1) return false;
    FN(conv_forward)(x, C, H, W, wp, O, bias, relu, y, row0, row1, scratch);
    return true;
}

/* The weight gradient's sums for input channel c, kernel row ky and the N output channels first ..< first + N over
   the output rows of one block: xr[r] the padded input row (block row r) + ky - 1 of channel c, dr[o * rows + r]
   output channel o's dy in block row r. Adds each tap's total into acc (O, C, 3, 3) in double. */
INLINE void FN(conv_wg_item)(const float *const *xr, const float *const *dr, int rows, int vectors, int c, int ky,
                             int first, int C, double *acc, const int N) {
    V a[CONV_OBW][3];
    for (int o = 0; o < N; o++)
        for (int kx = 0; kx < 3; kx++) a[o][kx] = vzero();
    for (int r = 0; r < rows; r++) {
        const float *p = xr[r];
        const float *d[CONV_OBW];
        for (int o = 0; o < N; o++) d[o] = dr[(first + o) * rows + r];
        for (int v = 0; v < vectors; v++) {
            const V x0 = vload(p + v * VL), x1 = vload(p + v * VL + 1), x2 = vload(p + v * VL + 2);
            for (int o = 0; o < N; o++) {
                const V dv = vload(d[o] + v * VL);
                a[o][0] = vfma(dv, x0, a[o][0]);
                a[o][1] = vfma(dv, x1, a[o][1]);
                a[o][2] = vfma(dv, x2, a[o][2]);
            }
        }
    }
    for (int o = 0; o < N; o++)
        for (int kx = 0; kx < 3; kx++) acc[(((long)(first + o) * C + c) * 3 + ky) * 3 + kx] += (double)vhsum(a[o][kx]);
}

#if VL == 16
/* AVX-512's weight-gradient item: input channel c, all three kernel rows and the N (up to 3) output channels
   first ..< first + N, 3 x 3 x N sums in registers (27 + 3 dy vectors + 1 x vector of the 32). Per vector of
   pixels it loads N dy vectors for 9N multiply-adds, where `conv_wg_item` loads 8 for 24: the dy rows of a block
   do not fit in L1, so each of those loads came from L2, and at two multiply-adds a cycle that was more than L2
   delivers (the kernel ran at 60 GFLOP/s on one core of a Xeon family 6 model 167, the forward at 90). Each tap
   is summed over the same rows and vectors in the same order as in `conv_wg_item`, so the bits are the same. */
INLINE void FN(conv_wg_item3)(const float *const *xr, const float *const *dr, int rows, int vectors, int c,
                              int first, int C, double *acc, const int N) {
    V a[3][3][3];
    for (int o = 0; o < N; o++)
        for (int ky = 0; ky < 3; ky++)
            for (int kx = 0; kx < 3; kx++) a[o][ky][kx] = vzero();
    for (int r = 0; r < rows; r++) {
        const float *p[3] = {xr[r], xr[r + 1], xr[r + 2]};
        const float *d[3];
        for (int o = 0; o < N; o++) d[o] = dr[(first + o) * rows + r];
        for (int v = 0; v < vectors; v++) {
            V dv[3];
            for (int o = 0; o < N; o++) dv[o] = vload(d[o] + v * VL);
            for (int ky = 0; ky < 3; ky++)
                for (int kx = 0; kx < 3; kx++) {
                    const V xv = vload(p[ky] + v * VL + kx);
                    for (int o = 0; o < N; o++) a[o][ky][kx] = vfma(dv[o], xv, a[o][ky][kx]);
                }
        }
    }
    for (int o = 0; o < N; o++)
        for (int ky = 0; ky < 3; ky++)
            for (int kx = 0; kx < 3; kx++)
                acc[(((long)(first + o) * C + c) * 3 + ky) * 3 + kx] += (double)vhsum(a[o][ky][kx]);
}
#endif

/* Rows of one block: its padded x rows (C * (R + 2)) and dy rows (O * R) within about 1 MiB (a Zen 5 core's L2): each
   block ends in 3 * O * C lane sums, which at 16 KiB blocks cost a fifth of the gradient at 48 -> 24 channels. */
INLINE int FN(conv_wg_block_rows)(int C, int O, int W) {
    const int Wp = FN(conv_padded_row)(W);
    int r = (256 << 10) / ((C + O) * Wp);
    return r < 1 ? 1 : r > 32 ? 32 : r;
}

INLINE size_t FN(conv_wg_scratch)(int C, int O, int W) {
    const int R = FN(conv_wg_block_rows)(C, O, W);
    return (size_t)(C * (R + 2) + O * R) * FN(conv_padded_row)(W);
}

bool FN(unet_conv3x3_weight_gradient)(const float *x, const float *dy, int C, int H, int W, int O, int row0,
                                      int row1, double *acc, float *scratch) {
    if (C < 1 || C > 64 || O < 1 || O > 64 || W < 1 || H < 1) return false;
    const int Wp = FN(conv_padded_row)(W), R = FN(conv_wg_block_rows)(C, O, W), vectors = (W + VL - 1) / VL;
    const long plane = (long)H * W;
    float *xs = scratch, *ds = scratch + (size_t)C * (R + 2) * Wp;
    const float *xr[34];
    const float *dr[64 * 32];
    for (int b0 = row0; b0 < row1; b0 += R) {
        const int rows = row1 - b0 < R ? row1 - b0 : R;
        /* x rows b0 - 1 ..< b0 + rows + 1 of every channel, dy rows b0 ..< b0 + rows of every output channel. */
        for (int c = 0; c < C; c++)
            for (int i = 0; i < rows + 2; i++) {
                const int iy = b0 - 1 + i;
                float *P = xs + ((size_t)c * (R + 2) + i) * Wp;
                if (iy < 0 || iy >= H) FN(conv_fill_row)(0, W, Wp, P);
                else FN(conv_fill_row)(x + c * plane + (long)iy * W, W, Wp, P);
            }
        for (int o = 0; o < O; o++)
            for (int i = 0; i < rows; i++) {
                float *P = ds + ((size_t)o * R + i) * Wp;
                /* P[u] = dy[u], zeros past W: aligned like the block, so dy's loads (most of the loop's) never
                   split a cache line (a copy padded on the left as x's made them all split: 10-15% slower at
                   48 -> 24 channels on one thread) */
                const float *row = dy + o * plane + (long)(b0 + i) * W;
                for (int u = 0; u < Wp; u += VL)
                    vstore(P + u, u + VL <= W ? vload(row + u) : vmload(row + u, mrange(0, W - u)));
                dr[o * rows + i] = P;
            }
#if VL == 16
        for (int c = 0; c < C; c++) {
            for (int i = 0; i < rows + 2; i++) xr[i] = xs + ((size_t)c * (R + 2) + i) * Wp;
            for (int first = 0; first < O; first += 3) {
                switch (O - first < 3 ? O - first : 3) {
                case 1: FN(conv_wg_item3)(xr, dr, rows, vectors, c, first, C, acc, 1); break;
                case 2: FN(conv_wg_item3)(xr, dr, rows, vectors, c, first, C, acc, 2); break;
                case 3: FN(conv_wg_item3)(xr, dr, rows, vectors, c, first, C, acc, 3); break;
                }
            }
        }
#else
        for (int c = 0; c < C; c++)
            for (int ky = 0; ky < 3; ky++) {
                for (int i = 0; i < rows; i++) xr[i] = xs + ((size_t)c * (R + 2) + i + ky) * Wp;
                for (int first = 0; first < O; first += CONV_OBW) {
                    switch (O - first < CONV_OBW ? O - first : CONV_OBW) {
#define ITEM(n)                                                                                                    \
    case n: FN(conv_wg_item)(xr, dr, rows, vectors, c, ky, first, C, acc, n); break;
                        ITEM(1)
                        ITEM(2)
                        ITEM(3)
                        ITEM(4)
#if CONV_OBW > 4
                        ITEM(5)
                        ITEM(6)
                        ITEM(7)
                        ITEM(8)
#endif
#undef ITEM
                    }
                }
            }
#endif
    }
    return true;
}

size_t FN(unet_conv3x3_forward_scratch)(int C, int W) { return FN(conv_forward_scratch)(C, W); }
size_t FN(unet_conv3x3_weight_gradient_scratch)(int C, int O, int W) { return FN(conv_wg_scratch)(C, O, W); }
