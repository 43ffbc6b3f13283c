#ifndef UNET_CMPI_H
#define UNET_CMPI_H

/// The few MPI calls data-parallel training needs, reached through dlopen: the default engine binary does not
/// link libmpi, so it runs where Open MPI is not installed; only `unet-engine --mpi` loads it. The handles
/// (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, ...) are Open MPI's exported objects, looked up by name, so this
/// speaks Open MPI's ABI (Debian's libmpi.so.40), not MPICH's.

/// Loads libmpi and its functions. Returns 0, or -1 with a reason in `error`.
int unet_mpi_load(char *error, int error_length);
/// MPI_Init_thread (MPI_THREAD_SERIALIZED: any one thread at a time) and the world's rank and size. 0 or -1.
int unet_mpi_init(int *rank, int *size);
/// MPI_Bcast of `count` bytes from `root`. 0 or the MPI error code.
int unet_mpi_broadcast_bytes(void *buffer, int count, int root);
/// MPI_Bcast of one 64-bit integer from `root`.
int unet_mpi_broadcast_int64(long long *value, int root);
/// In-place MPI_Allreduce with MPI_SUM over floats / doubles.
int unet_mpi_allreduce_sum_float(float *buffer, int count);
int unet_mpi_allreduce_sum_double(double *buffer, int count);
/// MPI_Iallreduce in place with MPI_SUM over floats: starts the sum and returns at once; `request` receives
/// the handle that `unet_mpi_test` and `unet_mpi_wait` take. 0 or the MPI error code.
int unet_mpi_iallreduce_sum_float(float *buffer, int count, void **request);
/// MPI_Test: sets `done` to 1 when the request has completed (its handle is then freed), else 0. Also lets
/// the job's other non-blocking operations progress.
int unet_mpi_test(void **request, int *done);
/// MPI_Wait: returns when the request has completed.
int unet_mpi_wait(void **request);
/// MPI_Finalize.
int unet_mpi_finalize(void);
/// MPI_Abort of the whole job with `code`.
void unet_mpi_abort(int code);

#endif
