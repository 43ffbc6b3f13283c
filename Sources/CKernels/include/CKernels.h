#ifndef UNET_CKERNELS_H
#define UNET_CKERNELS_H

#include <stdbool.h>
#include <stddef.h>

/* The memory-bound kernels of an EfficientNet (depthwise convolution, SiLU, channel gating) compiled twice for
   x86-64 vector units the baseline build cannot use: once for AVX2 + FMA (8 floats a vector), once for AVX-512
   (16 floats, masked loads and stores at the edges). The engine picks one at start-up from cpuid
   (`SIMDLevel.active` in UNetCore) and calls only that one; the Swift kernels stay as the fallback and the naive
   oracles as the tests' reference. Each function sums in one fixed order, so a given level gives the same numbers
   on every run and thread count. On other architectures the functions exist but do nothing and return false. */

/* One plane of a depthwise convolution: input height x width, output outH x outW, a kernel x kernel square,
   strides, and the padding at the top and left (taps outside the plane count as zero). */
typedef struct {
    int height, width, outH, outW, kernel, strideH, strideW, padTop, padLeft;
} unet_dw_geometry;

/* y (outH, outW) = sum over the taps of w[ki, kj] * x[oy*SH - PT + ki, ox*SW - PL + kj] + bias. Returns false,
   touching nothing, where the kernel is not 3 or 5 or the column stride not 1 or 2. */
bool unet_dw_forward_avx2(const float *x, unet_dw_geometry g, const float *w, float bias, float *y);
bool unet_dw_forward_avx512(const float *x, unet_dw_geometry g, const float *w, float bias, float *y);

/* acc[ki*K + kj] += sum over the plane of dy[oy, ox] * x[oy*SH - PT + ki, ox*SW - PL + kj], each tap's sum formed
   in single-precision lanes and added in double. Same support as the forward. */
bool unet_dw_weight_gradient_avx2(const float *x, const float *dy, unet_dw_geometry g, double *acc);
bool unet_dw_weight_gradient_avx512(const float *x, const float *dy, unet_dw_geometry g, double *acc);

/* dx (height, width), overwritten, = the adjoint of the forward for column stride 2 (stride 1 is a forward
   convolution with the kernel turned by 180 degrees): every dx element written once, from the even and odd
   columns' sums interleaved. Returns false for other strides or kernels. */
bool unet_dw_input_gradient_s2_avx2(const float *dy, unet_dw_geometry g, const float *w, float *dx);
bool unet_dw_input_gradient_s2_avx512(const float *dy, unet_dw_geometry g, const float *w, float *dx);

/* SiLU over count floats: y = x * sigmoid(x); dx = dy * s * (1 + x * (1 - s)) with s = sigmoid(x). */
void unet_silu_forward_avx2(const float *x, float *y, long count);
void unet_silu_forward_avx512(const float *x, float *y, long count);
void unet_silu_backward_avx2(const float *x, const float *dy, float *dx, long count);
void unet_silu_backward_avx512(const float *x, const float *dy, float *dx, long count);

/* Channel gating over one plane: y = x * v; and its backward, dx = dy * v returning the sum of dy * x. */
void unet_scale_avx2(const float *x, float v, float *y, long count);
void unet_scale_avx512(const float *x, float v, float *y, long count);
float unet_scale_and_dot_avx2(const float *dy, float v, float *dx, const float *x, long count);
float unet_scale_and_dot_avx512(const float *dy, float v, float *dx, const float *x, long count);

/* One `outer` row of Winograd's transformed kernels (Winograd.swift's winogradTransformKernels), KernelBodies.h. */
void unet_winograd_kernels_row_avx2(const float *w, long tapsOuter, long tapsInner, int inner, bool flipped, long j,
                                    long plane, float *u);
void unet_winograd_kernels_row_avx512(const float *w, long tapsOuter, long tapsInner, int inner, bool flipped, long j,
                                    long plane, float *u);

/* Adam's (AdamW's) coefficients for one step (AdamKernel.swift's AdamCoefficients), and its update over n floats
   (KernelBodies.h): committed in place, or measured (out[0] = every new weight finite, out[1] += Σ(Δw)², out[2] +=
   Σw²; m and v may be NULL there, read as zeros). */
typedef struct {
    float decay, weight_decay, one_minus_beta1, beta2, one_minus_beta2, step_size, bc2_sqrt, epsilon;
    bool decoupled, l2;
} unet_adam_coefficients;
void unet_adam_commit_avx2(const unet_adam_coefficients *k, float *w, const float *g, float *m, float *v, long n);
void unet_adam_measure_avx2(const unet_adam_coefficients *k, const float *w, const float *g, const float *m,
                            const float *v, long n, double *out);
void unet_adam_commit_avx512(const unet_adam_coefficients *k, float *w, const float *g, float *m, float *v, long n);
void unet_adam_measure_avx512(const unet_adam_coefficients *k, const float *w, const float *g, const float *m,
                            const float *v, long n, double *out);

/* BatchNorm over one channel's plane of n floats (KernelBodies.h): the one-pass moments Σ(x-k), Σ(x-k)² added into
   s[0], s[1]; y = (x - mean)·r·γ + β (max(·, 0) with relu); the backward's (Σ g, Σ g·x̂) into out[0], out[1] and
   dx = k·(g - a - x̂·b), g = dy, or with rect = {γ, β} of a fused ReLU dy where the forward's y > 0. */
void unet_bn_moments_avx2(const float *x, long n, float k, double *s);
void unet_bn_normalize_avx2(const float *x, long n, float mean, float r, float gamma, float beta, bool relu, float *y);
void unet_bn_backward_sums_avx2(const float *dy, const float *x, long n, float mean, float r, const float *rect,
                                float *out);
void unet_bn_input_gradient_avx2(const float *dy, const float *x, long n, float mean, float r, float k, float a,
                                 float b, const float *rect, float *dx);
void unet_bn_moments_avx512(const float *x, long n, float k, double *s);
void unet_bn_normalize_avx512(const float *x, long n, float mean, float r, float gamma, float beta, bool relu, float *y);
void unet_bn_backward_sums_avx512(const float *dy, const float *x, long n, float mean, float r, const float *rect,
                                float *out);
void unet_bn_input_gradient_avx512(const float *dy, const float *x, long n, float mean, float r, float k, float a,
                                 float b, const float *rect, float *dx);

/* A 3x3 "same" (padding 1) stride-1 convolution of one image for few channels (C and O from 1 to 64), computed
   directly (ConvBodies.h): x (C, H, W), y (O, H, W), output rows row0 ..< row1 written.
   wp: the kernels (O, C, 3, 3) packed as [O/4 rounded up][C][3][3][4] (zeros past O; UNetCore's
   `packSmallConvolutionWeights`); bias (O) or null; relu: y = max(y, 0). scratch: at least
   unet_conv3x3_forward_scratch(C, W) floats, 64-byte aligned, used by this call alone. Returns false, touching
   nothing, outside those sizes. */
bool unet_conv3x3_forward_avx2(const float *x, int C, int H, int W, const float *wp, int O, const float *bias,
                               bool relu, float *y, int row0, int row1, float *scratch);
bool unet_conv3x3_forward_avx512(const float *x, int C, int H, int W, const float *wp, int O, const float *bias,
                                 bool relu, float *y, int row0, int row1, float *scratch);
size_t unet_conv3x3_forward_scratch_avx2(int C, int W);
size_t unet_conv3x3_forward_scratch_avx512(int C, int W);

/* acc (O, C, 3, 3) += sum over the output rows row0 ..< row1 of one image of dy[o, oy, ox] * x[c, oy + ky - 1,
   ox + kx - 1] (zero outside the plane), in blocks of rows: each block's sums formed in single-precision lanes,
   their lanes added in a fixed order, then added in double. x (C, H, W), dy (O, H, W). scratch: at least
   unet_conv3x3_weight_gradient_scratch(C, O, W) floats. Same support as the forward. */
bool unet_conv3x3_weight_gradient_avx2(const float *x, const float *dy, int C, int H, int W, int O, int row0,
                                       int row1, double *acc, float *scratch);
bool unet_conv3x3_weight_gradient_avx512(const float *x, const float *dy, int C, int H, int W, int O, int row0,
                                         int row1, double *acc, float *scratch);
size_t unet_conv3x3_weight_gradient_scratch_avx2(int C, int O, int W);
size_t unet_conv3x3_weight_gradient_scratch_avx512(int C, int O, int W);

/* A 3x3 "same" stride-1 convolution of one image by Winograd F(4x4, 3x3), all three stages fused per row of 4x4
   output tiles (WinogradRows.h; AVX-512 only): x (C, H, W), y (O, H, W), the output rows of tile rows
   tileRow0 ..< tileRow1 (4 rows each, the last cut at H) written. u: the transformed kernels (36, O, C)
   (UNetCore's `winogradTransformKernels`); bias (O) or null; relu: y = max(y, 0). scratch: at least
   unet_winograd_rows_scratch(C, O, W) floats, 64-byte aligned, used by this call alone. False on empty sizes. */
bool unet_winograd_rows_forward_avx512(const float *x, int C, int H, int W, const float *u, int O,
                                       const float *bias, bool relu, float *y, int tileRow0, int tileRow1,
                                       float *scratch);
size_t unet_winograd_rows_scratch_avx512(int C, int O, int W);

/* The weight gradient's transformed sums of the same driver: du (36, O, C16) += Σ over the tiles of tile rows
   tileRow0 ..< tileRow1 of (A dy Aᵀ)_ξ (O) (Bᵀ x B)_ξ (C), C16 = C rounded up to 16 (the row stride; columns past
   C get zeros). x (C, H, W), dy (O, H, W); scratch: unet_winograd_rows_weight_gradient_scratch(C, O, W) floats,
   64-byte aligned. */
bool unet_winograd_rows_weight_gradient_avx512(const float *x, const float *dy, int C, int H, int W, int O,
                                               int tileRow0, int tileRow1, float *du, float *scratch);
size_t unet_winograd_rows_weight_gradient_scratch_avx512(int C, int O, int W);

#endif
