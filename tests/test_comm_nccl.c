/* The NCCL communicator (cuda/comm_nccl.cu through csrc/dist/comm_nccl_host.c) as one rank on the CUDA backend:
   every collective, dtype and reduction, in place and out of place, against what one rank must get (its own
   data, bit for bit); buffers written by the backend's stream just before a collective (ordering); refusals
   (a CPU backend, 128-bit reductions, a bad FP8LAB_COMM_TIMEOUT). Without a GPU it prints "skipped: no GPU
   (<reason>)", in a build without NCCL "skipped: no NCCL", and exits 77. */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "backend/backend.h"
#include "core/error.h"
#include "dist/comm.h"
#include "dist/comm_nccl_host.h"
#include "dist/launch.h"
#include "test_util.h"

static fp8lab_backend *g_be;
static fp8lab_comm *g_comm;
static const fp8lab_launch ONE = {.rank = 0, .size = 1, .local_rank = 0, .launcher = "none"};

static void expect_error(const char *part) {
    if (!strstr(fp8lab_last_error(), part)) fail_msg("error '%s' does not contain '%s'", fp8lab_last_error(), part);
}

enum { N = 1000 }; /* elements per block: not a multiple of anything NCCL likes */

typedef struct {
    unsigned char *host, *back;
    void *a, *b; /* device */
    size_t bytes;
} bufs;

/* random-looking bytes, NaN and Inf bit patterns included: one rank's collectives must move them untouched */
static bufs make(fp8lab_comm_dtype dt, unsigned seed) {
    bufs x = {.bytes = N * fp8lab_comm_dtype_size(dt)};
    x.host = malloc(x.bytes);
    x.back = malloc(x.bytes);
    x.a = fp8lab_alloc(g_be, x.bytes);
    x.b = fp8lab_alloc(g_be, x.bytes);
    assert_non_null(x.host);
    assert_non_null(x.back);
    assert_non_null(x.a);
    assert_non_null(x.b);
    uint32_t s = seed * 2654435761u + 1;
    for (size_t i = 0; i < x.bytes; i++) {
        s = s * 1664525u + 1013904223u;
        x.host[i] = (unsigned char)(s >> 24);
    }
    assert_int_equal(fp8lab_copy_h2d(g_be, x.a, x.host, x.bytes), 0);
    assert_int_equal(fp8lab_memset0(g_be, x.b, x.bytes), 0);
    return x;
}

static void drop(bufs *x) {
    fp8lab_free(g_be, x->a);
    fp8lab_free(g_be, x->b);
    free(x->host);
    free(x->back);
}

static void expect_same(const bufs *x, const void *dev, const char *what, fp8lab_comm_dtype dt) {
    assert_int_equal(fp8lab_copy_d2h(g_be, x->back, dev, x->bytes), 0);
    if (memcmp(x->back, x->host, x->bytes)) fail_msg("%s of %s: result differs from the input", what,
                                                     fp8lab_comm_dtype_name(dt));
}

#define OK(call)                                                                                              \
    do {                                                                                                      \
        if ((call) != 0) fail_msg("%s: %s", #call, fp8lab_last_error());                                      \
    } while (0)

/* Bit-exact for SUM too: one rank's sum is its own value, NaN payloads included (NCCL copies, adds nothing). */
static void test_reductions(void **state) {
    (void)state;
    for (int d = 0; d < FP8LAB_CDT_COUNT; d++) {
        const fp8lab_comm_dtype dt = (fp8lab_comm_dtype)d;
        if (dt == FP8LAB_CDT_I128) continue; /* refused: test_refusals */
        for (int op = FP8LAB_RED_SUM; op <= FP8LAB_RED_MAX; op++) {
            bufs x = make(dt, (unsigned)(d * 2 + op));
            OK(fp8lab_all_reduce(g_comm, x.a, x.b, N, dt, (fp8lab_redop)op));
            expect_same(&x, x.b, "all_reduce", dt);
            OK(fp8lab_all_reduce(g_comm, x.a, x.a, N, dt, (fp8lab_redop)op));
            expect_same(&x, x.a, "all_reduce in place", dt);
            OK(fp8lab_reduce_scatter(g_comm, x.a, x.b, N, dt, (fp8lab_redop)op));
            expect_same(&x, x.b, "reduce_scatter", dt);
            OK(fp8lab_reduce_scatter(g_comm, x.a, x.a, N, dt, (fp8lab_redop)op));
            expect_same(&x, x.a, "reduce_scatter in place", dt);
            drop(&x);
        }
    }
}

/* Non-blocking: three all-reduces in flight at once on the communicator's stream, polled, waited in reverse. */
static void test_non_blocking(void **state) {
    (void)state;
    bufs x[3];
    fp8lab_comm_req *req[3];
    for (int i = 0; i < 3; i++) {
        x[i] = make(FP8LAB_CDT_F32, 40u + (unsigned)i);
        OK(fp8lab_all_reduce_start(g_comm, x[i].a, x[i].b, N, FP8LAB_CDT_F32, FP8LAB_RED_SUM, &req[i]));
        assert_non_null(req[i]);
    }
    int done = 0;
    OK(fp8lab_comm_test(g_comm, req[0], &done));
    for (int i = 2; i >= 0; i--) {
        OK(fp8lab_comm_wait(g_comm, req[i]));
        expect_same(&x[i], x[i].b, "all_reduce_start", FP8LAB_CDT_F32);
        drop(&x[i]);
    }
}

static void test_data_movement(void **state) {
    (void)state;
    for (int d = 0; d < FP8LAB_CDT_COUNT; d++) {
        const fp8lab_comm_dtype dt = (fp8lab_comm_dtype)d;
        bufs x = make(dt, 100u + (unsigned)d);
        OK(fp8lab_all_gather(g_comm, x.a, x.b, N, dt));
        expect_same(&x, x.b, "all_gather", dt);
        OK(fp8lab_all_gather(g_comm, x.a, x.a, N, dt));
        expect_same(&x, x.a, "all_gather in place", dt);
        OK(fp8lab_broadcast(g_comm, x.a, N, dt, 0));
        expect_same(&x, x.a, "broadcast", dt);
        OK(fp8lab_memset0(g_be, x.b, x.bytes));
        OK(fp8lab_all_to_all(g_comm, x.a, x.b, N, dt));
        expect_same(&x, x.b, "all_to_all", dt);
        OK(fp8lab_all_to_all(g_comm, x.a, x.a, N, dt));
        expect_same(&x, x.a, "all_to_all in place", dt);
        drop(&x);
    }
    OK(fp8lab_barrier(g_comm));
}

/* A large copy queued on the backend's stream right before the collective: without the event wait the
   communicator's stream could read the buffer before the copy lands. */
static void test_ordered_after_backend(void **state) {
    (void)state;
    const size_t n = (size_t)16 << 20;
    float *h = malloc(n * sizeof *h), *back = malloc(n * sizeof *back);
    float *a = fp8lab_alloc(g_be, n * sizeof *a), *b = fp8lab_alloc(g_be, n * sizeof *b);
    assert_true(h && back && a && b);
    for (int round = 1; round <= 3; round++) {
        for (size_t i = 0; i < n; i++) h[i] = (float)(i % 1000) + (float)round;
        OK(fp8lab_copy_h2d(g_be, a, h, n * sizeof *h));
        OK(fp8lab_all_reduce(g_comm, a, b, n, FP8LAB_CDT_F32, FP8LAB_RED_SUM));
        OK(fp8lab_copy_d2h(g_be, back, b, n * sizeof *back));
        assert_memory_equal(back, h, n * sizeof *h);
    }
    fp8lab_free(g_be, a);
    fp8lab_free(g_be, b);
    free(h);
    free(back);
}

static void test_refusals(void **state) {
    (void)state;
    void *p = fp8lab_alloc(g_be, 16 * 4);
    assert_non_null(p);
    assert_int_equal(fp8lab_all_reduce(g_comm, p, p, 4, FP8LAB_CDT_I128, FP8LAB_RED_SUM), -1);
    expect_error("rank 0/1 all_reduce of 4 int128 (nccl)");
    OK(fp8lab_barrier(g_comm)); /* a refusal does not break the communicator */
    fp8lab_free(g_be, p);
    setenv("FP8LAB_COMM_TIMEOUT", "soon", 1);
    assert_null(fp8lab_comm_nccl(g_be, &ONE, NULL));
    expect_error("FP8LAB_COMM_TIMEOUT='soon'");
    unsetenv("FP8LAB_COMM_TIMEOUT");
}

/* No device needed: the host side refuses a CPU backend before it looks for the library. */
static int cpu_backend_refused(void) {
    fp8lab_backend *cpu = fp8lab_cpu_backend_create();
    if (!cpu) return 0;
    const int ok = fp8lab_comm_nccl(cpu, &ONE, NULL) == NULL && strstr(fp8lab_last_error(), "needs the CUDA backend") &&
                   fp8lab_last_error_exit() == FP8LAB_EXIT_USAGE;
    fp8lab_backend_destroy(cpu);
    return ok;
}

int main(void) {
    if (!cpu_backend_refused()) {
        fprintf(stderr, "a CPU backend was not refused: %s\n", fp8lab_last_error());
        return 1;
    }
    unsetenv("FP8LAB_RENDEZVOUS");
    g_be = fp8lab_cuda_backend_create(0);
    if (!g_be) FP8LAB_SKIP("no GPU (%s)", fp8lab_last_error());
    if (!fp8lab_comm_nccl_built()) {
        fp8lab_backend_destroy(g_be);
        FP8LAB_SKIP("no NCCL (this build's CUDA library was made without NCCL)");
    }
    g_comm = fp8lab_comm_nccl(g_be, &ONE, NULL);
    if (!g_comm) {
        fprintf(stderr, "cannot create a one-rank NCCL communicator: %s\n", fp8lab_last_error());
        fp8lab_backend_destroy(g_be);
        return 1;
    }
    printf("nccl communicator: %s, rank %d of %d\n", g_comm->name, g_comm->rank, g_comm->size);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reductions),
        cmocka_unit_test(test_data_movement),
        cmocka_unit_test(test_non_blocking),
        cmocka_unit_test(test_ordered_after_backend),
        cmocka_unit_test(test_refusals),
    };
    const int rc = cmocka_run_group_tests(tests, NULL, NULL);
    fp8lab_comm_destroy(g_comm);
    fp8lab_backend_destroy(g_be);
    return rc;
}
