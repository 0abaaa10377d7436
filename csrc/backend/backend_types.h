/* Types every backend header shares. */
#ifndef FP8LAB_BACKEND_TYPES_H
#define FP8LAB_BACKEND_TYPES_H

typedef struct fp8lab_backend fp8lab_backend;

/* GEMM output element type */
typedef enum { FP8LAB_F32 = 0, FP8LAB_BF16 = 1 } fp8lab_out_dtype;
/* scaling granularity of GEMM operand B in gemm_fp8_block (A is always 1x128) */
typedef enum { FP8LAB_B_128x128 = 0, FP8LAB_B_1x128 = 1 } fp8lab_b_scaling;

typedef struct fp8lab_device_info {
    char name[128];           /* "NVIDIA H100 80GB HBM3", or the CPU model */
    double peak_tflops_bf16;  /* dense peak used for pct-of-peak; 0 when unknown */
    double peak_tflops_fp8;
    double peak_tflops_fp32;
    char libs[256];           /* library versions, human readable */
} fp8lab_device_info;

#endif
