/* KernelBodies.h for AVX-512 (F, BW, DQ, VL): 16 floats a vector, opmask registers for the edges. */
#include "CKernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma"))), \
                             apply_to = function)

#define VL 16
typedef __m512 V;
typedef __mmask16 M;
typedef __mmask16 C;
#define FN(name) name##_avx512
#define vzero() _mm512_setzero_ps()
#define vset1(f) _mm512_set1_ps(f)
#define vload(p) _mm512_loadu_ps(p)
#define vstore(p, v) _mm512_storeu_ps(p, v)
#define vmload(p, m) _mm512_maskz_loadu_ps(m, p)
#define vmstore(p, m, v) _mm512_mask_storeu_ps(p, m, v)
#define vadd _mm512_add_ps
#define vsub _mm512_sub_ps
#define vmul _mm512_mul_ps
#define vdiv _mm512_div_ps
#define vor _mm512_or_ps
#define vsqrt _mm512_sqrt_ps
/* Doubles: the lower and upper halves of a float vector widened, multiply-add, horizontal sum. */
typedef __m512d VD;
#define vdzero() _mm512_setzero_pd()
#define vdlo(v) _mm512_cvtps_pd(_mm512_castps512_ps256(v))
#define vdhi(v) _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)))
#define vdfma _mm512_fmadd_pd
#define vdhsum _mm512_reduce_add_pd
#define vfma _mm512_fmadd_ps
#define vfnma _mm512_fnmadd_ps
#define vhsum _mm512_reduce_add_ps
#define vlt(a, b) _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ)
#define vsel(c, a, b) _mm512_mask_blend_ps(c, a, b)
#define vexp2i(v) \
    _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(_mm512_castps_si512(v), _mm512_set1_epi32(127 - 0x4B400000)), 23))

static inline M mrange(int lo, int hi) {
    lo = lo < 0 ? 0 : lo > VL ? VL : lo;
    hi = hi < 0 ? 0 : hi > VL ? VL : hi;
    return hi <= lo ? 0 : (M)(((1u << hi) - 1) & ~((1u << lo) - 1));
}

static inline V veven(V a, V b) {
    return _mm512_permutex2var_ps(a, _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30), b);
}

static inline V vodd(V a, V b) {
    return _mm512_permutex2var_ps(a, _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31), b);
}

static inline V vziplo(V a, V b) {
    return _mm512_permutex2var_ps(a, _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23), b);
}

static inline V vziphi(V a, V b) {
    return _mm512_permutex2var_ps(a, _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31),
                                  b);
}

/* Lanes k..<k+16 of a then b (k a constant once the taps' loop is unrolled; valignd takes an immediate). */
#define HAVE_VSHIFT 1
static inline __attribute__((always_inline)) V vshift(V a, V b, const int k) {
    const __m512i x = _mm512_castps_si512(a), y = _mm512_castps_si512(b);
    switch (k) {
    case 0: return a;
    case 1: return _mm512_castsi512_ps(_mm512_alignr_epi32(y, x, 1));
    case 2: return _mm512_castsi512_ps(_mm512_alignr_epi32(y, x, 2));
    case 3: return _mm512_castsi512_ps(_mm512_alignr_epi32(y, x, 3));
    default: return _mm512_castsi512_ps(_mm512_alignr_epi32(y, x, 4));
    }
}

#include "KernelBodies.h"
#include "ConvBodies.h"
#include "WinogradRows.h"

#pragma clang attribute pop

#endif
