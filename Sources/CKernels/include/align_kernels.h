// AVX2 + FMA element-wise kernels behind runtime dispatch (the Swift callers keep a portable path):
// compiled per function with target attributes, so the library runs on any x86-64 and uses them only where
// the CPU reports both extensions. Shapes as the Swift kernels: row-major, n rows.
#ifndef ALIGN_KERNELS_H
#define ALIGN_KERNELS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// The calling thread's inline flag (Parallel.inline): nonzero while it runs one share of already parallel work.
int align_parallel_inline(void);
void align_parallel_set_inline(int on);

/// 1 when the running CPU has AVX2 and FMA (and the kernels below were compiled for x86-64), else 0.
int align_kernels_avx2(void);

/// h[n, f] = silu(gate) * up, gate = gu[:, :f], up = gu[:, f:2f] (gu is [n, 2f]).
void align_swiglu_forward_avx2(float *h, const float *gu, long n, long f);

/// dgu[n, 2f] from dh[n, f]: dgate = dh·up·σ(g)(1 + g(1 − σ(g))), dup = dh·silu(g).
void align_swiglu_backward_avx2(float *dgu, const float *dh, const float *gu, long n, long f);

// AVX-512 row kernels (softmax, cross-entropy), for the Swift callers to choose at run time.

/// 1 when the running CPU has AVX512F/BW/VL/DQ (and the kernels below were compiled for x86-64), else 0.
int align_kernels_avx512(void);

/// max of p[0..<n] (n ≥ 1).
float align_row_max_avx512(const float *p, long n);

/// dst[j] = exp(src[j] − sub) · mul for j < n (dst may alias src); returns Σ_j exp(src[j] − sub).
float align_row_exp_store_avx512(float *dst, const float *src, long n, float sub, float mul);

/// Σ_j exp(src[j] − sub) for j < n, nothing written.
float align_row_exp_sum_avx512(const float *src, long n, float sub);

/// dst[j] = src[j] · k for j < n (dst may alias src).
void align_row_scale_avx512(float *dst, const float *src, long n, float k);

/// align_swiglu_forward_avx2 / align_swiglu_backward_avx2 sixteen lanes at a time.
void align_swiglu_forward_avx512(float *h, const float *gu, long n, long f);
void align_swiglu_backward_avx512(float *dgu, const float *dh, const float *gu, long n, long f);

/// Dropout mask (Sources/AlignCore/Kernels/Dropout.swift, bit for bit): mask[i] = scale when
/// mix64(base + i·0xD1B54A32D192ED03) >> 40 ≥ threshold, else 0.
void align_dropout_mask_avx512(float *mask, long n, uint64_t base, uint64_t threshold, float scale);

// Optimizer kernels (Sources/AlignCore/Optim/AdamW.swift owns them; its portable loops are the references, and
// both give the same bits: the same IEEE operations in the same order, no fused multiply-adds).

/// One AdamW update of n values, PyTorch's order: p ← p·decay; m ← β1·m + (1−β1)·g; v ← β2·v + ((1−β2)·g)·g;
/// p ← p − (stepSize·m) / (√v / bc2Sqrt + eps).
void align_adamw_avx512(float *p, const float *g, float *m, float *v, long n, float decay, float beta1,
                        float beta2, float stepSize, float bc2Sqrt, float eps);

/// Σ x[i]² in double over n values: lane l of eight sums i ≡ l (mod 8) in order, then
/// ((s0+s1)+(s2+s3))+((s4+s5)+(s6+s7)). Squares of floats are exact in double, so only the sums round.
double align_sum_squares_avx512(const float *x, long n);

// bf16 (bfloat16: the top 16 bits of an IEEE fp32) conversions. Rounding is to nearest even; inputs whose
// exponent field is zero (zeros and subnormals) become signed zero, and NaN stays a (quiet) NaN: exactly what
// the AVX512_BF16 instruction VCVTNEPS2BF16 does, so the portable and the vector path agree bit for bit.

/// 1 when the running CPU has AVX512_BF16 (and AVX512F/BW/VL), else 0.
int align_kernels_avx512bf16(void);

/// dst[n] = bf16(src[n]): VCVTNEPS2BF16 where the CPU has it, else the portable loop.
void align_f32_to_bf16(uint16_t *dst, const float *src, long n);

/// The portable conversion (plain C), the reference of align_f32_to_bf16.
void align_f32_to_bf16_portable(uint16_t *dst, const float *src, long n);

/// dst[n] = bf16(src[n] · k), the fp32 product rounded once: align_f32_to_bf16 of the scaled row without
/// storing it (VCVTNEPS2BF16 where the CPU has it, else the portable loop below, the same bits).
void align_scale_to_bf16(uint16_t *dst, const float *src, long n, float k);
void align_scale_to_bf16_portable(uint16_t *dst, const float *src, long n, float k);

/// dst[n] = float(src[n]) (exact).
void align_bf16_to_f32(float *dst, const uint16_t *src, long n);

/// dst[n] = float(bf16(src[n])): fp32 values rounded to the nearest bf16 (the portable bf16 reference's inputs).
void align_round_to_bf16(float *dst, const float *src, long n);

#ifdef __cplusplus
}
#endif
#endif
