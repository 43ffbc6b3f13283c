/* Off x86-64 the vector kernels do not exist: these stand-ins keep the symbols, and `SIMDLevel.active` is
   `.portable` there, so the engine never calls them. */
#include "CKernels.h"

#if !defined(__x86_64__)
#define STUBS(isa)                                                                                             \
    bool unet_dw_forward_##isa(const float *x, unet_dw_geometry g, const float *w, float b, float *y) {       \
        return false;                                                                                          \
    }                                                                                                          \
    bool unet_dw_weight_gradient_##isa(const float *x, const float *dy, unet_dw_geometry g, double *acc) {    \
        return false;                                                                                          \
    }                                                                                                          \
    bool unet_dw_input_gradient_s2_##isa(const float *dy, unet_dw_geometry g, const float *w, float *dx) {    \
        return false;                                                                                          \
    }                                                                                                          \
    void unet_silu_forward_##isa(const float *x, float *y, long n) {}                                          \
    void unet_silu_backward_##isa(const float *x, const float *dy, float *dx, long n) {}                       \
    void unet_scale_##isa(const float *x, float v, float *y, long n) {}                                        \
    float unet_scale_and_dot_##isa(const float *dy, float v, float *dx, const float *x, long n) { return 0; }  \
    void unet_adam_commit_##isa(const unet_adam_coefficients *k, float *w, const float *g, float *m, float *v, \
                                long n) {}                                                                    \
    void unet_adam_measure_##isa(const unet_adam_coefficients *k, const float *w, const float *g,              \
                                 const float *m, const float *v, long n, double *out) {}                      \
    void unet_winograd_kernels_row_##isa(const float *w, long to, long ti, int inner, bool flipped, long j,    \
                                         long plane, float *u) {}                                             \
    void unet_bn_moments_##isa(const float *x, long n, float k, double *s) {}                                  \
    void unet_bn_normalize_##isa(const float *x, long n, float m, float r, float g, float b, bool relu,       \
                                 float *y) {}                                                                 \
    void unet_bn_backward_sums_##isa(const float *dy, const float *x, long n, float m, float r,               \
                                     const float *rect, float *out) {}                                        \
    void unet_bn_input_gradient_##isa(const float *dy, const float *x, long n, float m, float r, float k,     \
                                      float a, float b, const float *rect, float *dx) {}                      \
    bool unet_conv3x3_forward_##isa(const float *x, int C, int H, int W, const float *wp, int O,              \
                                    const float *bias, bool relu, float *y, int row0, int row1, float *s) {   \
        return false;                                                                                          \
    }                                                                                                          \
    size_t unet_conv3x3_forward_scratch_##isa(int C, int W) { return 0; }                                      \
    bool unet_conv3x3_weight_gradient_##isa(const float *x, const float *dy, int C, int H, int W, int O,      \
                                            int row0, int row1, double *acc, float *s) {                       \
        return false;                                                                                          \
    }                                                                                                          \
    size_t unet_conv3x3_weight_gradient_scratch_##isa(int C, int O, int W) { return 0; }
STUBS(avx2)
STUBS(avx512)
bool unet_winograd_rows_forward_avx512(const float *x, int C, int H, int W, const float *u, int O, const float *bias,
                                       bool relu, float *y, int tileRow0, int tileRow1, float *scratch) {
    return false;
}
size_t unet_winograd_rows_scratch_avx512(int C, int O, int W) { return 0; }
bool unet_winograd_rows_weight_gradient_avx512(const float *x, const float *dy, int C, int H, int W, int O,
                                               int tileRow0, int tileRow1, float *du, float *scratch) {
    return false;
}
size_t unet_winograd_rows_weight_gradient_scratch_avx512(int C, int O, int W) { return 0; }
#endif
