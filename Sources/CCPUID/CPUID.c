#include "CPUID.h"

#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

/* The OS-enabled register state (XCR0). Only valid when cpuid reports OSXSAVE. */
static unsigned long long xcr0(void) {
    unsigned int lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}

void unet_cpu_features_read(unet_cpu_features *out) {
    memset(out, 0, sizeof *out);
    unsigned int eax, ebx, ecx, edx;
    if (!__get_cpuid(0, &eax, &ebx, &ecx, &edx)) return;
    unsigned int maxLeaf = eax;
    memcpy(out->vendor, &ebx, 4);
    memcpy(out->vendor + 4, &edx, 4);
    memcpy(out->vendor + 8, &ecx, 4);

    __get_cpuid(1, &eax, &ebx, &ecx, &edx);
    int family = (eax >> 8) & 0xf, model = (eax >> 4) & 0xf;
    if (family == 0xf) family += (eax >> 20) & 0xff;
    if (family == 0x6 || family >= 0xf) model += ((eax >> 16) & 0xf) << 4;
    out->family = family;
    out->model = model;
    bool fma = ecx & (1u << 12), osxsave = ecx & (1u << 27), avx = ecx & (1u << 28);
    unsigned long long xcr = osxsave ? xcr0() : 0;
    bool ymmState = (xcr & 0x6) == 0x6;             /* SSE and AVX (upper YMM) state */
    bool zmmState = ymmState && (xcr & 0xe0) == 0xe0; /* opmask, upper ZMM0-15, ZMM16-31 */
    if (!avx || !ymmState) return;
    out->avx = true;
    out->fma = fma;
    if (maxLeaf < 7) return;

    __cpuid_count(7, 0, eax, ebx, ecx, edx);
    unsigned int maxSubleaf = eax;
    out->avx2 = ebx & (1u << 5);
    if (!zmmState) return;
    out->avx512f = ebx & (1u << 16);
    out->avx512dq = ebx & (1u << 17);
    out->avx512bw = ebx & (1u << 30);
    out->avx512vl = ebx & (1u << 31);
    if (maxSubleaf >= 1) {
        __cpuid_count(7, 1, eax, ebx, ecx, edx);
        out->avx512bf16 = eax & (1u << 5);
    }
}

#else

void unet_cpu_features_read(unet_cpu_features *out) { memset(out, 0, sizeof *out); }

#endif
