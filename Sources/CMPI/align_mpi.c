// See include/align_mpi.h. Every call is on MPI_COMM_WORLD with MPI_ERRORS_RETURN set at init, so a failing call
// returns its code to Swift, which reports it and ends the job (align_mpi_abort).
#include "align_mpi.h"
#include <mpi.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int align_mpi_init(int *rank, int *size) {
    int provided = 0;
    int rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_SERIALIZED, &provided);
    if (rc != MPI_SUCCESS) return rc;
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    rc = MPI_Comm_rank(MPI_COMM_WORLD, rank);
    if (rc != MPI_SUCCESS) return rc;
    return MPI_Comm_size(MPI_COMM_WORLD, size);
}

int align_mpi_finalize(void) { return MPI_Finalize(); }

void align_mpi_abort(int code) { MPI_Abort(MPI_COMM_WORLD, code); }

int align_mpi_barrier(void) { return MPI_Barrier(MPI_COMM_WORLD); }

int align_mpi_sum_i64(int64_t *values, int count) {
    return MPI_Allreduce(MPI_IN_PLACE, values, count, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
}

int align_mpi_alltoallv_f32(const float *send, const int *send_counts, const int *send_displs,
                            float *recv, const int *recv_counts, const int *recv_displs) {
    return MPI_Alltoallv(send, send_counts, send_displs, MPI_FLOAT, recv, recv_counts, recv_displs, MPI_FLOAT, MPI_COMM_WORLD);
}

int align_mpi_allgatherv_f32(float *buf, const int *counts, const int *displs) {
    return MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buf, counts, displs, MPI_FLOAT, MPI_COMM_WORLD);
}

int align_mpi_allgather_i64(const int64_t *send, int count, int64_t *recv) {
    return MPI_Allgather(send, count, MPI_INT64_T, recv, count, MPI_INT64_T, MPI_COMM_WORLD);
}

int align_mpi_allgather_f64(const double *send, int count, double *recv) {
    return MPI_Allgather(send, count, MPI_DOUBLE, recv, count, MPI_DOUBLE, MPI_COMM_WORLD);
}

int align_mpi_allgatherv_bytes(const void *send, int count, void *recv, const int *counts, const int *displs) {
    return MPI_Allgatherv(send, count, MPI_BYTE, recv, counts, displs, MPI_BYTE, MPI_COMM_WORLD);
}

void align_mpi_error_string(int code, char *buf, int len) {
    char text[MPI_MAX_ERROR_STRING];
    int n = 0;
    if (MPI_Error_string(code, text, &n) != MPI_SUCCESS) snprintf(text, sizeof text, "MPI error %d", code);
    snprintf(buf, (size_t)len, "%s", text);
}

void align_mpi_library_version(char *buf, int len) {
    char text[MPI_MAX_LIBRARY_VERSION_STRING];
    int n = 0;
    if (MPI_Get_library_version(text, &n) != MPI_SUCCESS) snprintf(text, sizeof text, "unknown MPI");
    char *nl = strchr(text, '\n');
    if (nl) *nl = 0;
    snprintf(buf, (size_t)len, "%s", text);
}

static char sigterm_message[1024];
static size_t sigterm_length;

static void on_sigterm(int sig) {
    (void)sig;
    ssize_t n = write(STDERR_FILENO, sigterm_message, sigterm_length);   // async-signal-safe
    (void)n;
    _exit(143);
}

void align_mpi_say_on_sigterm(const char *message) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    if (message) {
        snprintf(sigterm_message, sizeof sigterm_message, "%s", message);
        sigterm_length = strlen(sigterm_message);
    }
    sa.sa_handler = message ? on_sigterm : SIG_DFL;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
}
