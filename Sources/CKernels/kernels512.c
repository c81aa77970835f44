// AVX-512 row kernels for softmax and cross-entropy (see include/align_kernels.h), chosen at run time by the
// Swift callers. exp is the Cephes expf polynomial of Sources/AlignCore/Kernels/FastMath.swift (`expApprox`),
// sixteen lanes at a time with fused multiply-adds, inputs clamped to [-87.3, 88.3]; row tails use masked
// loads and stores.
#include "align_kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

int align_kernels_avx512(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
}

#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq")))

AVX512 static inline __m512 exp16(__m512 x) {
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.3f)), _mm512_set1_ps(88.3f));
    const __m512 magic = _mm512_set1_ps(12582912.0f);
    __m512 t = _mm512_fmadd_ps(x, _mm512_set1_ps(1.44269504088896341f), magic);
    __m512 n = _mm512_sub_ps(t, magic);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fmadd_ps(n, _mm512_set1_ps(2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    __m512i bits = _mm512_slli_epi32(_mm512_add_epi32(_mm512_sub_epi32(_mm512_castps_si512(t),
                                                                        _mm512_set1_epi32(0x4B400000)),
                                                       _mm512_set1_epi32(127)), 23);
    return _mm512_mul_ps(p, _mm512_castsi512_ps(bits));
}

static inline __mmask16 tail_mask(long left) { return (__mmask16)((1u << left) - 1); }

AVX512 float align_row_max_avx512(const float *p, long n) {
    __m512 m0 = _mm512_set1_ps(-__builtin_inff()), m1 = m0;
    long j = 0;
    for (; j + 32 <= n; j += 32) {
        m0 = _mm512_max_ps(m0, _mm512_loadu_ps(p + j));
        m1 = _mm512_max_ps(m1, _mm512_loadu_ps(p + j + 16));
    }
    for (; j + 16 <= n; j += 16) m0 = _mm512_max_ps(m0, _mm512_loadu_ps(p + j));
    if (j < n) m1 = _mm512_mask_max_ps(m1, tail_mask(n - j), m1, _mm512_maskz_loadu_ps(tail_mask(n - j), p + j));
    return _mm512_reduce_max_ps(_mm512_max_ps(m0, m1));
}

AVX512 float align_row_exp_store_avx512(float *dst, const float *src, long n, float sub, float mul) {
    const __m512 s = _mm512_set1_ps(sub), k = _mm512_set1_ps(mul);
    __m512 acc = _mm512_setzero_ps();
    long j = 0;
    for (; j + 16 <= n; j += 16) {
        __m512 e = exp16(_mm512_sub_ps(_mm512_loadu_ps(src + j), s));
        acc = _mm512_add_ps(acc, e);
        _mm512_storeu_ps(dst + j, _mm512_mul_ps(e, k));
    }
    if (j < n) {
        __mmask16 m = tail_mask(n - j);
        __m512 e = exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, src + j), s));
        acc = _mm512_mask_add_ps(acc, m, acc, e);
        _mm512_mask_storeu_ps(dst + j, m, _mm512_mul_ps(e, k));
    }
    return _mm512_reduce_add_ps(acc);
}

AVX512 float align_row_exp_sum_avx512(const float *src, long n, float sub) {
    const __m512 s = _mm512_set1_ps(sub);
    __m512 acc = _mm512_setzero_ps();
    long j = 0;
    for (; j + 16 <= n; j += 16) acc = _mm512_add_ps(acc, exp16(_mm512_sub_ps(_mm512_loadu_ps(src + j), s)));
    if (j < n) {
        __mmask16 m = tail_mask(n - j);
        acc = _mm512_mask_add_ps(acc, m, acc, exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, src + j), s)));
    }
    return _mm512_reduce_add_ps(acc);
}

AVX512 void align_row_scale_avx512(float *dst, const float *src, long n, float k) {
    const __m512 kk = _mm512_set1_ps(k);
    long j = 0;
    for (; j + 16 <= n; j += 16) _mm512_storeu_ps(dst + j, _mm512_mul_ps(_mm512_loadu_ps(src + j), kk));
    if (j < n) {
        __mmask16 m = tail_mask(n - j);
        _mm512_mask_storeu_ps(dst + j, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, src + j), kk));
    }
}

AVX512 void align_adamw_avx512(float *p, const float *g, float *m, float *v, long n, float decay, float beta1,
                               float beta2, float stepSize, float bc2Sqrt, float eps) {
    const __m512 dk = _mm512_set1_ps(decay), b1 = _mm512_set1_ps(beta1), b2 = _mm512_set1_ps(beta2);
    const __m512 c1 = _mm512_set1_ps(1 - beta1), c2 = _mm512_set1_ps(1 - beta2);
    const __m512 ss = _mm512_set1_ps(stepSize), bs = _mm512_set1_ps(bc2Sqrt), ep = _mm512_set1_ps(eps);
    for (long j = 0; j < n; j += 16) {
        const __mmask16 k = n - j >= 16 ? (__mmask16)0xFFFF : tail_mask(n - j);
        const __m512 gi = _mm512_maskz_loadu_ps(k, g + j);
        __m512 pi = _mm512_mul_ps(_mm512_maskz_loadu_ps(k, p + j), dk);
        __m512 mi = _mm512_add_ps(_mm512_mul_ps(b1, _mm512_maskz_loadu_ps(k, m + j)), _mm512_mul_ps(c1, gi));
        __m512 vi = _mm512_add_ps(_mm512_mul_ps(b2, _mm512_maskz_loadu_ps(k, v + j)), _mm512_mul_ps(_mm512_mul_ps(c2, gi), gi));
        __m512 den = _mm512_add_ps(_mm512_div_ps(_mm512_sqrt_ps(vi), bs), ep);
        pi = _mm512_sub_ps(pi, _mm512_div_ps(_mm512_mul_ps(ss, mi), den));
        _mm512_mask_storeu_ps(m + j, k, mi);
        _mm512_mask_storeu_ps(v + j, k, vi);
        _mm512_mask_storeu_ps(p + j, k, pi);
    }
}

AVX512 double align_sum_squares_avx512(const float *x, long n) {
    __m512d acc = _mm512_setzero_pd();
    long i = 0;
    for (; i + 8 <= n; i += 8) {
        __m512d d = _mm512_cvtps_pd(_mm256_loadu_ps(x + i));
        acc = _mm512_add_pd(acc, _mm512_mul_pd(d, d));
    }
    double s[8];
    _mm512_storeu_pd(s, acc);
    for (long l = 0; i + l < n; l++) { double d = (double)x[i + l]; s[l] += d * d; }
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

#else
int align_kernels_avx512(void) { return 0; }
float align_row_max_avx512(const float *p, long n) { (void)p; (void)n; return 0; }
float align_row_exp_store_avx512(float *dst, const float *src, long n, float sub, float mul) {
    (void)dst; (void)src; (void)n; (void)sub; (void)mul; return 0;
}
float align_row_exp_sum_avx512(const float *src, long n, float sub) { (void)src; (void)n; (void)sub; return 0; }
void align_row_scale_avx512(float *dst, const float *src, long n, float k) { (void)dst; (void)src; (void)n; (void)k; }
void align_adamw_avx512(float *p, const float *g, float *m, float *v, long n, float decay, float beta1,
                        float beta2, float stepSize, float bc2Sqrt, float eps) {
    (void)p; (void)g; (void)m; (void)v; (void)n; (void)decay; (void)beta1; (void)beta2; (void)stepSize; (void)bc2Sqrt; (void)eps;
}
double align_sum_squares_avx512(const float *x, long n) { (void)x; (void)n; return 0; }
#endif

#if defined(__x86_64__)
AVX512 static inline __m512i mix64x8(__m512i z) {
    z = _mm512_add_epi64(z, _mm512_set1_epi64((long long)0x9E3779B97F4A7C15ULL));
    z = _mm512_mullo_epi64(_mm512_xor_si512(z, _mm512_srli_epi64(z, 30)), _mm512_set1_epi64((long long)0xBF58476D1CE4E5B9ULL));
    z = _mm512_mullo_epi64(_mm512_xor_si512(z, _mm512_srli_epi64(z, 27)), _mm512_set1_epi64((long long)0x94D049BB133111EBULL));
    return _mm512_xor_si512(z, _mm512_srli_epi64(z, 31));
}

AVX512 void align_dropout_mask_avx512(float *mask, long n, uint64_t base, uint64_t threshold, float scale) {
    const __m512i step = _mm512_set1_epi64((long long)0xD1B54A32D192ED03ULL);
    const __m512i thr = _mm512_set1_epi64((long long)threshold);
    const __m512i lane = _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0);
    const __m256 s = _mm256_set1_ps(scale), zero = _mm256_setzero_ps();
    long i = 0;
    for (; i < n; i += 8) {
        __m512i idx = _mm512_add_epi64(_mm512_set1_epi64(i), lane);
        __m512i u = _mm512_srli_epi64(mix64x8(_mm512_add_epi64(_mm512_set1_epi64((long long)base), _mm512_mullo_epi64(idx, step))), 40);
        __mmask8 keep = _mm512_cmpge_epu64_mask(u, thr);
        __m256 v = _mm256_mask_blend_ps(keep, zero, s);
        if (i + 8 <= n) _mm256_storeu_ps(mask + i, v);
        else _mm256_mask_storeu_ps(mask + i, (__mmask8)((1u << (n - i)) - 1), v);
    }
}
#else
void align_dropout_mask_avx512(float *mask, long n, uint64_t base, uint64_t threshold, float scale) {
    (void)mask; (void)n; (void)base; (void)threshold; (void)scale;
}
#endif

#if defined(__x86_64__)
// SwiGLU, sixteen lanes at a time (the AVX2 kernels' arithmetic; tails masked).
AVX512 static inline __m512 sigmoid16(__m512 g) {
    const __m512 one = _mm512_set1_ps(1.0f);
    return _mm512_div_ps(one, _mm512_add_ps(one, exp16(_mm512_sub_ps(_mm512_setzero_ps(), g))));
}

AVX512 void align_swiglu_forward_avx512(float *h, const float *gu, long n, long f) {
    for (long i = 0; i < n; i++) {
        const float *g = gu + i * 2 * f, *u = g + f;
        float *o = h + i * f;
        for (long j = 0; j < f; j += 16) {
            __mmask16 m = j + 16 <= f ? (__mmask16)0xFFFF : tail_mask(f - j);
            __m512 x = _mm512_maskz_loadu_ps(m, g + j);
            _mm512_mask_storeu_ps(o + j, m, _mm512_mul_ps(_mm512_mul_ps(x, sigmoid16(x)), _mm512_maskz_loadu_ps(m, u + j)));
        }
    }
}

AVX512 void align_swiglu_backward_avx512(float *dgu, const float *dh, const float *gu, long n, long f) {
    const __m512 one = _mm512_set1_ps(1.0f);
    for (long i = 0; i < n; i++) {
        const float *g = gu + i * 2 * f, *u = g + f, *d = dh + i * f;
        float *dg = dgu + i * 2 * f, *du = dg + f;
        for (long j = 0; j < f; j += 16) {
            __mmask16 m = j + 16 <= f ? (__mmask16)0xFFFF : tail_mask(f - j);
            __m512 x = _mm512_maskz_loadu_ps(m, g + j), s = sigmoid16(x), dd = _mm512_maskz_loadu_ps(m, d + j);
            __m512 k = _mm512_fmadd_ps(x, _mm512_sub_ps(one, s), one);
            _mm512_mask_storeu_ps(dg + j, m, _mm512_mul_ps(_mm512_mul_ps(_mm512_mul_ps(dd, _mm512_maskz_loadu_ps(m, u + j)), s), k));
            _mm512_mask_storeu_ps(du + j, m, _mm512_mul_ps(dd, _mm512_mul_ps(x, s)));
        }
    }
}
#else
void align_swiglu_forward_avx512(float *h, const float *gu, long n, long f) { (void)h; (void)gu; (void)n; (void)f; }
void align_swiglu_backward_avx512(float *dgu, const float *dh, const float *gu, long n, long f) {
    (void)dgu; (void)dh; (void)gu; (void)n; (void)f;
}
#endif
