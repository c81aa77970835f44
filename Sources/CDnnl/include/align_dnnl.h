// oneDNN 2.6 (Debian libdnnl-dev) matrix products behind a narrow C API: one `align_mm` is a matmul primitive
// created once for a fixed shape, data type and thread count (row-major strides as cblas_sgemm takes them),
// with its memory objects and scratchpad owned by it; running it only swaps data pointers. The fp32 ↔ bf16
// conversions live in CKernels (align_kernels.h).
#ifndef ALIGN_DNNL_H
#define ALIGN_DNNL_H

#ifdef __cplusplus
extern "C" {
#endif

typedef struct align_mm align_mm;

/// C[m,n] = alpha · op(A)[m,k] · op(B)[k,n] + beta · C[m,n], C fp32 with row stride ldc;
/// A and B both fp32 (`bf16` = 0) or both bf16 (`bf16` = 1, fp32 accumulation). op(A) = A[m,k] with row
/// stride lda, or with `trans_a` A is [k,m] with row stride lda; likewise B. `threads` ≥ 1: the OpenMP
/// threads the primitive runs on. NULL on failure, with a message in `err`.
align_mm *align_mm_create(int bf16, int trans_a, int trans_b, long m, long n, long k, long lda, long ldb,
                          long ldc, float alpha, float beta, int threads, char *err, int err_len);

/// Runs the product on these buffers (any pointers; the shape is the primitive's). 0 on success.
int align_mm_run(align_mm *mm, const void *a, const void *b, float *c);

/// The oneDNN implementation chosen (e.g. "brg:avx512_core_bf16").
const char *align_mm_impl(const align_mm *mm);

void align_mm_destroy(align_mm *mm);

/// Sets the calling thread's OpenMP thread count (what later primitives run with). 0 when OpenMP is absent.
int align_dnnl_set_threads(int n);

#ifdef __cplusplus
}
#endif
#endif
