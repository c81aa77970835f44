// AVX2 + FMA versions of the SwiGLU kernels (see include/align_kernels.h). exp is the Cephes expf polynomial
// of Sources/AlignCore/Kernels/FastMath.swift (`expApprox`), eight lanes at a time, inputs clamped to
// [-87.3, 88.3]; tails shorter than eight go through the same code on a padded copy.
#include "align_kernels.h"

// Per-thread flag of Parallel (Sources/AlignCore/Util/Parallel.swift): nonzero while the thread runs one share
// of work that is already spread over the cores, so its loops run inline instead of fanning out again.
static _Thread_local int parallel_inline;
int align_parallel_inline(void) { return parallel_inline; }
void align_parallel_set_inline(int on) { parallel_inline = on; }

#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>

int align_kernels_avx2(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

#define AVX2 __attribute__((target("avx2,fma")))

AVX2 static inline __m256 exp8(__m256 x) {
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.3f)), _mm256_set1_ps(88.3f));
    const __m256 magic = _mm256_set1_ps(12582912.0f);
    __m256 t = _mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), magic);
    __m256 n = _mm256_sub_ps(t, magic);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fmadd_ps(n, _mm256_set1_ps(2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(_mm256_mul_ps(p, r), r, _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_sub_epi32(_mm256_castps_si256(t),
                                                                        _mm256_set1_epi32(0x4B400000)),
                                                       _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
}

// σ(g) for eight lanes.
AVX2 static inline __m256 sigmoid8(__m256 g) {
    const __m256 one = _mm256_set1_ps(1.0f);
    return _mm256_div_ps(one, _mm256_add_ps(one, exp8(_mm256_sub_ps(_mm256_setzero_ps(), g))));
}

AVX2 static void swiglu_fwd_row(float *o, const float *g, const float *u, long f) {
    long j = 0;
    for (; j + 8 <= f; j += 8) {
        __m256 x = _mm256_loadu_ps(g + j);
        _mm256_storeu_ps(o + j, _mm256_mul_ps(_mm256_mul_ps(x, sigmoid8(x)), _mm256_loadu_ps(u + j)));
    }
    if (j < f) {
        float gg[8] = {0}, uu[8] = {0}, oo[8];
        memcpy(gg, g + j, (size_t)(f - j) * sizeof(float));
        memcpy(uu, u + j, (size_t)(f - j) * sizeof(float));
        __m256 x = _mm256_loadu_ps(gg);
        _mm256_storeu_ps(oo, _mm256_mul_ps(_mm256_mul_ps(x, sigmoid8(x)), _mm256_loadu_ps(uu)));
        memcpy(o + j, oo, (size_t)(f - j) * sizeof(float));
    }
}

AVX2 void align_swiglu_forward_avx2(float *h, const float *gu, long n, long f) {
    for (long i = 0; i < n; i++) swiglu_fwd_row(h + i * f, gu + i * 2 * f, gu + i * 2 * f + f, f);
}

AVX2 static inline void swiglu_bwd8(const float *d, const float *g, const float *u, float *dg, float *du) {
    const __m256 one = _mm256_set1_ps(1.0f);
    __m256 x = _mm256_loadu_ps(g), s = sigmoid8(x), dd = _mm256_loadu_ps(d);
    __m256 xs = _mm256_mul_ps(x, s);
    // dg = d·u·s·(1 + x(1 − s)), du = d·x·s
    __m256 k = _mm256_fmadd_ps(x, _mm256_sub_ps(one, s), one);
    _mm256_storeu_ps(dg, _mm256_mul_ps(_mm256_mul_ps(_mm256_mul_ps(dd, _mm256_loadu_ps(u)), s), k));
    _mm256_storeu_ps(du, _mm256_mul_ps(dd, xs));
}

AVX2 void align_swiglu_backward_avx2(float *dgu, const float *dh, const float *gu, long n, long f) {
    for (long i = 0; i < n; i++) {
        const float *g = gu + i * 2 * f, *u = g + f, *d = dh + i * f;
        float *dg = dgu + i * 2 * f, *du = dg + f;
        long j = 0;
        for (; j + 8 <= f; j += 8) swiglu_bwd8(d + j, g + j, u + j, dg + j, du + j);
        if (j < f) {
            float dd[8] = {0}, gg[8] = {0}, uu[8] = {0}, og[8], ou[8];
            size_t m = (size_t)(f - j) * sizeof(float);
            memcpy(dd, d + j, m); memcpy(gg, g + j, m); memcpy(uu, u + j, m);
            swiglu_bwd8(dd, gg, uu, og, ou);
            memcpy(dg + j, og, m); memcpy(du + j, ou, m);
        }
    }
}

#else
int align_kernels_avx2(void) { return 0; }
void align_swiglu_forward_avx2(float *h, const float *gu, long n, long f) { (void)h; (void)gu; (void)n; (void)f; }
void align_swiglu_backward_avx2(float *dgu, const float *dh, const float *gu, long n, long f) {
    (void)dgu; (void)dh; (void)gu; (void)n; (void)f;
}
#endif
