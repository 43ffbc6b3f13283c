/* The kernels' bodies, written once over a small vector vocabulary that each including file defines for its
   instruction set (KernelsAVX2.c, KernelsAVX512.c) inside a `#pragma clang attribute` region giving every
   function here that target:
     V, VL        the vector type and its lanes;  M a lane mask for masked loads and stores;  C a comparison
     vzero vset1 vload vstore vmload(p, m) vmstore(p, m, v) vadd vsub vmul vdiv vor vsqrt
     vfma(a, b, c) = a*b + c   vfnma(a, b, c) = c - a*b   vhsum (horizontal sum in a fixed order)
     mrange(lo, hi)   lanes lo <= l < hi (any ints: clamped to 0...VL)
     veven(a, b), vodd(a, b)   the even and the odd lanes of the 2*VL floats a then b
     vziplo/vziphi(a, b)  a0 b0 a1 b1 ... (the first and the second VL of the interleaving)
     vlt(a, b) -> C   vsel(c, a, b) = c ? b : a   vexp2i(v)  2^(int bits of v - 0x4B400000) (see exp below)
     FN(name)         name with the instruction set's suffix
     VD vdzero vdlo(v) vdhi(v) vdfma vdhsum   doubles: a float vector's lower and upper halves widened
   Masked loads never fault on the lanes they leave out, so a tap's vector may start before its row or run past
   it: the lanes outside read as zero, which adds w*0 to the sum, exactly as the zero padding would. */

#define INLINE static inline __attribute__((always_inline))
#define UNROLL _Pragma("clang loop unroll(full)")

/* ---- depthwise convolution, one plane ---- */

/* Floats of one padded row copy: planes up to 1024 outputs wide take these kernels. */
#define RING_FLOATS 1056

/* The row copy the kernels' taps read, made once per input row into one of K slots (a row serves up to K
   output rows): stride 1, P[u] = x[u - PL] for u in 0..<len, zero outside the row; stride 2, the same row split
   into its even and odd columns, pe[m] = P[2m] and po[m] = P[2m + 1]. Then tap kj of the output columns ox..<ox+VL
   is one plain load, P + ox + kj, or (stride 2) pe/po + ox + kj/2 by the parity of kj: no masks and no shuffles
   in the taps' loop, where they cost more than the multiply-adds. */

/* The lane masks of one row's copy, the same for every row of a plane: block i of the copy (VL floats at stride
   1, 2*VL at stride 2, loaded as two vectors) loads the lanes mask[2i], mask[2i + 1] of the row from its start b.
   Blocks lo..<hi lie wholly in the row and load plainly. */
typedef struct {
    M mask[2 * RING_FLOATS / VL];
    int lo, hi;
} FN(row_masks);

INLINE void FN(row_masks_make)(FN(row_masks) *rm, int W, int pl, int len, const int S) {
    rm->lo = rm->hi = -1;
    for (int i = 0; i * VL < len; i++) {
        const int b = S * i * VL - pl;
        rm->mask[2 * i] = mrange(-b, W - b);
        rm->mask[2 * i + 1] = mrange(-b - VL, W - b - VL);
        if (b >= 0 && b + S * VL <= W) {
            if (rm->lo < 0) rm->lo = i;
            rm->hi = i + 1;
        }
    }
    if (rm->lo < 0) rm->lo = rm->hi = 0;
}

/* A row's copy (as above) from the masks made once a plane: the masked blocks (at most a few at either end),
   then the plain ones, no test and no mask arithmetic per block (copying with a test and the mask computed per
   block, a 28-wide row cost 6 cycles a vector). */
INLINE void FN(fill_row_masked)(const float *row, const FN(row_masks) *rm, int pl, int len, float *pe, float *po,
                                const int S) {
    const int blocks = len / VL;
    for (int i = 0; i < blocks; i++) {
        if (i == rm->lo && rm->hi > rm->lo) i = rm->hi; /* the plain ones below */
        if (i >= blocks) break;
        const float *src = row + S * i * VL - pl;
        if (S == 1) {
            vstore(pe + i * VL, vmload(src, rm->mask[2 * i]));
        } else {
            const V a = vmload(src, rm->mask[2 * i]), c = vmload(src + VL, rm->mask[2 * i + 1]);
            vstore(pe + i * VL, veven(a, c));
            vstore(po + i * VL, vodd(a, c));
        }
    }
    for (int i = rm->lo; i < rm->hi; i++) {
        const float *src = row + S * i * VL - pl;
        if (S == 1) {
            vstore(pe + i * VL, vload(src));
        } else {
            const V a = vload(src), c = vload(src + VL);
            vstore(pe + i * VL, veven(a, c));
            vstore(po + i * VL, vodd(a, c));
        }
    }
}

/* The row copies an output row's taps read, kept for the output rows in order: K slots of `stride` floats (slot
   (iy + PT) % K holds input row iy; stride 1: one copy of len floats, stride 2: the even then the odd columns, 2 *
   len) and a row of zeros after them. Each output row copies only the rows it is the first to need (S of them, K
   for the first), so the plane streams in as it is consumed (a version that copied bands of 30 rows and then ran
   their output rows was faster in cache and half as fast from memory: each band's copy waited on DRAM), and sets
   pe[ki], po[ki] to each kernel row's copy, or the zeros outside the plane: the taps' loop has no branch and no
   mask (with a branch per kernel row clang spilled the weight gradient's sums to the stack on every block). */
/* Rows are asked for this far ahead of their copy, a prefetch a cache line (past the plane's last row they are the
   next plane's, which the layer runs next, or addresses a prefetch may touch without faulting). The hardware's
   prefetchers alone left the copies waiting on memory: single thread, from DRAM, 28x28 planes took 1.4-2.3x as
   long without, 5x5 stride 2 at 112 1.6x. The 3x3 stride-1 rows of 64 floats and more go without: near the
   bandwidth already, the forward and the weight gradient at 112 ran 5-15% slower with them. */
#define PREFETCH_ROWS 8

INLINE void FN(prefetch_row)(const float *row, int width) {
    const char *p = (const char *)row;
    for (long b = 0; b < 4L * width; b += 64) __builtin_prefetch(p + b);
}

/* The state of those row copies for one plane: made by roll_begin (after ring_length below), advanced by
   roll_rows. */
typedef struct {
    FN(row_masks) rm;
    float *buf;
    int len, stride, next; /* floats a copy, floats a slot, the next input row to copy */
} FN(row_roll);

INLINE void FN(roll_rows)(const float *x, unet_dw_geometry g, FN(row_roll) *r, int iy0, const float **pe,
                          const float **po, const int K, const int S, const int P) {
    /* In locals: the copies' vector stores may alias *r as far as the compiler knows (5x5 s2 at 28 ran 16% slower
       reading the fields after each row's stores). */
    float *const buf = r->buf;
    const int len = r->len, stride = r->stride;
    int next = r->next < iy0 ? iy0 : r->next;
    for (; next < iy0 + K; next++) {
        const int iy = next;
        if (iy < 0 || iy >= g.height) continue;
        if (P) FN(prefetch_row)(x + (long)(iy + PREFETCH_ROWS) * g.width, g.width);
        float *c = buf + (long)((iy + g.padTop) % K) * stride;
        FN(fill_row_masked)(x + (long)iy * g.width, &r->rm, g.padLeft, len, c, c + len, S);
    }
    r->next = next;
    for (int ki = 0; ki < K; ki++) {
        const int iy = iy0 + ki;
        const float *c = iy < 0 || iy >= g.height ? buf + (long)K * stride : buf + (long)((iy + g.padTop) % K) * stride;
        pe[ki] = c;
        po[ki] = c + len;
    }
}

/* Floats of the row slots (on the caller's stack, 50 KB: no allocation, nothing shared between threads): K = 5
   slots and the zeros, each up to 2 * RING_FLOATS (stride 2). */
#define ROLL_FLOATS (12 * RING_FLOATS)

/* The stride-2 input gradient's ring of dy rows: K slots of row copies, slot oy % K holding row oy, each filled
   when a dx row first needs it (the forward and the weight gradient use roll_rows above). */
typedef struct {
    float copy[5][2][RING_FLOATS] __attribute__((aligned(64)));
    float zero[RING_FLOATS] __attribute__((aligned(64)));
    int row[5];
} FN(row_ring);

INLINE void FN(ring_start)(FN(row_ring) *ring, int len, const int K) {
    for (int s = 0; s < K; s++) ring->row[s] = -1;
    for (int u = 0; u < len; u += VL) vstore(ring->zero + u, vzero());
}

/* Floats each row copy needs: every block of VL outputs reads up to K - 1 (stride 2: (K - 1)/2) past its end. */
INLINE int FN(ring_length)(unet_dw_geometry g) { return (g.outW + VL - 1) / VL * VL + VL; }

/* A plane's row copies in `buf` (ROLL_FLOATS): the row masks, the zero row after the K slots, no row copied yet. */
INLINE void FN(roll_begin)(FN(row_roll) *r, unet_dw_geometry g, float *buf, const int K, const int S) {
    r->buf = buf;
    r->len = FN(ring_length)(g);
    r->stride = S == 1 ? r->len : 2 * r->len;
    FN(row_masks_make)(&r->rm, g.width, g.padLeft, r->len, S);
    for (int u = 0; u < r->stride; u += VL) vstore(buf + (long)K * r->stride + u, vzero());
    r->next = -(1 << 30);
}

/* Tap kj of kernel row ki for the output columns ox..<ox+VL, from the ring's copies: the floats p + ox + j. Where
   the instruction set has it (AVX-512's valignd), from the two aligned vectors at ox and ox + VL: an unaligned
   64-byte load splits across cache lines, and the taps' loads, not the multiply-adds, set the pace
   (llvm-mca: 15 cycles a 5x5 block with aligned loads, twice that measured with the split ones). */
#if defined(HAVE_VSHIFT)
#define ROWTAP(p, j) ((j) <= 2 ? vshift(vload((p) + ox), vload((p) + ox + VL), j) : vload((p) + ox + (j)))
#else
#define ROWTAP(p, j) vload((p) + ox + (j))
#endif
#define TAP(ki, kj) (S == 1 ? ROWTAP(pe[ki], kj) : ROWTAP((kj) & 1 ? po[ki] : pe[ki], (kj) / 2))
/* The same with plain loads, for the 5x5 weight gradient: its 25 sums leave no registers for valignd's vectors. */
#define TAP_LOADED(ki, kj) \
    (S == 1 ? vload(pe[ki] + ox + (kj)) : vload(((kj) & 1 ? po[ki] : pe[ki]) + ox + (kj) / 2))

/* One kernel row's share of an output block: w[0] X[0] + w[1] X[1] + ... in that order, as dw_forward sums it. */
INLINE V FN(dw_row_sum)(const V *w, const V *X, const int K) {
    V r = vmul(w[0], X[0]);
    UNROLL for (int kj = 1; kj < K; kj++) r = vfma(w[kj], X[kj], r);
    return r;
}

/* The forward two output rows at a time (strides 1 and 2 the same both ways): rows oy and oy + 1 read the K + S
   input rows from S*oy - PT, and each input row's K taps of a block (loads and shifts) are made once for both, where
   one row at a time made them for each output row (the shifts share the pipes of the multiply-adds). Each output
   row adds bias + row 0 + row 1 + ... with each kernel row's taps in order, as dw_forward: the same bits
   (depthwise_bits.c). One thread, 8 planes in L2 on a Zen 5 (depthwise_planes.c, best of 5 alternations), AVX-512:
   5x5 at 112 5252 -> 3922 ns a plane, at 28 585 -> 492, 3x3 at 28 329 -> 259, at 112 unchanged; AVX2: 1.07-1.33x;
   stride 2, 3x3 at 28 213 -> 182, 5x5 1.06-1.07x, 3x3 at 112 1.02x. The input gradient at stride 1 is this forward
   (of dy with the kernel turned), so it gains the same. */
INLINE void FN(dw_forward_pairs)(const float *x, unet_dw_geometry g, const float *w, float bias, float *y, float *buf,
                                 const int K, const int S, const int P) {
    const int OW = g.outW, R = K + S; /* input rows a pass */
    FN(row_roll) roll;
    FN(roll_begin)(&roll, g, buf, R, S);
    V wv[25];
    for (int t = 0; t < K * K; t++) wv[t] = vset1(w[t]);
    const V bv = vset1(bias);
    for (int oy = 0; oy < g.outH; oy += 2) {
        const float *pe[7], *po[7];
        FN(roll_rows)(x, g, &roll, S * oy - g.padTop, pe, po, R, S, P);
        const int two = oy + 1 < g.outH;
        float *ya = y + (long)oy * OW, *yb = ya + OW;
        for (int ox = 0; ox < OW; ox += VL) {
            V a = bv, b = bv;
            UNROLL for (int j = 0; j < R; j++) {
                V X[5];
                UNROLL for (int kj = 0; kj < K; kj++) X[kj] = TAP(j, kj);
                if (j < K) a = vadd(a, FN(dw_row_sum)(wv + j * K, X, K));        /* row oy's kernel row j */
                if (j >= S) b = vadd(b, FN(dw_row_sum)(wv + (j - S) * K, X, K)); /* row oy + 1's, j - S */
            }
            if (ox + VL <= OW) {
                vstore(ya + ox, a);
                if (two) vstore(yb + ox, b);
            } else {
                vmstore(ya + ox, mrange(0, OW - ox), a);
                if (two) vmstore(yb + ox, mrange(0, OW - ox), b);
            }
        }
    }
}

/* The forward with K and S constants (the callers below pass literals), so the loops over the taps unroll and the
   K*K weights stay in registers (AVX-512's 32; AVX2 reloads some). Each kernel row's taps summed in order in
   their own vector (one chain of K*K multiply-adds waited on itself: 100 cycles a block at 5x5), then
   bias + row 0 + row 1 + ... in that order. */
INLINE void FN(dw_forward)(const float *x, unet_dw_geometry g, const float *w, float bias, float *y, float *buf,
                           const int K, const int S, const int P) {
    /* the pairs' K + S row slots and the zero row in buf (ROLL_FLOATS): at stride 2 rows up to some 750 wide. Only
       in the prefetching copies (P), so not for 3x3 stride-1 rows of 64 and more (PREFETCHES): there pairs ran at
       the same speed in cache and 0.91x from DRAM without prefetching, 0.80x with (one thread, 112 wide), and with
       P a constant 0 this function is the single-row kernel alone, as before. */
    if (P && g.strideH == S && (K + S + 1) * (S == 1 ? 1 : 2) * FN(ring_length)(g) <= ROLL_FLOATS) {
        FN(dw_forward_pairs)(x, g, w, bias, y, buf, K, S, P);
        return;
    }
    const int OW = g.outW;
    FN(row_roll) roll;
    FN(roll_begin)(&roll, g, buf, K, S);
    V wv[25];
    for (int t = 0; t < K * K; t++) wv[t] = vset1(w[t]);
    const V bv = vset1(bias);
    for (int oy = 0; oy < g.outH; oy++) {
        const float *pe[5], *po[5];
        FN(roll_rows)(x, g, &roll, oy * g.strideH - g.padTop, pe, po, K, S, P);
        float *yr = y + (long)oy * OW;
        for (int ox = 0; ox < OW; ox += VL) {
            V r[5];
            for (int ki = 0; ki < K; ki++) {
                r[ki] = vmul(wv[ki * K], TAP(ki, 0));
                for (int kj = 1; kj < K; kj++) r[ki] = vfma(wv[ki * K + kj], TAP(ki, kj), r[ki]);
            }
            V acc = bv;
            for (int ki = 0; ki < K; ki++) acc = vadd(acc, r[ki]);
            if (ox + VL <= OW) vstore(yr + ox, acc);
            else vmstore(yr + ox, mrange(0, OW - ox), acc);
        }
    }
}

/* The weight gradient in one pass over the plane: dy loaded once a block for all K*K taps, each tap's sum in its
   own vector (one multiply-add a block each, so none waits on its last), lanes summed over the plane in single
   precision in order, then added to acc in double. Lanes past the output row load dy as zero and add nothing;
   kernel rows outside the plane read the zero row. (A 5x5's 25 sums spill some on AVX-512; two or three passes of
   fewer rows each measured slower.) */
INLINE void FN(dw_weight_gradient)(const float *x, const float *dy, unet_dw_geometry g, double *acc, float *buf,
                                   const int K, const int S, const int P) {
    const int OW = g.outW;
    FN(row_roll) roll;
    FN(roll_begin)(&roll, g, buf, K, S);
    V a[25];
    for (int t = 0; t < K * K; t++) a[t] = vzero();
    for (int oy = 0; oy < g.outH; oy++) {
        const int iy0 = oy * g.strideH - g.padTop;
        if (iy0 + K <= 0 || iy0 >= g.height) continue; /* every kernel row outside */
        const float *pe[5], *po[5];
        FN(roll_rows)(x, g, &roll, iy0, pe, po, K, S, P);
        const float *d = dy + (long)oy * OW;
        for (int ox = 0; ox < OW; ox += VL) {
            const V dv = ox + VL <= OW ? vload(d + ox) : vmload(d + ox, mrange(0, OW - ox));
            for (int ki = 0; ki < K; ki++)
                for (int kj = 0; kj < K; kj++)
                    a[ki * K + kj] = vfma(dv, K == 5 ? TAP_LOADED(ki, kj) : TAP(ki, kj), a[ki * K + kj]);
        }
    }
    for (int t = 0; t < K * K; t++) acc[t] += (double)vhsum(a[t]);
}

/* One block of one input row's share of the weight gradient (dw_weight_gradient_rows below): the row's K taps
   (X[kj], its copy shifted by kj) made once and multiplied with each kernel row's dy block d[ki] + ox, loaded
   masked (zero past the row) for the row's last block (TAIL). */
INLINE void FN(wg_block)(const float *const *pe, const float *const *po, const float *const *d, int ox, int OW, V *a,
                         const int K, const int S, const int TAIL) {
    V X[5];
    UNROLL for (int kj = 0; kj < K; kj++) X[kj] = K == 5 ? TAP_LOADED(0, kj) : TAP(0, kj);
    UNROLL for (int ki = 0; ki < K; ki++) {
        const V dv = TAIL ? vmload(d[ki] + ox, mrange(0, OW - ox)) : vload(d[ki] + ox);
        UNROLL for (int kj = 0; kj < K; kj++) a[ki * K + kj] = vfma(dv, X[kj], a[ki * K + kj]);
    }
}

/* The weight gradient at row stride 1 by input row rather than by output row: each input row's K shifted copies of
   a block are made once (K loads and shifts) and serve all K kernel rows, where by output row each of the K*K taps
   was a load and a shift or a line-splitting load (the shifts share the pipes of the multiply-adds). dy is read in
   place; kernel rows that reach outside dy read a zero row. For each tap the lanes add dy[oy] * x[oy + ki - PT]
   over oy in the same order as dw_weight_gradient (oy rises with the input row), so the sums are the same bits but
   for products with the zero rows (adding a zero; depthwise_bits.c finds every geometry's results unchanged).
   One thread, 8 planes in L2, AVX-512 on a Zen 5 (Examples/benchmarks/depthwise_planes.c, best of 5 alternations):
   3x3 at 112 2052 -> 1665 ns a plane, at 28 334 -> 289; 5x5 at 112 6655 -> 4340. Not taken: a 5x5 on AVX2 (its 25
   sums spill from 16 registers: 1.15x slower) or under two vectors wide (28: 0.98x, the per-row work not covered);
   row stride 2, where an input row meets only the kernel rows of its parity, 2 or 3 of a 5x5, too few
   multiply-adds a block to cover their latency (up to 1.5x slower by input row). */
INLINE void FN(dw_weight_gradient_rows)(const float *x, const float *dy, unet_dw_geometry g, double *acc, float *buf,
                                        const int K, const int S, const int P) {
    const int OW = g.outW, OH = g.outH, full = OW / VL * VL; /* the blocks wholly in the row */
    FN(row_roll) xr;
    FN(roll_begin)(&xr, g, buf, 1, S);
    const float *zero = buf + xr.stride; /* roll_begin's zero row, len >= OW floats */
    V a[25];
    for (int t = 0; t < K * K; t++) a[t] = vzero();
    for (int iy = 0; iy < g.height; iy++) {
        const float *pe[5], *po[5], *d[5];
        FN(roll_rows)(x, g, &xr, iy, pe, po, 1, S, P);
        if (P) FN(prefetch_row)(dy + (long)(iy + PREFETCH_ROWS) * OW, OW);
        const int t = iy + g.padTop; /* kernel row ki meets output row t - ki */
        for (int ki = 0; ki < K; ki++) d[ki] = t - ki >= 0 && t - ki < OH ? dy + (long)(t - ki) * OW : zero;
        int ox = 0;
        for (; ox < full; ox += VL) FN(wg_block)(pe, po, d, ox, OW, a, K, S, 0);
        if (ox < OW) FN(wg_block)(pe, po, d, ox, OW, a, K, S, 1);
    }
    for (int t = 0; t < K * K; t++) acc[t] += (double)vhsum(a[t]);
}

INLINE void FN(dw_weight_gradient_any)(const float *x, const float *dy, unet_dw_geometry g, double *acc, float *buf,
                                       const int K, const int S, const int P) {
    if (g.strideH == 1 && (K == 3 || (VL == 16 && g.outW >= 2 * VL)))
        FN(dw_weight_gradient_rows)(x, dy, g, acc, buf, K, S, P);
    else
        FN(dw_weight_gradient)(x, dy, g, acc, buf, K, S, P);
}

#undef TAP
#undef ROWTAP
#undef TAP_LOADED

/* The input gradient at column stride 2, gathered: dx[iy, 2m + q] = sum over the kernel rows ki that reach row iy
   (iy + PT - ki = oy*SH) and the taps kj of parity (kj + PL) & 1 == q of w[ki, kj] * dy[oy, m + (q + PL - kj)/2].
   A block of VL values of m gives VL even and VL odd columns, interleaved into 2*VL consecutive dx and stored
   once (the scatter form added each dy into dx K*K times). dy's rows come from the ring, padded by A = the most
   any tap reaches left, so every tap is a plain load. Sums: even taps and odd taps apart, each over the kernel
   rows in order, alternate rows in two vectors added at the end (one chain waited on itself). */
INLINE void FN(dw_input_gradient_s2)(const float *dy, unet_dw_geometry g, const float *w, float *dx,
                                     FN(row_ring) *ring, const int K) {
    const int W = g.width, OW = g.outW, pl = g.padLeft;
    int off[5], offMin = 1 << 30;
    for (int kj = 0; kj < K; kj++) {
        off[kj] = (((kj + pl) & 1) + pl - kj) / 2; /* exact: the numerator is even */
        if (off[kj] < offMin) offMin = off[kj];
    }
    const int A = offMin < 0 ? -offMin : 0, half = (W + 1) / 2; /* values of m with 2m < W */
    const int len = (half + VL - 1) / VL * VL + VL;
    unet_dw_geometry rows = g; /* dy's rows as the ring's planes: width OW, padded by A */
    rows.width = OW;
    rows.padLeft = A;
    rows.height = g.outH;
    FN(ring_start)(ring, len, K);
    FN(row_masks) rm;
    FN(row_masks_make)(&rm, OW, A, len, 1);
    const int evenIsQ0 = (pl & 1) == 0; /* even kj feed the even columns */
    for (int iy = 0; iy < g.height; iy++) {
        const float *rp[5], *wr[5];
        int nv = 0;
        for (int ki = 0; ki < K; ki++) {
            const int t = iy + g.padTop - ki;
            /* t / SH by a shift at the strides EfficientNets use: an integer division per kernel row and dx row
               cost more than the row's multiply-adds at 112x112 */
            if (t < 0) continue;
            const int sh = g.strideH;
            const int oy = sh == 1 ? t : sh == 2 ? t >> 1 : t / sh;
            if (oy * sh != t || oy >= g.outH) continue;
            const int slot = oy % K;
            if (ring->row[slot] != oy) {
                FN(prefetch_row)(dy + (long)(oy + PREFETCH_ROWS) * OW, OW);
                FN(fill_row_masked)(dy + (long)oy * OW, &rm, A, len, ring->copy[slot][0], ring->copy[slot][1], 1);
                ring->row[slot] = oy;
            }
            rp[nv] = ring->copy[slot][0] + A;
            wr[nv++] = w + ki * K;
        }
        float *dr = dx + (long)iy * W;
        for (int m0 = 0; m0 < half; m0 += VL) {
            /* rows j = 0, 2, ... into e0/o0 and 1, 3, ... into e1/o1, written out for the two: indexed by a
               run-time j the four sums lived on the stack, a store and a load in every multiply-add's chain */
            V e0 = vzero(), o0 = vzero(), e1 = vzero(), o1 = vzero();
            int j = 0;
            for (; j < nv; j += 2) {
                const float *p = rp[j] + m0;
                for (int kj = 0; kj < K; kj++) {
                    const V v = vload(p + off[kj]);
                    if (kj & 1) o0 = vfma(vset1(wr[j][kj]), v, o0);
                    else e0 = vfma(vset1(wr[j][kj]), v, e0);
                }
                if (j + 1 >= nv) break;
                const float *q = rp[j + 1] + m0;
                for (int kj = 0; kj < K; kj++) {
                    const V v = vload(q + off[kj]);
                    if (kj & 1) o1 = vfma(vset1(wr[j + 1][kj]), v, o1);
                    else e1 = vfma(vset1(wr[j + 1][kj]), v, e1);
                }
            }
            const V se = vadd(e0, e1), so = vadd(o0, o1);
            const V e = evenIsQ0 ? se : so, o = evenIsQ0 ? so : se;
            const int c = 2 * m0;
            if (c + 2 * VL <= W) {
                vstore(dr + c, vziplo(e, o));
                vstore(dr + c + VL, vziphi(e, o));
            } else {
                vmstore(dr + c, mrange(0, W - c), vziplo(e, o));
                vmstore(dr + c + VL, mrange(0, W - c - VL), vziphi(e, o));
            }
        }
    }
}

/* The ring lives on the caller's stack (43 KB): no allocation, nothing shared between threads. */
/* Whether a plane's rows are prefetched (PREFETCH_ROWS): not 3x3 stride-1 rows of 64 floats and more. A separate
   copy of the kernel for each (P a constant): with the test inside one copy, the 3x3 stride-1 forward at 112 ran
   15% slower than without the prefetch code at all (unet-bench, one thread, four alternations). */
#define PREFETCHES(g, K, S) (!((K) == 3 && (S) == 1) || (g).width < 64)
#define DISPATCH(call, g, K, S) \
    do { \
        if (PREFETCHES(g, K, S)) call##_P(K, S); \
        else call(K, S, 0); \
    } while (0)

/* The prefetching copies out of line, so that the others' code is what it was without them (inline, the 3x3
   stride-1 forward at 112 ran 15-20% slower though it prefetches nothing: unet-bench, one thread). */
#define OUT_OF_LINE(K, S) \
    static __attribute__((noinline)) void FN(dw_forward_p##K##S)(const float *x, unet_dw_geometry g, const float *w, \
                                                                  float bias, float *y, float *buf) { \
        FN(dw_forward)(x, g, w, bias, y, buf, K, S, 1); \
    } \
    static __attribute__((noinline)) void FN(dw_weight_gradient_p##K##S)( \
        const float *x, const float *dy, unet_dw_geometry g, double *acc, float *buf) { \
        FN(dw_weight_gradient_any)(x, dy, g, acc, buf, K, S, 1); \
    }
OUT_OF_LINE(3, 1)
OUT_OF_LINE(3, 2)
OUT_OF_LINE(5, 1)
OUT_OF_LINE(5, 2)
#undef OUT_OF_LINE

bool FN(unet_dw_forward)(const float *x, unet_dw_geometry g, const float *w, float bias, float *y) {
    float buf[ROLL_FLOATS] __attribute__((aligned(64)));
    if (FN(ring_length)(g) > RING_FLOATS) return false;
#define FORWARD(K, S, P) FN(dw_forward)(x, g, w, bias, y, buf, K, S, P)
#define FORWARD_P(K, S) FN(dw_forward_p##K##S)(x, g, w, bias, y, buf)
    if (g.kernel == 3 && g.strideW == 1) DISPATCH(FORWARD, g, 3, 1);
    else if (g.kernel == 3 && g.strideW == 2) DISPATCH(FORWARD, g, 3, 2);
    else if (g.kernel == 5 && g.strideW == 1) DISPATCH(FORWARD, g, 5, 1);
    else if (g.kernel == 5 && g.strideW == 2) DISPATCH(FORWARD, g, 5, 2);
    else return false;
#undef FORWARD
#undef FORWARD_P
    return true;
}

bool FN(unet_dw_weight_gradient)(const float *x, const float *dy, unet_dw_geometry g, double *acc) {
    float buf[ROLL_FLOATS] __attribute__((aligned(64)));
    if (FN(ring_length)(g) > RING_FLOATS) return false;
#define WEIGHT_GRADIENT(K, S, P) FN(dw_weight_gradient_any)(x, dy, g, acc, buf, K, S, P)
#define WEIGHT_GRADIENT_P(K, S) FN(dw_weight_gradient_p##K##S)(x, dy, g, acc, buf)
    /* 3x3 stride 1 by input row (dw_weight_gradient_rows) prefetches at every width: from DRAM, one thread, 112
       wide, 2724 ns a plane by output row without, by input row 3820 without and 2395 with */
    if (g.kernel == 3 && g.strideW == 1) WEIGHT_GRADIENT_P(3, 1);
    else if (g.kernel == 3 && g.strideW == 2) DISPATCH(WEIGHT_GRADIENT, g, 3, 2);
    else if (g.kernel == 5 && g.strideW == 1) DISPATCH(WEIGHT_GRADIENT, g, 5, 1);
    else if (g.kernel == 5 && g.strideW == 2) DISPATCH(WEIGHT_GRADIENT, g, 5, 2);
    else return false;
#undef WEIGHT_GRADIENT
#undef WEIGHT_GRADIENT_P
    return true;
}

#undef DISPATCH
#undef PREFETCHES

bool FN(unet_dw_input_gradient_s2)(const float *dy, unet_dw_geometry g, const float *w, float *dx) {
    FN(row_ring) ring;
    /* dy's row copies: (W + 1)/2 columns, padded by at most (K - 1)/2 left and (PL + 1)/2 right */
    const int half = (g.width + 1) / 2, len = (half + VL - 1) / VL * VL + VL;
    if (g.strideW != 2 || g.strideH < 1 || len > RING_FLOATS || g.padLeft > VL) return false;
    if (g.kernel == 3) FN(dw_input_gradient_s2)(dy, g, w, dx, &ring, 3);
    else if (g.kernel == 5) FN(dw_input_gradient_s2)(dy, g, w, dx, &ring, 5);
    else return false;
    return true;
}

/* ---- SiLU ---- */

/* e^x for x <= 0, as UNetCore's `expNonPositive8` (Cephes' single-precision polynomial, n rounded by adding
   1.5*2^23), with fused multiply-adds; lanes below -87.3 give 0. */
INLINE V FN(exp_nonpositive)(V x) {
    const V lowest = vset1(-87.3f), magic = vset1(12582912.0f);
    const C under = vlt(x, lowest);
    const V cl = vsel(under, x, lowest);
    const V shifted = vfma(cl, vset1(1.44269504088896341f), magic);
    const V n = vsub(shifted, magic);
    V r = vfnma(n, vset1(0.693359375f), cl);
    r = vfnma(n, vset1(-2.12194440e-4f), r);
    V p = vset1(1.9875691500e-4f);
    p = vfma(p, r, vset1(1.3981999507e-3f));
    p = vfma(p, r, vset1(8.3334519073e-3f));
    p = vfma(p, r, vset1(4.1665795894e-2f));
    p = vfma(p, r, vset1(1.6666665459e-1f));
    p = vfma(p, r, vset1(5.0000001201e-1f));
    p = vadd(vfma(p, vmul(r, r), r), vset1(1.0f));
    return vsel(under, vmul(p, vexp2i(shifted)), vzero());
}

/* sigma(x) and 1 - sigma(x) from e^-|x|, as `sigmoidAndComplement8`: nothing overflows, the smaller one never a
   difference of nearly equal numbers. */
INLINE void FN(sigmoid_pair)(V x, V *s, V *c) {
    const V one = vset1(1.0f);
    const C negative = vlt(x, vzero());
    const V e = FN(exp_nonpositive)(vor(x, vset1(-0.0f))); /* -|x| */
    const V small = vdiv(e, vadd(one, e)), large = vsub(one, small);
    *s = vsel(negative, large, small);
    *c = vsel(negative, small, large);
}

void FN(unet_silu_forward)(const float *x, float *y, long count) {
    long i = 0;
    V s, c;
    for (; i + VL <= count; i += VL) {
        const V v = vload(x + i);
        FN(sigmoid_pair)(v, &s, &c);
        vstore(y + i, vmul(v, s));
    }
    if (i < count) {
        const M m = mrange(0, (int)(count - i));
        const V v = vmload(x + i, m);
        FN(sigmoid_pair)(v, &s, &c);
        vmstore(y + i, m, vmul(v, s));
    }
}

void FN(unet_silu_backward)(const float *x, const float *dy, float *dx, long count) {
    long i = 0;
    const V one = vset1(1.0f);
    V s, c;
    for (; i + VL <= count; i += VL) {
        const V v = vload(x + i);
        FN(sigmoid_pair)(v, &s, &c);
        vstore(dx + i, vmul(vmul(vload(dy + i), s), vfma(v, c, one)));
    }
    if (i < count) {
        const M m = mrange(0, (int)(count - i));
        const V v = vmload(x + i, m);
        FN(sigmoid_pair)(v, &s, &c);
        vmstore(dx + i, m, vmul(vmul(vmload(dy + i, m), s), vfma(v, c, one)));
    }
}

/* ---- channel gating ---- */

void FN(unet_scale)(const float *x, float v, float *y, long count) {
    const V vv = vset1(v);
    long i = 0;
    for (; i + 2 * VL <= count; i += 2 * VL) {
        vstore(y + i, vmul(vload(x + i), vv));
        vstore(y + i + VL, vmul(vload(x + i + VL), vv));
    }
    for (; i < count; i += VL) {
        const M m = mrange(0, (int)(count - i));
        vmstore(y + i, m, vmul(vmload(x + i, m), vv));
    }
}

/* Four vector sums over 4*VL floats a step, combined in a fixed order. */
float FN(unet_scale_and_dot)(const float *dy, float v, float *dx, const float *x, long count) {
    const V vv = vset1(v);
    V p = vzero(), q = vzero(), r = vzero(), t = vzero();
    long i = 0;
    for (; i + 4 * VL <= count; i += 4 * VL) {
        const V d0 = vload(dy + i), d1 = vload(dy + i + VL), d2 = vload(dy + i + 2 * VL), d3 = vload(dy + i + 3 * VL);
        p = vfma(d0, vload(x + i), p);
        q = vfma(d1, vload(x + i + VL), q);
        r = vfma(d2, vload(x + i + 2 * VL), r);
        t = vfma(d3, vload(x + i + 3 * VL), t);
        vstore(dx + i, vmul(d0, vv));
        vstore(dx + i + VL, vmul(d1, vv));
        vstore(dx + i + 2 * VL, vmul(d2, vv));
        vstore(dx + i + 3 * VL, vmul(d3, vv));
    }
    for (; i < count; i += VL) {
        const M m = mrange(0, (int)(count - i));
        const V d = vmload(dy + i, m);
        p = vfma(d, vmload(x + i, m), p);
        vmstore(dx + i, m, vmul(d, vv));
    }
    return vhsum(vadd(vadd(p, q), vadd(r, t)));
}

/* ---- BatchNorm over one channel's plane of n floats ---- */

/* s[0] += Σ (x - k), s[1] += Σ (x - k)², in one pass (the two-pass mean and squared deviations read the plane
   twice): lanes in single precision over blocks of 64 vectors, each block's lane sums added into the doubles, the
   tail in double. The caller's shift k (a value of the channel) keeps E[(x-k)²] - E[x-k]² from cancelling. */
void FN(unet_bn_moments)(const float *x, long n, float k, double *s) {
    const V kv = vset1(k);
    double sum = 0, squares = 0;
    long i = 0;
    while (i + 2 * VL <= n) {
        const long end = i + 64 * VL < n ? i + 64 * VL : n;
        V a0 = vzero(), a1 = vzero(), q0 = vzero(), q1 = vzero();
        for (; i + 2 * VL <= end; i += 2 * VL) {
            const V d0 = vsub(vload(x + i), kv), d1 = vsub(vload(x + i + VL), kv);
            a0 = vadd(a0, d0);
            a1 = vadd(a1, d1);
            q0 = vfma(d0, d0, q0);
            q1 = vfma(d1, d1, q1);
        }
        sum += (double)vhsum(vadd(a0, a1));
        squares += (double)vhsum(vadd(q0, q1));
    }
    for (; i < n; i++) {
        const double d = (double)x[i] - (double)k;
        sum += d;
        squares += d * d;
    }
    s[0] += sum;
    s[1] += squares;
}

/* x̂ = (x - mean)·r and y = x̂·γ + β: the forward's value, which the backward recomputes (the same bits) for the
   fused ReLU's mask y > 0. */
INLINE V FN(bn_hat)(V x, V mean, V r) { return vmul(vsub(x, mean), r); }
INLINE V FN(bn_affine)(V h, V gamma, V beta) { return vfma(h, gamma, beta); }

/* y = x̂·γ + β (max(·, 0) with relu). */
void FN(unet_bn_normalize)(const float *x, long n, float mean, float r, float gamma, float beta, bool relu, float *y) {
    const V mv = vset1(mean), rv = vset1(r), gv = vset1(gamma), bv = vset1(beta), z = vzero();
    for (long i = 0; i < n; i += VL) {
        const bool whole = i + VL <= n;
        const M m = mrange(0, (int)(n - i));
        V v = FN(bn_affine)(FN(bn_hat)(whole ? vload(x + i) : vmload(x + i, m), mv, rv), gv, bv);
        if (relu) v = vsel(vlt(z, v), z, v);
        if (whole) vstore(y + i, v);
        else vmstore(y + i, m, v);
    }
}

/* g = dy, or with `rect` (γ, β of a fused ReLU) dy where x̂·γ + β > 0 and 0 elsewhere, as that ReLU's backward
   would have passed it. */
INLINE V FN(bn_gradient)(V dy, V h, const bool masked, V gamma, V beta) {
    return masked ? vsel(vlt(vzero(), FN(bn_affine)(h, gamma, beta)), vzero(), dy) : dy;
}

INLINE void FN(bn_backward_sums)(const float *dy, const float *x, long n, float mean, float r, const float *rect,
                                 float *out, const bool masked) {
    const V mv = vset1(mean), rv = vset1(r);
    const V gv = vset1(masked ? rect[0] : 0), bv = vset1(masked ? rect[1] : 0);
    V s0 = vzero(), s1 = vzero(), d0 = vzero(), d1 = vzero();
    long i = 0;
    for (; i + 2 * VL <= n; i += 2 * VL) {
        const V h0 = FN(bn_hat)(vload(x + i), mv, rv), h1 = FN(bn_hat)(vload(x + i + VL), mv, rv);
        const V g0 = FN(bn_gradient)(vload(dy + i), h0, masked, gv, bv);
        const V g1 = FN(bn_gradient)(vload(dy + i + VL), h1, masked, gv, bv);
        s0 = vadd(s0, g0);
        s1 = vadd(s1, g1);
        d0 = vfma(g0, h0, d0);
        d1 = vfma(g1, h1, d1);
    }
    for (; i < n; i += VL) { /* the masked-off lanes load dy = 0: they add nothing */
        const M m = mrange(0, (int)(n - i));
        const V h = FN(bn_hat)(vmload(x + i, m), mv, rv);
        const V g = FN(bn_gradient)(vmload(dy + i, m), h, masked, gv, bv);
        s0 = vadd(s0, g);
        d0 = vfma(g, h, d0);
    }
    out[0] = vhsum(vadd(s0, s1));
    out[1] = vhsum(vadd(d0, d1));
}

/* out = (Σ g, Σ g·x̂), g as `bn_gradient` (rect: NULL, or γ and β of the fused ReLU). */
void FN(unet_bn_backward_sums)(const float *dy, const float *x, long n, float mean, float r, const float *rect,
                               float *out) {
    if (rect) FN(bn_backward_sums)(dy, x, n, mean, r, rect, out, true);
    else FN(bn_backward_sums)(dy, x, n, mean, r, rect, out, false);
}

INLINE void FN(bn_input_gradient)(const float *dy, const float *x, long n, float mean, float r, float k, float a,
                                  float b, const float *rect, float *dx, const bool masked) {
    const V mv = vset1(mean), rv = vset1(r), kv = vset1(k), av = vset1(a), bv = vset1(b);
    const V gv = vset1(masked ? rect[0] : 0), betav = vset1(masked ? rect[1] : 0);
    for (long i = 0; i < n; i += VL) {
        const bool whole = i + VL <= n;
        const M m = mrange(0, (int)(n - i));
        const V h = FN(bn_hat)(whole ? vload(x + i) : vmload(x + i, m), mv, rv);
        const V g = FN(bn_gradient)(whole ? vload(dy + i) : vmload(dy + i, m), h, masked, gv, betav);
        const V v = vmul(kv, vfnma(h, bv, vsub(g, av)));
        if (whole) vstore(dx + i, v);
        else vmstore(dx + i, m, v);
    }
}

/* dx = k·(g - a - x̂·b), g as `bn_gradient`. */
void FN(unet_bn_input_gradient)(const float *dy, const float *x, long n, float mean, float r, float k, float a,
                                float b, const float *rect, float *dx) {
    if (rect) FN(bn_input_gradient)(dy, x, n, mean, r, k, a, b, rect, dx, true);
    else FN(bn_input_gradient)(dy, x, n, mean, r, k, a, b, rect, dx, false);
}

/* ---- Adam's update ---- */

/* One vector of Adam's (AdamW's) update, operation for operation the scalar formula of AdamKernel.swift, so the
   same bits as the Swift lanes: no operation fused. */
INLINE void FN(adam_lanes)(const unet_adam_coefficients *k, V w0, V g, V m0, V v0, V *w1, V *m1, V *v1) {
    V w = w0;
    if (k->decoupled) w = vmul(w, vset1(k->decay));
    else if (k->l2) g = vadd(g, vmul(vset1(k->weight_decay), w));
    *m1 = vadd(m0, vmul(vset1(k->one_minus_beta1), vsub(g, m0)));
    *v1 = vadd(vmul(vset1(k->beta2), v0), vmul(vmul(vset1(k->one_minus_beta2), g), g));
    const V denominator = vadd(vdiv(vsqrt(*v1), vset1(k->bc2_sqrt)), vset1(k->epsilon));
    *w1 = vsub(w, vdiv(vmul(vset1(k->step_size), *m1), denominator));
}

/* w, m, v updated in place from g, over n floats. */
void FN(unet_adam_commit)(const unet_adam_coefficients *k, float *w, const float *g, float *m, float *v, long n) {
    for (long i = 0; i < n; i += VL) {
        V w1, m1, v1;
        if (i + VL <= n) {
            FN(adam_lanes)(k, vload(w + i), vload(g + i), vload(m + i), vload(v + i), &w1, &m1, &v1);
            vstore(w + i, w1);
            vstore(m + i, m1);
            vstore(v + i, v1);
        } else {
            const M l = mrange(0, (int)(n - i));
            FN(adam_lanes)(k, vmload(w + i, l), vmload(g + i, l), vmload(m + i, l), vmload(v + i, l), &w1, &m1, &v1);
            vmstore(w + i, l, w1);
            vmstore(m + i, l, m1);
            vmstore(v + i, l, v1);
        }
    }
}

/* The update measured, nothing written (m, v NULL before the first step: zeros): out[0] = 1 if every new weight is
   finite, else 0; out[1] += Σ (w1 - w)², out[2] += Σ w², each term and sum in double precision (the change is
   compared with the weights' norm). A lane left out of the tail reads zeros and adds 0. */
void FN(unet_adam_measure)(const unet_adam_coefficients *k, const float *w, const float *g, const float *m,
                           const float *v, long n, double *out) {
    V bad = vzero(); /* w1 - w1 is +0 for a finite w1 and NaN otherwise: their bits or-ed */
    VD c0 = vdzero(), c1 = vdzero(), q0 = vdzero(), q1 = vdzero();
    for (long i = 0; i < n; i += VL) {
        const M l = mrange(0, (int)(n - i));
        const bool whole = i + VL <= n;
        const V w0 = whole ? vload(w + i) : vmload(w + i, l), gi = whole ? vload(g + i) : vmload(g + i, l);
        const V m0 = m ? (whole ? vload(m + i) : vmload(m + i, l)) : vzero();
        const V v0 = v ? (whole ? vload(v + i) : vmload(v + i, l)) : vzero();
        V w1, m1, v1;
        FN(adam_lanes)(k, w0, gi, m0, v0, &w1, &m1, &v1);
        bad = vor(bad, vsub(w1, w1));
        const V d = vsub(w1, w0);
        const VD dl = vdlo(d), dh = vdhi(d), wl = vdlo(w0), wh = vdhi(w0);
        c0 = vdfma(dl, dl, c0);
        c1 = vdfma(dh, dh, c1);
        q0 = vdfma(wl, wl, q0);
        q1 = vdfma(wh, wh, q1);
    }
    float lanes[VL];
    vstore(lanes, bad);
    int finite = 1;
    for (int l = 0; l < VL; l++) finite &= lanes[l] == 0.0f; /* a NaN compares false */
    out[0] = finite;
    out[1] += vdhsum(c0) + vdhsum(c1);
    out[2] += vdhsum(q0) + vdhsum(q1);
}

/* ---- Winograd F(4x4, 3x3) kernel transforms ---- */

/* G g for a kernel's three taps: Winograd.swift's `kernelTransform`, the same operations in the same order (its
   divisions kept: the bits of U are the Swift loop's). */
#define WK_G(g0, g1, g2, r, rs)                                                                                   \
    do {                                                                                                         \
        (r)[0] = vdiv(g0, vset1(4));                                                                             \
        (r)[rs] = vdiv(vsub(vzero(), vadd(vadd(g0, g1), g2)), vset1(6)); /* 0 - x: Swift's SIMD negation */                                         \
        (r)[2 * (rs)] = vdiv(vsub(vzero(), vadd(vsub(g0, g1), g2)), vset1(6));                                   \
        const V a = vdiv(g0, vset1(24)), b = vdiv(g1, vset1(12)), c = vdiv(g2, vset1(6));                        \
        (r)[3 * (rs)] = vadd(vadd(a, b), c);                                                                     \
        (r)[4 * (rs)] = vadd(vsub(a, b), c);                                                                     \
        (r)[5 * (rs)] = g2;                                                                                      \
    } while (0)

/* U rows of one `outer` index j (`winogradTransformKernels`): lanes along `inner` (c unflipped, o flipped), the
   kernel of lane i at w + (j·tapsOuter + i·tapsInner) taps, read tap by tap (flipped: rotated by 180°), and
   u[ξ·plane + j·inner + i] = (G g Gᵀ)_ξ. */
void FN(unet_winograd_kernels_row)(const float *w, long tapsOuter, long tapsInner, int inner, bool flipped, long j,
                                   long plane, float *u) {
    for (int i0 = 0; i0 < inner; i0 += VL) {
        const int lanes = inner - i0 < VL ? inner - i0 : VL;
        float gather[9][VL];
        const float *src = w + j * tapsOuter + (long)i0 * tapsInner;
        for (int l = 0; l < lanes; l++)
            for (int k = 0; k < 9; k++) gather[k][l] = src[l * tapsInner + (flipped ? 8 - k : k)];
        for (int l = lanes; l < VL; l++)
            for (int k = 0; k < 9; k++) gather[k][l] = 0;
        V g[9], t[18], r[36];
        for (int k = 0; k < 9; k++) g[k] = vload(gather[k]);
        for (int col = 0; col < 3; col++) WK_G(g[col], g[3 + col], g[6 + col], t + col, 3); /* t (6, 3) = G g */
        for (int row = 0; row < 6; row++) WK_G(t[row * 3], t[row * 3 + 1], t[row * 3 + 2], r + row * 6, 1);
        float *dst = u + j * inner + i0;
        if (lanes == VL)
            for (int x = 0; x < 36; x++) vstore(dst + x * plane, r[x]);
        else
            for (int x = 0; x < 36; x++) vmstore(dst + x * plane, mrange(0, lanes), r[x]);
    }
}

#undef WK_G
#undef INLINE
