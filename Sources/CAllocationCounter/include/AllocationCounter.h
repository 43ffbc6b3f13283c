#ifndef UNET_ALLOCATION_COUNTER_H
#define UNET_ALLOCATION_COUNTER_H

/* Counts heap allocations made anywhere in the process (Swift runtime, OpenBLAS, Dispatch, the engine) between
   a reset and a read. Linked into unet-bench and the UNetCore tests only: it replaces malloc and friends with counting wrappers around
   glibc's own implementations, which is how the benchmark shows what a warm training step allocates. */

/* Starts counting from zero. */
void unet_allocations_reset(void);
/* Calls to malloc, calloc, realloc, posix_memalign, aligned_alloc and memalign since the reset. */
long unet_allocations_count(void);
/* Of those, the ones of at least 64 KiB: tensor-sized buffers rather than bookkeeping. */
long unet_allocations_large_count(void);
/* Bytes requested by them. */
long unet_allocations_bytes(void);

#endif
