/* Private to the CPU backend: its op tables, one file each (cpu_mem.c, cpu_quant.c, cpu_gemm.c, cpu_layers.c,
   cpu_optim.c). The ops trust their arguments: the front functions have checked them (quant_ops.h, gemm_ops.h,
   layer_ops.h, optim_ops.h); only what lives in memory (token ids, targets) is checked by the ops. */
#ifndef FP8LAB_CPU_INTERNAL_H
#define FP8LAB_CPU_INTERNAL_H

#include "backend/backend.h"

extern const fp8lab_mem_ops fp8lab_cpu_mem_ops;
extern const fp8lab_quant_ops fp8lab_cpu_quant_ops;
extern const fp8lab_gemm_ops fp8lab_cpu_gemm_ops;
extern const fp8lab_layer_ops fp8lab_cpu_layer_ops;
extern const fp8lab_optim_ops fp8lab_cpu_optim_ops;

/* Host buffers an op reuses from call to call (cpu_backend.c): the decoded GEMM operands and FP32 accumulator,
   and the transposed quantizer's x^T. Allocated per call, buffers this large (an output head's run to hundreds of
   MB) are mapped afresh and page-faulted on every call. Grown as needed, freed with the backend; an op uses each
   slot once and a backend serves one thread at a time. NULL (error set) when out of memory. */
typedef enum { CPU_SCRATCH_A, CPU_SCRATCH_B, CPU_SCRATCH_ACC, CPU_SCRATCH_T, CPU_SCRATCH_N } fp8lab_cpu_slot;
void *fp8lab_cpu_scratch(fp8lab_backend *be, fp8lab_cpu_slot slot, size_t bytes);

/* y[cols][rows] = x[rows][cols]^T in 32x32 tiles (cpu_mem.c): transpose_f32 and the transposed quantizer */
void fp8lab_cpu_transpose(const float *x, int rows, int cols, float *y);

#endif
