/* Backend ops, memory group: device allocations, copies and the stream's synchronisation point.
   "Device" pointers come from fp8lab_alloc (host memory on the CPU backend). Copies of 0 bytes are no-ops
   (copy_d2h still synchronises); a non-empty copy needs both pointers. */
#ifndef FP8LAB_MEM_OPS_H
#define FP8LAB_MEM_OPS_H
#include <stddef.h>

#include "backend/backend_types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fp8lab_mem_ops {
    void *(*alloc)(fp8lab_backend *be, size_t bytes); /* NULL + error on failure; 256-byte aligned */
    void (*free)(fp8lab_backend *be, void *p);         /* never called with NULL */
    int (*copy_h2d)(fp8lab_backend *be, void *dst, const void *src, size_t bytes);
    /* waits for the stream, then reports errors recorded by earlier ops (non-finite quantizer input) */
    int (*copy_d2h)(fp8lab_backend *be, void *dst, const void *src, size_t bytes);
    int (*copy_d2d)(fp8lab_backend *be, void *dst, const void *src, size_t bytes);
    /* rows rows of width bytes, from src every spitch bytes to dst every dpitch bytes (device to device):
       column blocks of a row-major matrix in one call (GPT-2's fused q, k, v) */
    int (*copy_2d)(fp8lab_backend *be, void *dst, size_t dpitch, const void *src, size_t spitch, size_t width,
                   size_t rows);
    int (*memset0)(fp8lab_backend *be, void *dst, size_t bytes);
    int (*sync)(fp8lab_backend *be); /* as copy_d2h, without the copy */
    /* y[cols][rows] = x[rows][cols]^T (not in place): the FP8 Linear's operand transposes (nn/linear.c) */
    int (*transpose_f32)(fp8lab_backend *be, const float *x, int rows, int cols, float *y);
} fp8lab_mem_ops;

/* Front functions: what every caller uses (argument checks, then the backend's op). alloc(0) gives a valid,
   distinct pointer; free(NULL) does nothing. */
void *fp8lab_alloc(fp8lab_backend *be, size_t bytes);
void fp8lab_free(fp8lab_backend *be, void *p);
int fp8lab_copy_h2d(fp8lab_backend *be, void *dst, const void *src, size_t bytes);
int fp8lab_copy_d2h(fp8lab_backend *be, void *dst, const void *src, size_t bytes);
int fp8lab_copy_d2d(fp8lab_backend *be, void *dst, const void *src, size_t bytes);
/* width <= dpitch and width <= spitch; nothing is copied when width or rows is 0 */
int fp8lab_copy_2d(fp8lab_backend *be, void *dst, size_t dpitch, const void *src, size_t spitch, size_t width,
                   size_t rows);
int fp8lab_memset0(fp8lab_backend *be, void *dst, size_t bytes);
int fp8lab_sync(fp8lab_backend *be);
/* rows, cols >= 1; x and y distinct, non-overlapping */
int fp8lab_transpose_f32(fp8lab_backend *be, const float *x, int rows, int cols, float *y);

#ifdef __cplusplus
}
#endif
#endif
