// AVX2 + FMA element-wise kernels behind runtime dispatch (the Swift callers keep a portable path):
// compiled per function with target attributes, so the library runs on any x86-64 and uses them only where
// the CPU reports both extensions. Shapes as the Swift kernels: row-major, n rows.
#ifndef ALIGN_KERNELS_H
#define ALIGN_KERNELS_H

#ifdef __cplusplus
extern "C" {
#endif

/// 1 when the running CPU has AVX2 and FMA (and the kernels below were compiled for x86-64), else 0.
int align_kernels_avx2(void);

/// h[n, f] = silu(gate) * up, gate = gu[:, :f], up = gu[:, f:2f] (gu is [n, 2f]).
void align_swiglu_forward_avx2(float *h, const float *gu, long n, long f);

/// dgu[n, 2f] from dh[n, f]: dgate = dh·up·σ(g)(1 + g(1 − σ(g))), dup = dh·silu(g).
void align_swiglu_backward_avx2(float *dgu, const float *dh, const float *gu, long n, long f);

#ifdef __cplusplus
}
#endif
#endif
