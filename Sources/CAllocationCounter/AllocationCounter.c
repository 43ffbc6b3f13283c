// Counting wrappers around glibc's allocator; see include/AllocationCounter.h. Defining malloc in the executable
// interposes it for every library in the process; the wrappers forward to glibc's exported __libc_* entry points.
#include "AllocationCounter.h"

#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *p, size_t size);
extern void *__libc_memalign(size_t alignment, size_t size);

static atomic_long calls, largeCalls, bytes;

static inline void count(size_t size) {
    atomic_fetch_add_explicit(&calls, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&bytes, (long)size, memory_order_relaxed);
    if (size >= 65536) atomic_fetch_add_explicit(&largeCalls, 1, memory_order_relaxed);
}

void unet_allocations_reset(void) {
    atomic_store(&calls, 0);
    atomic_store(&largeCalls, 0);
    atomic_store(&bytes, 0);
}

long unet_allocations_count(void) { return atomic_load(&calls); }
long unet_allocations_large_count(void) { return atomic_load(&largeCalls); }
long unet_allocations_bytes(void) { return atomic_load(&bytes); }

void *malloc(size_t size) {
    count(size);
    return __libc_malloc(size);
}

void *calloc(size_t n, size_t size) {
    count(n * size);
    return __libc_calloc(n, size);
}

void *realloc(void *p, size_t size) {
    count(size);
    return __libc_realloc(p, size);
}

void *memalign(size_t alignment, size_t size) {
    count(size);
    return __libc_memalign(alignment, size);
}

void *aligned_alloc(size_t alignment, size_t size) {
    count(size);
    return __libc_memalign(alignment, size);
}

int posix_memalign(void **out, size_t alignment, size_t size) {
    count(size);
    void *p = __libc_memalign(alignment, size);
    if (p == NULL) return ENOMEM;
    *out = p;
    return 0;
}
