/* Writes the depthwise kernels' results (forward, weight gradient, stride-2 input gradient) on every 3x3 and 5x5
   geometry with strides 1-2 by rows and columns, paddings 0-K, widths 1-130 and heights 1-57 to FILE, so that two
   versions of Sources/CKernels can be compared bit for bit (`cmp`):
     clang -O2 -I$DIR/include -o /tmp/dwbits Examples/benchmarks/depthwise_bits.c \
         $DIR/KernelsAVX2.c $DIR/KernelsAVX512.c
     /tmp/dwbits 512|2 FILE */
#include "CKernels.h"
#include <stdio.h>
#include <stdlib.h>

static float x[200 * 200], dy[200 * 200], y[200 * 200 + 16], dx[200 * 200 + 16];

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    const int isa = atoi(argv[1]);
    FILE *f = fopen(argv[2], "wb");
    if (!f) return 1;
    unsigned s = 1; /* a linear congruential generator: the same inputs for every build */
    for (int i = 0; i < 200 * 200; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = (s >> 8) / 16777216.f - 0.5f;
        s = s * 1664525u + 1013904223u;
        dy[i] = (s >> 8) / 16777216.f - 0.5f;
    }
    float w[25];
    for (int i = 0; i < 25; i++) w[i] = 0.37f * i - 3.1f;
    for (int k = 3; k <= 5; k += 2)
        for (int sh = 1; sh <= 2; sh++)
            for (int sw = 1; sw <= 2; sw++)
                for (int p = 0; p <= k; p++)
                    for (int W = 1; W <= 130; W += W < 40 ? 1 : 9)
                        for (int H = 1; H <= 60; H += 7) {
                            const int oh = (H + 2 * p - k) / sh + 1, ow = (W + 2 * p - k) / sw + 1;
                            if (oh < 1 || ow < 1) continue;
                            const unet_dw_geometry g = {H, W, oh, ow, k, sh, sw, p, p};
                            double acc[25] = {0};
                            bool a, b, c;
                            if (isa == 512) {
                                a = unet_dw_forward_avx512(x, g, w, 0.25f, y);
                                b = unet_dw_weight_gradient_avx512(x, dy, g, acc);
                                c = unet_dw_input_gradient_s2_avx512(dy, g, w, dx);
                            } else {
                                a = unet_dw_forward_avx2(x, g, w, 0.25f, y);
                                b = unet_dw_weight_gradient_avx2(x, dy, g, acc);
                                c = unet_dw_input_gradient_s2_avx2(dy, g, w, dx);
                            }
                            fwrite(&a, 1, 1, f);
                            fwrite(&b, 1, 1, f);
                            fwrite(&c, 1, 1, f);
                            if (a) fwrite(y, 4, oh * ow, f);
                            if (b) fwrite(acc, 8, k * k, f);
                            if (c) fwrite(dx, 4, H * W, f);
                        }
    fclose(f);
    return 0;
}
