/* One thread timing CKernels' depthwise kernels (forward, weight gradient, input gradient) on the shapes of
   `unet-bench --efficientnet-ops` (96 planes of 112x112, 240 of 28x28; "same" padding as TensorFlow's), best of
   REPEATS, in ns a plane. PLANES 0 takes batch 8's planes (from DRAM at 112); 8 keeps them in L2 (in cache).
     S=Sources/CKernels; clang -O2 -I$S/include -o /tmp/dwplanes Examples/benchmarks/depthwise_planes.c \
         $S/KernelsAVX2.c $S/KernelsAVX512.c
     /tmp/dwplanes 512|2 [PLANES [REPEATS]]                     # AVX-512 or AVX2 */
#include "CKernels.h"
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

typedef bool (*forward_fn)(const float *, unet_dw_geometry, const float *, float, float *);
typedef bool (*weight_gradient_fn)(const float *, const float *, unet_dw_geometry, double *);
typedef bool (*input_gradient_fn)(const float *, unet_dw_geometry, const float *, float *);

int main(int argc, char **argv) {
    const int isa = argc > 1 ? atoi(argv[1]) : 512, planes = argc > 2 ? atoi(argv[2]) : 0;
    const int repeats = argc > 3 ? atoi(argv[3]) : 7;
    const forward_fn F = isa == 512 ? unet_dw_forward_avx512 : unet_dw_forward_avx2;
    const weight_gradient_fn WG = isa == 512 ? unet_dw_weight_gradient_avx512 : unet_dw_weight_gradient_avx2;
    const input_gradient_fn IG = isa == 512 ? unet_dw_input_gradient_s2_avx512 : unet_dw_input_gradient_s2_avx2;
    const int shapes[2][2] = {{112, 96}, {28, 240}};
    for (int si = 0; si < 2; si++) {
        const int hw = shapes[si][0], c = shapes[si][1], P = planes ? planes : 8 * c;
        const size_t n = (size_t)P * hw * hw;
        float *x = aligned_alloc(64, n * 4), *y = aligned_alloc(64, n * 4);
        float *dy = aligned_alloc(64, n * 4), *dx = aligned_alloc(64, n * 4);
        for (size_t i = 0; i < n; i++) {
            x[i] = (float)(i % 97) / 97.f;
            dy[i] = (float)(i % 89) / 89.f;
        }
        float w[25];
        for (int i = 0; i < 25; i++) w[i] = 0.1f * i;
        for (int k = 3; k <= 5; k += 2) {
            for (int s = 1; s <= 2; s++) {
                int oh = (hw + s - 1) / s, total = (oh - 1) * s + k - hw; /* TensorFlow's "same" */
                if (total < 0) total = 0;
                const unet_dw_geometry g = {hw, hw, oh, oh, k, s, s, total / 2, total / 2};
                const unet_dw_geometry adjoint = {oh, oh, hw, hw, k, 1, 1, k - 1 - total / 2, k - 1 - total / 2};
                double best[3] = {1e9, 1e9, 1e9};
                for (int r = 0; r < repeats; r++) {
                    double t = now();
                    for (int q = 0; q < P; q++) F(x + (size_t)q * hw * hw, g, w, 0.f, y + (size_t)q * oh * oh);
                    double t1 = now();
                    if (t1 - t < best[0]) best[0] = t1 - t;
                    double acc[25] = {0};
                    t = now();
                    for (int q = 0; q < P; q++) WG(x + (size_t)q * hw * hw, dy + (size_t)q * oh * oh, g, acc);
                    t1 = now();
                    if (t1 - t < best[1]) best[1] = t1 - t;
                    t = now();
                    for (int q = 0; q < P; q++) {
                        const float *d = dy + (size_t)q * oh * oh;
                        if (s == 1) F(d, adjoint, w, 0.f, dx + (size_t)q * hw * hw);
                        else IG(d, g, w, dx + (size_t)q * hw * hw);
                    }
                    t1 = now();
                    if (t1 - t < best[2]) best[2] = t1 - t;
                }
                const double bytes = (double)P * hw * hw * 4 + (double)P * oh * oh * 4;
                printf("avx%-3d %dx%d s%d %d@%-3d  fwd %6.0f ns/plane %5.1f GB/s | wgrad %6.0f ns %5.1f GB/s | "
                       "igrad %6.0f ns %5.1f GB/s\n",
                       isa, k, k, s, P, hw, best[0] / P * 1e9, bytes / best[0] / 1e9, best[1] / P * 1e9,
                       bytes / best[1] / 1e9, best[2] / P * 1e9, bytes / best[2] / 1e9);
            }
        }
        free(x);
        free(y);
        free(dy);
        free(dx);
    }
    return 0;
}
