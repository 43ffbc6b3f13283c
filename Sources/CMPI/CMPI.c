#include "CMPI.h"

#include <dlfcn.h>
#include <stdio.h>

// Open MPI's handle types are pointers to its objects; void * is enough to pass them along.
typedef void *Handle;
static const int threadSerialized = 2;          // MPI_THREAD_SERIALIZED in Open MPI's mpi.h
static void *const inPlace = (void *)1;         // MPI_IN_PLACE

static int (*initThread)(int *, char ***, int, int *);
static int (*commRank)(Handle, int *);
static int (*commSize)(Handle, int *);
static int (*bcast)(void *, int, Handle, int, Handle);
static int (*allreduce)(const void *, void *, int, Handle, Handle, Handle);
static int (*iallreduce)(const void *, void *, int, Handle, Handle, Handle, Handle *);
static int (*testRequest)(Handle *, int *, void *);
static int (*waitRequest)(Handle *, void *);
static int (*finalize)(void);
static int (*abortJob)(Handle, int);
static Handle world, byteType, int64Type, floatType, doubleType, sumOp;

int unet_mpi_load(char *error, int error_length) {
    // RTLD_GLOBAL: Open MPI's plugins (its MCA components) resolve libmpi's symbols from the global scope.
    const char *names[] = {"libmpi.so.40", "libmpi.so"};
    void *lib = NULL;
    for (int i = 0; i < 2 && lib == NULL; i++) lib = dlopen(names[i], RTLD_NOW | RTLD_GLOBAL);
    if (lib == NULL) {
        snprintf(error, error_length, "cannot load Open MPI (libmpi.so.40): %s", dlerror());
        return -1;
    }
    struct { const char *name; void **slot; } symbols[] = {
        {"MPI_Init_thread", (void **)&initThread}, {"MPI_Comm_rank", (void **)&commRank},
        {"MPI_Comm_size", (void **)&commSize}, {"MPI_Bcast", (void **)&bcast},
        {"MPI_Allreduce", (void **)&allreduce}, {"MPI_Iallreduce", (void **)&iallreduce},
        {"MPI_Test", (void **)&testRequest}, {"MPI_Wait", (void **)&waitRequest}, {"MPI_Finalize", (void **)&finalize},
        {"MPI_Abort", (void **)&abortJob}, {"ompi_mpi_comm_world", &world}, {"ompi_mpi_byte", &byteType},
        {"ompi_mpi_long_long_int", &int64Type}, {"ompi_mpi_float", &floatType},
        {"ompi_mpi_double", &doubleType}, {"ompi_mpi_op_sum", &sumOp},
    };
    for (unsigned i = 0; i < sizeof symbols / sizeof symbols[0]; i++) {
        *symbols[i].slot = dlsym(lib, symbols[i].name);
        if (*symbols[i].slot == NULL) {
            snprintf(error, error_length, "libmpi has no %s (Open MPI 4 is needed)", symbols[i].name);
            return -1;
        }
    }
    return 0;
}

int unet_mpi_init(int *rank, int *size) {
    int provided = 0;
    if (initThread(NULL, NULL, threadSerialized, &provided) != 0 || provided < threadSerialized) return -1;
    if (commRank(world, rank) != 0 || commSize(world, size) != 0) return -1;
    return 0;
}

int unet_mpi_broadcast_bytes(void *buffer, int count, int root) { return bcast(buffer, count, byteType, root, world); }

int unet_mpi_broadcast_int64(long long *value, int root) { return bcast(value, 1, int64Type, root, world); }

int unet_mpi_allreduce_sum_float(float *buffer, int count) {
    return allreduce(inPlace, buffer, count, floatType, sumOp, world);
}

int unet_mpi_allreduce_sum_double(double *buffer, int count) {
    return allreduce(inPlace, buffer, count, doubleType, sumOp, world);
}

int unet_mpi_iallreduce_sum_float(float *buffer, int count, void **request) {
    return iallreduce(inPlace, buffer, count, floatType, sumOp, world, request);
}

// MPI_STATUS_IGNORE is a null pointer in Open MPI.
int unet_mpi_test(void **request, int *done) { return testRequest(request, done, NULL); }

int unet_mpi_wait(void **request) { return waitRequest(request, NULL); }

int unet_mpi_finalize(void) { return finalize(); }

void unet_mpi_abort(int code) { abortJob(world, code); }
