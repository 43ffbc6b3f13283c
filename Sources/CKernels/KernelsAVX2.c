/* KernelBodies.h for AVX2 + FMA: 8 floats a vector, vmaskmov for the edges (it does not fault on the lanes it
   leaves out). */
#include "CKernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)

#define VL 8
typedef __m256 V;
typedef __m256i M;
typedef __m256 C;
#define FN(name) name##_avx2
#define vzero() _mm256_setzero_ps()
#define vset1(f) _mm256_set1_ps(f)
#define vload(p) _mm256_loadu_ps(p)
#define vstore(p, v) _mm256_storeu_ps(p, v)
#define vmload(p, m) _mm256_maskload_ps(p, m)
#define vmstore(p, m, v) _mm256_maskstore_ps(p, m, v)
#define vadd _mm256_add_ps
#define vsub _mm256_sub_ps
#define vmul _mm256_mul_ps
#define vdiv _mm256_div_ps
#define vor _mm256_or_ps
#define vsqrt _mm256_sqrt_ps
/* Doubles: the lower and upper halves of a float vector widened, multiply-add, horizontal sum. */
typedef __m256d VD;
#define vdzero() _mm256_setzero_pd()
#define vdlo(v) _mm256_cvtps_pd(_mm256_castps256_ps128(v))
#define vdhi(v) _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1))
#define vdfma _mm256_fmadd_pd
static inline double vdhsum(VD v) {
    const __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}
#define vfma _mm256_fmadd_ps
#define vfnma _mm256_fnmadd_ps
#define vlt(a, b) _mm256_cmp_ps(a, b, _CMP_LT_OQ)
#define vsel(c, a, b) _mm256_blendv_ps(a, b, c)
#define vexp2i(v) \
    _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_castps_si256(v), _mm256_set1_epi32(127 - 0x4B400000)), 23))

static inline M mrange(int lo, int hi) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    lo = lo < 0 ? 0 : lo > VL ? VL : lo;
    hi = hi < 0 ? 0 : hi > VL ? VL : hi;
    return _mm256_and_si256(_mm256_cmpgt_epi32(lane, _mm256_set1_epi32(lo - 1)),
                            _mm256_cmpgt_epi32(_mm256_set1_epi32(hi), lane));
}

static inline float vhsum(V v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* a0 a2 b0 b2 | a4 a6 b4 b6, then the 64-bit pairs reordered to a0 a2 a4 a6 b0 b2 b4 b6. */
static inline V veven(V a, V b) {
    const V t = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(t), _MM_SHUFFLE(3, 1, 2, 0)));
}

static inline V vodd(V a, V b) {
    const V t = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1));
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(t), _MM_SHUFFLE(3, 1, 2, 0)));
}

static inline V vziplo(V a, V b) {
    return _mm256_permute2f128_ps(_mm256_unpacklo_ps(a, b), _mm256_unpackhi_ps(a, b), 0x20);
}

static inline V vziphi(V a, V b) {
    return _mm256_permute2f128_ps(_mm256_unpacklo_ps(a, b), _mm256_unpackhi_ps(a, b), 0x31);
}

#include "KernelBodies.h"
#include "ConvBodies.h"

#pragma clang attribute pop

#endif
