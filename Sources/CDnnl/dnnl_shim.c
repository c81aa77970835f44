// See include/align_dnnl.h. oneDNN's C API (dnnl.h), CPU engine, OpenMP runtime (Debian's build).
#include "align_dnnl.h"

#include <dlfcn.h>
#include <oneapi/dnnl/dnnl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

struct align_mm {
    dnnl_primitive_t prim;
    dnnl_stream_t stream;
    dnnl_memory_t a, b, c, scratch;
    void *scratch_buf;
    int threads;
    char impl[64];
};

static dnnl_engine_t engine;
static dnnl_status_t engine_status = dnnl_runtime_error;
static pthread_once_t engine_once = PTHREAD_ONCE_INIT;
static void (*omp_set)(int);
static int (*omp_get)(void);

static void init_engine(void) {
    engine_status = dnnl_engine_create(&engine, dnnl_cpu, 0);
    // libgomp is loaded with libdnnl; resolved at run time so nothing links against it directly.
    omp_set = (void (*)(int))dlsym(RTLD_DEFAULT, "omp_set_num_threads");
    omp_get = (int (*)(void))dlsym(RTLD_DEFAULT, "omp_get_max_threads");
}

int align_dnnl_set_threads(int n) {
    pthread_once(&engine_once, init_engine);
    if (!omp_set || !omp_get) return 0;
    if (omp_get() != n) omp_set(n);
    return 1;
}

#define CHECK(call, what)                                                               \
    do {                                                                                \
        dnnl_status_t s_ = (call);                                                      \
        if (s_ != dnnl_success) {                                                       \
            snprintf(err, (size_t)err_len, "oneDNN %s failed (status %d)", what, (int)s_); \
            goto fail;                                                                  \
        }                                                                               \
    } while (0)

align_mm *align_mm_create(int bf16, int trans_a, int trans_b, long m, long n, long k, long lda, long ldb,
                          long ldc, float alpha, float beta, int threads, char *err, int err_len) {
    pthread_once(&engine_once, init_engine);
    if (engine_status != dnnl_success) {
        snprintf(err, (size_t)err_len, "oneDNN CPU engine unavailable (status %d)", (int)engine_status);
        return NULL;
    }
    align_mm *mm = calloc(1, sizeof(align_mm));
    if (!mm) { snprintf(err, (size_t)err_len, "out of memory"); return NULL; }
    mm->threads = threads;
    align_dnnl_set_threads(threads);   // the primitive plans its work for the thread count it is created with
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t ops = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_data_type_t dt = bf16 ? dnnl_bf16 : dnnl_f32;
    dnnl_memory_desc_t a_md, b_md, c_md;
    dnnl_dims_t ad = {m, k}, bd = {k, n}, cd = {m, n};
    dnnl_dims_t as = {trans_a ? 1 : lda, trans_a ? lda : 1};
    dnnl_dims_t bs = {trans_b ? 1 : ldb, trans_b ? ldb : 1};
    dnnl_dims_t cs = {ldc, 1};
    CHECK(dnnl_memory_desc_init_by_strides(&a_md, 2, ad, dt, as), "A descriptor");
    CHECK(dnnl_memory_desc_init_by_strides(&b_md, 2, bd, dt, bs), "B descriptor");
    CHECK(dnnl_memory_desc_init_by_strides(&c_md, 2, cd, dnnl_f32, cs), "C descriptor");
    dnnl_matmul_desc_t md;
    CHECK(dnnl_matmul_desc_init(&md, &a_md, &b_md, NULL, &c_md), "matmul descriptor");
    CHECK(dnnl_primitive_attr_create(&attr), "attributes");
    CHECK(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user), "scratchpad mode");
    if (alpha != 1.0f) CHECK(dnnl_primitive_attr_set_output_scales(attr, 1, 0, &alpha), "output scale");
    if (beta != 0.0f) {
        CHECK(dnnl_post_ops_create(&ops), "post-ops");
        CHECK(dnnl_post_ops_append_sum(ops, beta), "sum post-op");
        CHECK(dnnl_primitive_attr_set_post_ops(attr, ops), "post-ops");
    }
    CHECK(dnnl_primitive_desc_create(&pd, &md, attr, engine, NULL), "matmul primitive descriptor");
    const char *impl = NULL;
    if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success && impl)
        snprintf(mm->impl, sizeof mm->impl, "%s", impl);
    const dnnl_memory_desc_t *sp = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    size_t sp_size = sp ? dnnl_memory_desc_get_size(sp) : 0;
    CHECK(dnnl_primitive_create(&mm->prim, pd), "matmul primitive");
    CHECK(dnnl_stream_create(&mm->stream, engine, dnnl_stream_default_flags), "stream");
    CHECK(dnnl_memory_create(&mm->a, &a_md, engine, DNNL_MEMORY_NONE), "A memory");
    CHECK(dnnl_memory_create(&mm->b, &b_md, engine, DNNL_MEMORY_NONE), "B memory");
    CHECK(dnnl_memory_create(&mm->c, &c_md, engine, DNNL_MEMORY_NONE), "C memory");
    if (sp_size > 0) {
        if (posix_memalign(&mm->scratch_buf, 64, sp_size) != 0) { snprintf(err, (size_t)err_len, "out of memory"); goto fail; }
        CHECK(dnnl_memory_create(&mm->scratch, sp, engine, mm->scratch_buf), "scratchpad memory");
    }
    dnnl_primitive_desc_destroy(pd);
    dnnl_primitive_attr_destroy(attr);
    if (ops) dnnl_post_ops_destroy(ops);
    return mm;
fail:
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (attr) dnnl_primitive_attr_destroy(attr);
    if (ops) dnnl_post_ops_destroy(ops);
    align_mm_destroy(mm);
    return NULL;
}

int align_mm_run(align_mm *mm, const void *a, const void *b, float *c) {
    align_dnnl_set_threads(mm->threads);
    if (dnnl_memory_set_data_handle(mm->a, (void *)a) != dnnl_success) return 1;
    if (dnnl_memory_set_data_handle(mm->b, (void *)b) != dnnl_success) return 1;
    if (dnnl_memory_set_data_handle(mm->c, c) != dnnl_success) return 1;
    dnnl_exec_arg_t args[4] = {
        {DNNL_ARG_SRC, mm->a}, {DNNL_ARG_WEIGHTS, mm->b}, {DNNL_ARG_DST, mm->c}, {DNNL_ARG_SCRATCHPAD, mm->scratch}};
    int nargs = mm->scratch ? 4 : 3;
    if (dnnl_primitive_execute(mm->prim, mm->stream, nargs, args) != dnnl_success) return 1;
    return 0;
}

const char *align_mm_impl(const align_mm *mm) { return mm->impl; }

void align_mm_destroy(align_mm *mm) {
    if (!mm) return;
    if (mm->prim) dnnl_primitive_destroy(mm->prim);
    if (mm->stream) dnnl_stream_destroy(mm->stream);
    if (mm->a) dnnl_memory_destroy(mm->a);
    if (mm->b) dnnl_memory_destroy(mm->b);
    if (mm->c) dnnl_memory_destroy(mm->c);
    if (mm->scratch) dnnl_memory_destroy(mm->scratch);
    free(mm->scratch_buf);
    free(mm);
}
