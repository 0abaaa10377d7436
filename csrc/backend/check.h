/* Argument checks of the front functions (mem_ops.c, quant_ops.c, gemm_ops.c, layer_ops.c, optim_ops.c): each returns 0, or -1 after
   recording a message that names the op and the argument. Bad arguments are the caller's input (exit status
   2); an op the backend lacks is a limit of the machine (exit status 1). */
#ifndef FP8LAB_BACKEND_CHECK_H
#define FP8LAB_BACKEND_CHECK_H
#include <stddef.h>

#include "backend/backend.h"

/* whether be has table `group` with a non-NULL entry `fn` (be may be NULL) */
#define FP8LAB_HAS_OP(be, group, fn) ((be) && (be)->group && (be)->group->fn)

/* be is not NULL and implements the op (has_op: FP8LAB_HAS_OP) */
int fp8lab_check_op(const fp8lab_backend *be, const char *op, int has_op);
int fp8lab_check_ptr(const char *op, const char *name, const void *p);
/* not NULL and `align`-byte aligned (align a power of two) */
int fp8lab_check_align(const char *op, const char *name, const void *p, size_t align);
/* an element count: n >= 1 */
int fp8lab_check_count(const char *op, long n);
/* a dimension: v >= 1 and a multiple of mult */
int fp8lab_check_dim(const char *op, const char *name, int v, int mult);
int fp8lab_check_fmt(const char *op, const char *name, int fmt);
int fp8lab_check_out(const char *op, fp8lab_out_dtype out);
/* real-valued arguments (eps, theta, learning rates, ...), as "op: name = v must be ..." */
int fp8lab_check_finite(const char *op, const char *name, double v);  /* finite */
int fp8lab_check_positive(const char *op, const char *name, double v); /* finite and > 0 */
int fp8lab_check_nonneg(const char *op, const char *name, double v);   /* finite and >= 0 */
int fp8lab_check_unit(const char *op, const char *name, double v);     /* in [0, 1) */

#endif
