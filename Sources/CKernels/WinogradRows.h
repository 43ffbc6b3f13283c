/* Winograd F(4x4, 3x3) for a 3x3 "same" stride-1 convolution, fused row by row, for AVX-512 (included by
   KernelsAVX512.c after ConvBodies.h, inside its target region; it needs VL == 16 and two-source permutes).
   Letters: C input channels, O output channels, H x W one image's plane, S segments of 16 tiles (64 pixels) across
   a row, Wp a padded row's floats, ξ = 6i + j one of the 6x6 points of a tile.

   One call takes whole rows of 4x4 output tiles of one image through all three stages while the data is in L1/L2:
   for each segment of 16 tiles, (1) V_ξ (C, 16) = Bᵀ d B of the 16 tiles' 6x6 input patches, one tile per lane,
   (2) M_ξ (O, 16) = U_ξ (O, C) · V_ξ, each output channel's 16 sums in a register and U broadcast from memory, and
   (3) y = Aᵀ M A (+ bias, max(·, 0)) written back as four rows of 64 pixels. The lanes run across tiles, so a
   tile's patch column j is every fourth pixel of a row: four vectors of a padded row are de-interleaved by
   two-source permutes into the columns 0-3 and shifted by one lane for 4 and 5; the output is re-interleaved the
   same way. Rows of at most 8 tiles (32 pixels) put two tile rows in one vector instead, lanes 0-7 and 8-15, and
   rows of at most 4 tiles four (a 16x16 image's whole width in each quarter).
   The blocked Swift driver (`winogradConvolveInBlocks`) instead transforms eight tiles at a time through
   scattered loads and stores and calls sgemm for each of the 36 small products, whose call overhead and packing
   dominated at 16 channels.

   U is `winogradTransformKernels`' (36, O, C) layout, so the kernel cache and the flipped kernels of the input
   gradient serve both drivers. Every output is one thread's sum over c in order, then the fixed transform: the
   bits do not depend on how rows are split among calls. */

#define WR_SEG 64 /* pixels (16 tiles of 4) per segment */

/* Floats of one padded row: P[1 + u] = row[u], zeros elsewhere, with room for the last segment's 6th column. */
static inline int wr_padded_row(int W) { return (W + WR_SEG - 1) / WR_SEG * WR_SEG + 2 * VL; }

size_t unet_winograd_rows_scratch_avx512(int C, int O, int W) {
    return (size_t)18 * C * wr_padded_row(W) + (size_t)36 * C * VL + (size_t)36 * O * VL + 36 * VL;
}

/* Bᵀ d along six vectors: Winograd.swift's `inputTransform`, with its products by 4, 5 and 2 folded into
   multiply-adds (14 operations, not 24: the transforms are most of the work at 16 channels). */
#define WR_BT(d0, d1, d2, d3, d4, d5, r, rs)                                                                     \
    do {                                                                                                         \
        const V s12 = vadd(d1, d2), s34 = vadd(d3, d4), t12 = vsub(d1, d2), t43 = vsub(d4, d3);                  \
        const V t31 = vsub(d3, d1), t42 = vsub(d4, d2);                                                          \
        (r)[0] = vfma(vset1(4), d0, vfnma(vset1(5), d2, d4));                                                    \
        (r)[rs] = vfma(vset1(-4), s12, s34);                                                                     \
        (r)[2 * (rs)] = vfma(vset1(4), t12, t43);                                                                \
        (r)[3 * (rs)] = vfma(vset1(2), t31, t42);                                                                \
        (r)[4 * (rs)] = vfnma(vset1(2), t31, t42);                                                               \
        (r)[5 * (rs)] = vfma(vset1(4), d1, vfnma(vset1(5), d3, d5));                                             \
    } while (0)

/* Aᵀ m along six vectors: Winograd.swift's `outputTransform`, its products by 2, 4 and 8 as multiply-adds. */
#define WR_AT(m0, m1, m2, m3, m4, m5, r0, r1, r2, r3)                                                            \
    do {                                                                                                         \
        const V s12 = vadd(m1, m2), d12 = vsub(m1, m2), s34 = vadd(m3, m4), d34 = vsub(m3, m4);                  \
        r0 = vadd(vadd(m0, s12), s34);                                                                           \
        r1 = vfma(vset1(2), d34, d12);                                                                           \
        r2 = vfma(vset1(4), s34, s12);                                                                           \
        r3 = vadd(vfma(vset1(8), d34, d12), m5);                                                                 \
    } while (0)

/* col[j][t] = the (4t + j)-th of the 64 floats a[0] a[1] a[2] a[3], j < 4: every fourth float, by two-source
   permutes (tiles of 4 pixels to one lane each). */
static inline __attribute__((always_inline)) void wr_deinterleave(const V a[4], V col[4]) {
    const __m512i i01 = _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 1, 5, 9, 13, 17, 21, 25, 29);
    const __m512i i23 = _mm512_setr_epi32(2, 6, 10, 14, 18, 22, 26, 30, 3, 7, 11, 15, 19, 23, 27, 31);
    const __m512i lo = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
    const __m512i hi = _mm512_setr_epi32(8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
    const V e01 = _mm512_permutex2var_ps(a[0], i01, a[1]), e23 = _mm512_permutex2var_ps(a[0], i23, a[1]);
    const V f01 = _mm512_permutex2var_ps(a[2], i01, a[3]), f23 = _mm512_permutex2var_ps(a[2], i23, a[3]);
    col[0] = _mm512_permutex2var_ps(e01, lo, f01);
    col[1] = _mm512_permutex2var_ps(e01, hi, f01);
    col[2] = _mm512_permutex2var_ps(e23, lo, f23);
    col[3] = _mm512_permutex2var_ps(e23, hi, f23);
}

/* The six patch columns of 16 tiles, col[j][lane] = the patch's column j of the lane's tile, from padded rows
   p(g) = p + g·gs, g < G: one row of 16 tiles (G = 1, p the segment's first float), or G tile rows of 16 / G tiles
   each (G = 2 or 4: rows of at most 8 or 4 tiles, p(g) the same patch row of tile row g, lanes 16g/G ..< 16(g+1)/G).
   Each tile's patch column j is every fourth float from 4t + j: four vectors of 64 floats (G = 1), 32 from each of
   two rows or 16 from each of four, de-interleaved by two-source permutes into columns 0-3; columns 4 and 5 are 0
   and 1 shifted by one lane, the last lane of each row of tiles taking that row's next floats. The rows come as a
   base and a stride, not an array of pointers: the compiler built such an array with vector stores and read it back
   with scalar loads, a store-forwarding stall on every patch row (a tenth of the forward at 16 channels). */
static inline __attribute__((always_inline)) void wr_columns(const float *p, long gs, V col[6], const int G) {
    const int slot = 64 / G; /* floats of one tile row's share */
    V a[4];
    for (int k = 0; k < 4; k++) a[k] = vload(p + (k * G / 4) * gs + (k % (4 / G)) * 16);
    wr_deinterleave(a, col);
    /* col[4][t] = col[0][t + 1], col[5][t] = col[1][t + 1]; the last lane takes the last row's floats slot and
       slot + 1, and the last lane of each earlier row of tiles its own row's. */
    const float *last = p + (G - 1) * gs + slot;
    col[4] = _mm512_castsi512_ps(
        _mm512_alignr_epi32(_mm512_castps_si512(vload(last)), _mm512_castps_si512(col[0]), 1));
    col[5] = _mm512_castsi512_ps(
        _mm512_alignr_epi32(_mm512_castps_si512(vload(last + 1)), _mm512_castps_si512(col[1]), 1));
    for (int g = 0; g + 1 < G; g++) {
        const __mmask16 lane = (__mmask16)(1u << (16 / G * (g + 1) - 1));
        col[4] = _mm512_mask_mov_ps(col[4], lane, vset1(p[g * gs + slot]));
        col[5] = _mm512_mask_mov_ps(col[5], lane, vset1(p[g * gs + slot + 1]));
    }
}

/* Pixels 16k ..< 16k + 16 of a 64-pixel output row from its four tile columns q[j][t] (pixel 4t + j). */
static inline __attribute__((always_inline)) void wr_interleave(const V q[4], V out[4]) {
    const V ab0 = vziplo(q[0], q[1]), ab1 = vziphi(q[0], q[1]); /* a0 b0 a1 b1 ... */
    const V cd0 = vziplo(q[2], q[3]), cd1 = vziphi(q[2], q[3]);
    const __m512i lo = _mm512_setr_epi32(0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23);
    const __m512i hi = _mm512_setr_epi32(8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31);
    out[0] = _mm512_permutex2var_ps(ab0, lo, cd0);
    out[1] = _mm512_permutex2var_ps(ab0, hi, cd0);
    out[2] = _mm512_permutex2var_ps(ab1, lo, cd1);
    out[3] = _mm512_permutex2var_ps(ab1, hi, cd1);
}

/* M_ξ for output channels o0 ..< o0 + N: m[(ξ O + o) 16 + lane] = Σ_c U[ξ, o, c] V[ξ, c, lane]. */
static inline __attribute__((always_inline)) void wr_products(const float *u, const float *v, int C, int O, int o0,
                                                              float *m, const int N) {
    for (int xi = 0; xi < 36; xi++) {
        V acc[16];
        for (int k = 0; k < N; k++) acc[k] = vzero();
        const float *ux = u + ((long)xi * O + o0) * C, *vx = v + (long)xi * C * VL;
        for (int c = 0; c < C; c++) {
            const V vc = vload(vx + c * VL);
            for (int k = 0; k < N; k++) acc[k] = vfma(vset1(ux[k * C + c]), vc, acc[k]);
        }
        for (int k = 0; k < N; k++) vstore(m + ((long)xi * O + o0 + k) * VL, acc[k]);
    }
}

/* The input rows of tile rows tr ..< tr + G, rows [i][c] = padded row 4 tr + i - 1 of channel c (zeros outside). */
static inline __attribute__((always_inline)) void wr_fill_rows(const float *x, int C, int H, int W, int Wp, int tr,
                                                               float *rows, const int G) {
    const long plane = (long)H * W;
    for (int i = 0; i < 6 + 4 * (G - 1); i++) {
        const int iy = 4 * tr + i - 1;
        for (int c = 0; c < C; c++)
            FN(conv_fill_row)(iy < 0 || iy >= H ? 0 : x + c * plane + (long)iy * W, W, Wp, rows + ((size_t)i * C + c) * Wp);
    }
}

/* Asks for rows iy0 ..< iy0 + n of each of C planes ahead of their use, a prefetch a cache line (rows outside the
   plane skipped). The row copies above and the weight gradient's dy loads waited on memory otherwise: `perf
   annotate` on the pneumonia U-Net's training (Zen 5) put a fifth of wr_forward's samples and two fifths of
   wr_weight_gradient's on the loads of the first touch of a row. With these, `--model-run pneumonia-16-128 train`
   alternated five times: 186.7 / 189.7 / 187.2 / 190.1 / 194.4 -> 190.5 / 192.8 / 189.1 / 196.9 / 197.4 images/s. */
static inline void wr_prefetch_rows(const float *x, int C, int H, int W, int iy0, int n) {
    if (iy0 < 0) n += iy0, iy0 = 0;
    if (iy0 + n > H) n = H - iy0;
    if (n <= 0) return;
    const long plane = (long)H * W;
    for (int c = 0; c < C; c++) FN(prefetch_row)(x + c * plane + (long)iy0 * W, n * W); /* a channel's rows are one span */
}

/* (1) V: v[(ξ stride + c) 16 + lane] = (Bᵀ d B)_ξ of channel c's patch of the lane's tile, for the segment at
   pixel base of the rows `wr_fill_rows` made; t: 36 vectors of scratch. */
static inline __attribute__((always_inline)) void wr_input_transform(const float *rows, int C, int Wp, int base,
                                                                     float *v, int stride, V *t, const int G) {
    for (int c = 0; c < C; c++) {
        for (int i = 0; i < 6; i++) {
            V col[6]; /* tile row g's patch row i is the group's row i + 4g */
            wr_columns(rows + ((size_t)i * C + c) * Wp + base, (long)4 * C * Wp, col, G);
            WR_BT(col[0], col[1], col[2], col[3], col[4], col[5], t + i * 6, 1); /* t[i][·] = (d B)[i][·] */
        }
        for (int j = 0; j < 6; j++) {
            V r[6];
            WR_BT(t[j], t[6 + j], t[12 + j], t[18 + j], t[24 + j], t[30 + j], r, 1);
            for (int i = 0; i < 6; i++) vstore(v + ((long)(i * 6 + j) * stride + c) * VL, r[i]);
        }
    }
}

/* Tile rows per segment for rows of W pixels: 16 tiles of one row, or two rows of up to 8, or four of up to 4. */
static inline int wr_group(int W) {
    const int tiles = (W + 3) / 4;
    return tiles <= 4 ? 4 : tiles <= 8 ? 2 : 1;
}

static void wr_forward(const float *x, int C, int H, int W, const float *u, int O, const float *bias, bool relu,
                       float *y, int tileRow0, int tileRow1, float *scratch, const int G) {
    const int Wp = wr_padded_row(W), segments = G == 1 ? (W + WR_SEG - 1) / WR_SEG : 1;
    const long plane = (long)H * W;
    float *rows = scratch;                       /* [6 + 4 (G - 1)][C][Wp] */
    float *v = rows + (size_t)18 * C * Wp;       /* [36][C][16] */
    float *m = v + (size_t)36 * C * VL;          /* [36][O][16] */
    V *t = (V *)(m + (size_t)36 * O * VL);       /* [6][6]: one channel's row-transformed patch */
    for (int tr = tileRow0; tr < tileRow1; tr += G) {
        const int oy0 = 4 * tr;
        wr_fill_rows(x, C, H, W, Wp, tr, rows, G);
        wr_prefetch_rows(x, C, H, W, 4 * (tr + G) + 1, 4 * G); /* the next group's new rows */
        for (int s = 0; s < segments; s++) {
            const int base = s * WR_SEG;
            wr_input_transform(rows, C, Wp, base, v, C, t, G); /* (1) V (36, C, 16) */
            /* (2) M (36, O, 16), sixteen output channels at a time */
            for (int o0 = 0; o0 < O; o0 += 16) {
                switch (O - o0 < 16 ? O - o0 : 16) {
#define WR_CASE(n)                                                                                               \
    case n: wr_products(u, v, C, O, o0, m, n); break;
                    WR_CASE(1) WR_CASE(2) WR_CASE(3) WR_CASE(4) WR_CASE(5) WR_CASE(6) WR_CASE(7) WR_CASE(8)
                    WR_CASE(9) WR_CASE(10) WR_CASE(11) WR_CASE(12) WR_CASE(13) WR_CASE(14) WR_CASE(15) WR_CASE(16)
#undef WR_CASE
                }
            }
            /* (3) y = Aᵀ M A + bias: four output rows of the segment per output channel, 64 pixels of one tile
               row or 64 / G of each of G */
            for (int o = 0; o < O; o++) {
                V q[4][6]; /* q[i'][j] = (Aᵀ M)[i'][j] */
                for (int j = 0; j < 6; j++) {
                    const float *mj = m + ((long)j * O + o) * VL;
                    const long step = (long)6 * O * VL;
                    WR_AT(vload(mj), vload(mj + step), vload(mj + 2 * step), vload(mj + 3 * step),
                          vload(mj + 4 * step), vload(mj + 5 * step), q[0][j], q[1][j], q[2][j], q[3][j]);
                }
                const V b = vset1(bias ? bias[o] : 0.0f);
                for (int i = 0; i < 4; i++) {
                    if (oy0 + i >= H) break;
                    V cols[4], out[4];
                    WR_AT(q[i][0], q[i][1], q[i][2], q[i][3], q[i][4], q[i][5], cols[0], cols[1], cols[2], cols[3]);
                    wr_interleave(cols, out);
                    for (int k = 0; k < 4; k++) {
                        const int g = k * G / 4, oy = oy0 + 4 * g + i, px = base + (k % (4 / G)) * VL;
                        if (px >= W || oy >= H || tr + g >= tileRow1) continue;
                        V r = vadd(out[k], b);
                        if (relu) r = vsel(vlt(r, vzero()), r, vzero());
                        float *yr = y + o * plane + (long)oy * W + px;
                        if (px + VL <= W) vstore(yr, r);
                        else vmstore(yr, mrange(0, W - px), r);
                    }
                }
            }
        }
    }
}

bool unet_winograd_rows_forward_avx512(const float *x, int C, int H, int W, const float *u, int O,
                                       const float *bias, bool relu, float *y, int tileRow0, int tileRow1,
                                       float *scratch) {
    if (C < 1 || O < 1 || W < 1 || H < 1) return false;
    switch (wr_group(W)) {
    case 1: wr_forward(x, C, H, W, u, O, bias, relu, y, tileRow0, tileRow1, scratch, 1); break;
    case 2: wr_forward(x, C, H, W, u, O, bias, relu, y, tileRow0, tileRow1, scratch, 2); break;
    default: wr_forward(x, C, H, W, u, O, bias, relu, y, tileRow0, tileRow1, scratch, 4); break;
    }
    return true;
}

/* ---- The weight gradient: dU_ξ (O, C) += Σ over the tiles of D_ξ (O, tile) V_ξ (C, tile) ----
   D = A dy Aᵀ of each 4x4 block of dy (the adjoint of the output transform), V the input transform as in the
   forward. Per segment and ξ, each 16x16 block of V (C, 16 tiles) is transposed in registers into VT (16 tiles,
   16 input channels), so the products run with the lanes along input channels: up to 8 output channels' vectors of
   dU in registers, D broadcast per tile, against the 16 rows of VT. (Storing VT for all 36 ξ and reading it back
   took a third of the kernel at 16 channels.) The sums go into dU in memory once per segment (16 tiles), over
   the tiles in order. Lanes of tiles outside the call's rows or the image have D = 0. */

#define WR_ADJ(y0, y1, y2, y3, r, rs)                                                                            \
    do {                                                                                                         \
        const V s02 = vadd(y0, y2), s13 = vadd(y1, y3);                                                          \
        const V f02 = vfma(vset1(4), y2, y0), f13 = vfma(vset1(4), y3, y1);                                      \
        (r)[0] = y0;                                                                                             \
        (r)[rs] = vadd(s02, s13);                                                                                \
        (r)[2 * (rs)] = vsub(s02, s13);                                                                          \
        (r)[3 * (rs)] = vfma(vset1(2), f13, f02);                                                                \
        (r)[4 * (rs)] = vfnma(vset1(2), f13, f02);                                                               \
        (r)[5 * (rs)] = y3;                                                                                      \
    } while (0)

/* The permutes of one stage (block size b = 1, 2, 4, 8) of a 16x16 transpose, for rows i (bit b clear) and i + b. */
static inline __m512i wr_transpose_index(int b, int second) {
    int e[16];
    for (int lane = 0; lane < 16; lane++) {
        const int k = lane / b, pos = lane % b;
        e[lane] = ((k / 2) * 2 + second) * b + pos + (k % 2 ? 16 : 0);
    }
    return _mm512_loadu_si512(e);
}

/* r[i][j] -> r[j][i] for 16 vectors of 16 floats, by four stages of two-source permutes. */
static inline __attribute__((always_inline)) void wr_transpose16(V r[16], const __m512i ix[8]) {
    for (int s = 0; s < 4; s++) {
        const int b = 1 << s;
        for (int i = 0; i < 16; i++) {
            if (i & b) continue;
            const V a = r[i], c = r[i + b];
            r[i] = _mm512_permutex2var_ps(a, ix[2 * s], c);
            r[i + b] = _mm512_permutex2var_ps(a, ix[2 * s + 1], c);
        }
    }
}

/* dU (ξ, o0 ..< o0 + N, c0 ..< c0 + 16) += Σ_t D[ξ][o][t] VT[ξ][t][c] for VT's 16 rows in registers (vt[t]: the
   16 tiles' values of channels c0 ..< c0 + 16), over t in order; du: dU's row o0 at c0, row stride C16. */
static inline __attribute__((always_inline)) void wr_wg_block(const float *d, const V vt[16], float *du, int C16,
                                                               const int N) {
    V acc[8];
    for (int k = 0; k < N; k++) acc[k] = vload(du + (long)k * C16);
    for (int t = 0; t < 16; t++)
        for (int k = 0; k < N; k++) acc[k] = vfma(vset1(d[k * VL + t]), vt[t], acc[k]);
    for (int k = 0; k < N; k++) vstore(du + (long)k * C16, acc[k]);
}

size_t unet_winograd_rows_weight_gradient_scratch_avx512(int C, int O, int W) {
    const size_t C16 = (size_t)(C + 15) / 16 * 16;
    return (size_t)18 * C * wr_padded_row(W) + 36 * C16 * VL + (size_t)36 * O * VL + 36 * VL;
}

static void wr_weight_gradient(const float *x, const float *dy, int C, int H, int W, int O, int tileRow0,
                               int tileRow1, float *du, float *scratch, const int G) {
    const int Wp = wr_padded_row(W), segments = G == 1 ? (W + WR_SEG - 1) / WR_SEG : 1;
    const int C16 = (C + 15) / 16 * 16;
    const long plane = (long)H * W;
    float *rows = scratch;                     /* [6 + 4 (G - 1)][C][Wp] */
    float *v = rows + (size_t)18 * C * Wp;     /* [36][C16][16], channels C ..< C16 zero */
    float *d = v + (size_t)36 * C16 * VL;      /* [36][O][16] */
    V *t = (V *)(d + (size_t)36 * O * VL);     /* [6][6] */
    __m512i ix[8];
    for (int s = 0; s < 4; s++) ix[2 * s] = wr_transpose_index(1 << s, 0), ix[2 * s + 1] = wr_transpose_index(1 << s, 1);
    for (int xi = 0; xi < 36; xi++)
        for (int c = C; c < C16; c++) vstore(v + ((long)xi * C16 + c) * VL, vzero());
    for (int tr = tileRow0; tr < tileRow1; tr += G) {
        const int oy0 = 4 * tr;
        wr_fill_rows(x, C, H, W, Wp, tr, rows, G);
        wr_prefetch_rows(x, C, H, W, 4 * (tr + G) + 1, 4 * G); /* the next group's new rows of x and of dy */
        wr_prefetch_rows(dy, O, H, W, 4 * (tr + G), 4 * G);
        for (int s = 0; s < segments; s++) {
            const int base = s * WR_SEG;
            wr_input_transform(rows, C, Wp, base, v, C16, t, G); /* V (36, C16, 16) */
            /* D (36, O, 16): dy's 4x4 blocks, zero outside the image and the call's tile rows */
            for (int o = 0; o < O; o++) {
                for (int i = 0; i < 4; i++) {
                    V a[4];
                    for (int k = 0; k < 4; k++) {
                        const int g = k * G / 4, oy = oy0 + 4 * g + i, px = base + (k % (4 / G)) * VL;
                        a[k] = px < W && oy < H && tr + g < tileRow1
                                   ? vmload(dy + o * plane + (long)oy * W + px, mrange(0, W - px))
                                   : vzero();
                    }
                    V c[4];
                    wr_deinterleave(a, c);
                    WR_ADJ(c[0], c[1], c[2], c[3], t + i * 6, 1); /* t[i][·]: A applied along the row */
                }
                for (int j = 0; j < 6; j++) {
                    V r[6];
                    WR_ADJ(t[j], t[6 + j], t[12 + j], t[18 + j], r, 1);
                    for (int i = 0; i < 6; i++) vstore(d + ((long)(i * 6 + j) * O + o) * VL, r[i]);
                }
            }
            /* dU += D VTᵀ per ξ, VT a 16x16 block of V transposed in registers (lanes along input channels) */
            for (int xi = 0; xi < 36; xi++) {
                const float *dx = d + (long)xi * O * VL;
                float *dux = du + (long)xi * O * C16;
                for (int c0 = 0; c0 < C16; c0 += 16) {
                    V r[16];
                    for (int k = 0; k < 16; k++) r[k] = vload(v + ((long)xi * C16 + c0 + k) * VL);
                    wr_transpose16(r, ix);
                    for (int o0 = 0; o0 < O; o0 += 8) {
                        const float *dk = dx + (long)o0 * VL;
                        float *uk = dux + (long)o0 * C16 + c0;
                        switch (O - o0 < 8 ? O - o0 : 8) {
#define WR_WG(nn)                                                                                                \
    case nn: wr_wg_block(dk, r, uk, C16, nn); break;
                            WR_WG(1) WR_WG(2) WR_WG(3) WR_WG(4) WR_WG(5) WR_WG(6) WR_WG(7) WR_WG(8)
#undef WR_WG
                        }
                    }
                }
            }
        }
    }
}

bool unet_winograd_rows_weight_gradient_avx512(const float *x, const float *dy, int C, int H, int W, int O,
                                               int tileRow0, int tileRow1, float *du, float *scratch) {
    if (C < 1 || O < 1 || W < 1 || H < 1) return false;
    switch (wr_group(W)) {
    case 1: wr_weight_gradient(x, dy, C, H, W, O, tileRow0, tileRow1, du, scratch, 1); break;
    case 2: wr_weight_gradient(x, dy, C, H, W, O, tileRow0, tileRow1, du, scratch, 2); break;
    default: wr_weight_gradient(x, dy, C, H, W, O, tileRow0, tileRow1, du, scratch, 4); break;
    }
    return true;
}
