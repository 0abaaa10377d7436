/* The tensor-core (TF32) path of causal attention, attention_tc.cu; attention.cu dispatches to it when
   fp8lab_attn_tc_usable says yes and keeps its FP32 CUDA-core kernels for every other shape. */
#ifndef FP8LAB_CUDA_ATTENTION_TC_CUH
#define FP8LAB_CUDA_ATTENTION_TC_CUH

#include "internal.cuh"

/* D in {64, 128}, B * Hq <= 65535 (one grid dimension), and every tensor 16-byte aligned (float4 loads). */
int fp8lab_attn_tc_usable(const fp8lab_attn_shape &s, const float *const *ptrs, int nptrs);

int fp8lab_attn_tc_fwd(fp8lab_cuda_ctx *c, float *out, float *lse, const float *q, const float *k, const float *v,
                       const fp8lab_attn_shape &s);

/* dsum[B][Hq][T] = rowsum(dout * out), computed by the caller (attention.cu's dsum kernel). */
int fp8lab_attn_tc_bwd(fp8lab_cuda_ctx *c, float *dq, float *dk, float *dv, const float *dout, const float *lse,
                       const float *dsum, const float *q, const float *k, const float *v, const fp8lab_attn_shape &s);

#endif
