#ifndef UNET_CPUID_H
#define UNET_CPUID_H

#include <stdbool.h>

/* What this x86-64 CPU and its operating system let a program use, read with cpuid and xgetbv. The engine compares
   it with the kernels OpenBLAS chose at load time: OpenBLAS falls back to old SSE3 kernels on CPU models it does not
   know, although their instructions would run its AVX2 or AVX-512 kernels. A vector feature counts only when the
   operating system also saves its registers (xgetbv: YMM state for AVX, AVX2 and FMA; opmask and ZMM state for AVX-512), as
   a kernel using it would fault otherwise. On other architectures every field is zero. */
typedef struct {
    /* "GenuineIntel", "AuthenticAMD", "HygonGenuine", ...; empty without cpuid. */
    char vendor[13];
    /* Display family and model (extended fields folded in), as /proc/cpuinfo shows them. */
    int family;
    int model;
    bool avx;
    bool avx2;
    bool fma;
    bool avx512f;
    bool avx512bw;
    bool avx512dq;
    bool avx512vl;
    bool avx512bf16;
} unet_cpu_features;

/* Fills `out` for the CPU this runs on. */
void unet_cpu_features_read(unet_cpu_features *out);

#endif
