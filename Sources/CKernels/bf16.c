// fp32 <-> bf16 conversions (see include/align_kernels.h). The vector path uses VCVTNEPS2BF16 (AVX512_BF16),
// chosen at run time; the portable loop implements the same rounding in integer arithmetic.
#include "align_kernels.h"

#include <string.h>

static inline uint16_t f32_to_bf16_one(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7F800000u) == 0) return (uint16_t)((u >> 16) & 0x8000u);             // zero / subnormal → ±0
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((u >> 16) | 0x0040u);      // NaN stays quiet NaN
    u += 0x7FFFu + ((u >> 16) & 1u);                                                  // round to nearest even
    return (uint16_t)(u >> 16);
}

void align_f32_to_bf16_portable(uint16_t *dst, const float *src, long n) {
    for (long i = 0; i < n; i++) dst[i] = f32_to_bf16_one(src[i]);
}

void align_bf16_to_f32(float *dst, const uint16_t *src, long n) {
    for (long i = 0; i < n; i++) {
        uint32_t u = (uint32_t)src[i] << 16;
        memcpy(dst + i, &u, 4);
    }
}

void align_scale_to_bf16_portable(uint16_t *dst, const float *src, long n, float k) {
    for (long i = 0; i < n; i++) dst[i] = f32_to_bf16_one(src[i] * k);
}

static void round_to_bf16_portable(float *dst, const float *src, long n) {
    for (long i = 0; i < n; i++) {
        uint32_t u = (uint32_t)f32_to_bf16_one(src[i]) << 16;
        memcpy(dst + i, &u, 4);
    }
}

#if defined(__x86_64__)
#include <immintrin.h>

int align_kernels_avx512bf16(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512f") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
}

__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
static void f32_to_bf16_avx512(uint16_t *dst, const float *src, long n) {
    long i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(src + i + 16), _mm512_loadu_ps(src + i));
        _mm512_storeu_si512((void *)(dst + i), (__m512i)v);
    }
    for (; i + 16 <= n; i += 16) {
        __m256bh v = _mm512_cvtneps_pbh(_mm512_loadu_ps(src + i));
        _mm256_storeu_si256((__m256i *)(dst + i), (__m256i)v);
    }
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        __m256bh v = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, src + i));
        _mm256_mask_storeu_epi16(dst + i, m, (__m256i)v);
    }
}

__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
static void scale_to_bf16_avx512(uint16_t *dst, const float *src, long n, float k) {
    const __m512 kk = _mm512_set1_ps(k);
    long i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256bh v = _mm512_cvtneps_pbh(_mm512_mul_ps(_mm512_loadu_ps(src + i), kk));
        _mm256_storeu_si256((__m256i *)(dst + i), (__m256i)v);
    }
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        __m256bh v = _mm512_cvtneps_pbh(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, src + i), kk));
        _mm256_mask_storeu_epi16(dst + i, m, (__m256i)v);
    }
}

__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
static void round_to_bf16_avx512(float *dst, const float *src, long n) {   // in place allowed: each lane loads first
    long i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256bh v = _mm512_cvtneps_pbh(_mm512_loadu_ps(src + i));
        _mm512_storeu_ps(dst + i, _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32((__m256i)v), 16)));
    }
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        __m256bh v = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, src + i));
        _mm512_mask_storeu_ps(dst + i, m, _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32((__m256i)v), 16)));
    }
}

static int has_bf16 = -1;

void align_round_to_bf16(float *dst, const float *src, long n) {
    if (has_bf16 < 0) has_bf16 = align_kernels_avx512bf16();
    if (has_bf16) round_to_bf16_avx512(dst, src, n);
    else round_to_bf16_portable(dst, src, n);
}

void align_scale_to_bf16(uint16_t *dst, const float *src, long n, float k) {
    if (has_bf16 < 0) has_bf16 = align_kernels_avx512bf16();
    if (has_bf16) scale_to_bf16_avx512(dst, src, n, k);
    else align_scale_to_bf16_portable(dst, src, n, k);
}

void align_f32_to_bf16(uint16_t *dst, const float *src, long n) {
    if (has_bf16 < 0) has_bf16 = align_kernels_avx512bf16();
    if (has_bf16) f32_to_bf16_avx512(dst, src, n);
    else align_f32_to_bf16_portable(dst, src, n);
}
#else
int align_kernels_avx512bf16(void) { return 0; }
void align_round_to_bf16(float *dst, const float *src, long n) { round_to_bf16_portable(dst, src, n); }
void align_f32_to_bf16(uint16_t *dst, const float *src, long n) { align_f32_to_bf16_portable(dst, src, n); }
void align_scale_to_bf16(uint16_t *dst, const float *src, long n, float k) { align_scale_to_bf16_portable(dst, src, n, k); }
#endif
