// MPI behind a narrow C API for align's `Cluster` (Sources/AlignCore/Util/Cluster.swift). Swift cannot import the
// handle macros of mpi.h (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, MPI_IN_PLACE are casts of addresses of library
// symbols in Open MPI), so every call takes plain pointers and counts and works on MPI_COMM_WORLD. Errors return
// the MPI error code (0 = success); `align_mpi_error_string` describes one.
#ifndef ALIGN_MPI_H
#define ALIGN_MPI_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// MPI_Init_thread (MPI_THREAD_SERIALIZED) with errors returned instead of aborting; the rank and size of
/// MPI_COMM_WORLD. Call once.
int align_mpi_init(int *rank, int *size);

/// MPI_Finalize (after every rank's last collective).
int align_mpi_finalize(void);

/// MPI_Abort on MPI_COMM_WORLD: ends every rank of the job with `code`. Does not return.
void align_mpi_abort(int code);

int align_mpi_barrier(void);

/// In place: values[i] = Σ over ranks (64-bit integers: exact in any order).
int align_mpi_sum_i64(int64_t *values, int count);

/// All-to-all of floats: `send_counts[j]` values from send + `send_displs[j]` go to rank j, which stores them at
/// recv + `recv_displs[me]` of its own receive buffer (MPI_Alltoallv).
int align_mpi_alltoallv_f32(const float *send, const int *send_counts, const int *send_displs,
                            float *recv, const int *recv_counts, const int *recv_displs);

/// In place all-gather of floats: rank j's `counts[j]` values at buf + `displs[j]` reach every rank (MPI_Allgatherv).
int align_mpi_allgatherv_f32(float *buf, const int *counts, const int *displs);

/// All-gather of `count` 64-bit values per rank into recv [size × count], rank order.
int align_mpi_allgather_i64(const int64_t *send, int count, int64_t *recv);
int align_mpi_allgather_f64(const double *send, int count, double *recv);

/// All-gather of byte strings of different lengths: `count` bytes from send; rank j's arrive at recv + displs[j].
int align_mpi_allgatherv_bytes(const void *send, int count, void *recv, const int *counts, const int *displs);

/// Installs a SIGTERM handler that writes `message` (copied) to stderr and ends the process with status 143: what
/// the launcher's termination of the surviving ranks prints when another rank failed. NULL restores the default.
void align_mpi_say_on_sigterm(const char *message);

/// The library's text for an error code, written into buf (NUL-terminated).
void align_mpi_error_string(int code, char *buf, int len);

/// "Open MPI v4.1.4, …": the library's version line.
void align_mpi_library_version(char *buf, int len);

#ifdef __cplusplus
}
#endif

#endif
