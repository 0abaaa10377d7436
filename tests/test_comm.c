/* The communicator's front (csrc/dist/comm.c): the single-process implementation's results, the argument checks
   every implementation gets (refusals name the rank and the collective), and the in-place layouts it lets
   through, seen by a recording implementation that pretends to be rank 2 of 4. Under mpirun
   (tests/cli_mpi_comm.sh runs it with -np 4) it tests the MPI communicator's results instead: every collective,
   dtype and reduction, in place and out of place, against values computed from the ranks' inputs, int128 sums
   that no floating-point type holds exactly, and non-blocking all-reduces several at a time. */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include <limits.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h> /* pause */

#include <cmocka.h>

#include "core/error.h"
#include "dist/comm.h"

static void expect_error(const char *part) {
    const char *e = fp8lab_last_error();
    if (!strstr(e, part)) fail_msg("error '%s' does not contain '%s'", e, part);
}

static void test_dtypes(void **state) {
    (void)state;
    const size_t size[] = {4, 2, 1, 8, 8, 16};
    const char *name[] = {"float", "bfloat16", "uint8", "double", "int64", "int128"};
    for (int d = 0; d < FP8LAB_CDT_COUNT; d++) {
        assert_int_equal(fp8lab_comm_dtype_size((fp8lab_comm_dtype)d), size[d]);
        assert_string_equal(fp8lab_comm_dtype_name((fp8lab_comm_dtype)d), name[d]);
    }
    assert_int_equal(fp8lab_comm_dtype_size(FP8LAB_CDT_COUNT), 0);
    assert_int_equal(fp8lab_comm_dtype_size((fp8lab_comm_dtype)-1), 0);
    assert_string_equal(fp8lab_comm_dtype_name(FP8LAB_CDT_COUNT), "invalid");
}

/* One rank: every collective leaves recv equal to send, bit for bit (NaN payloads included), in every dtype. */
static void test_single_results(void **state) {
    (void)state;
    fp8lab_comm *c = fp8lab_comm_single();
    assert_non_null(c);
    assert_string_equal(c->name, "single");
    assert_int_equal(c->rank, 0);
    assert_int_equal(c->size, 1);
    unsigned char send[64], recv[64];
    for (int i = 0; i < 64; i++) send[i] = (unsigned char)(i * 37 + 11);
    send[3] = 0xff; /* float NaN bytes at element 0 must survive a copy */
    for (int d = 0; d < FP8LAB_CDT_COUNT; d++) {
        const fp8lab_comm_dtype dt = (fp8lab_comm_dtype)d;
        const size_t n = 64 / fp8lab_comm_dtype_size(dt);
        for (int which = 0; which < 4; which++) {
            memset(recv, 0, sizeof recv);
            const fp8lab_redop max = dt == FP8LAB_CDT_I128 ? FP8LAB_RED_SUM : FP8LAB_RED_MAX; /* sum only */
            int rc = which == 0   ? fp8lab_all_reduce(c, send, recv, n, dt, FP8LAB_RED_SUM)
                     : which == 1 ? fp8lab_reduce_scatter(c, send, recv, n, dt, max)
                     : which == 2 ? fp8lab_all_gather(c, send, recv, n, dt)
                                  : fp8lab_all_to_all(c, send, recv, n, dt);
            assert_int_equal(rc, 0);
            assert_memory_equal(recv, send, 64);
        }
        /* in place: unchanged */
        memcpy(recv, send, sizeof recv);
        assert_int_equal(fp8lab_all_reduce(c, recv, recv, n, dt, FP8LAB_RED_SUM), 0);
        assert_int_equal(fp8lab_reduce_scatter(c, recv, recv, n, dt, FP8LAB_RED_SUM), 0);
        assert_int_equal(fp8lab_all_gather(c, recv, recv, n, dt), 0);
        assert_int_equal(fp8lab_all_to_all(c, recv, recv, n, dt), 0);
        assert_int_equal(fp8lab_broadcast(c, recv, n, dt, 0), 0);
        assert_memory_equal(recv, send, 64);
    }
    assert_int_equal(fp8lab_barrier(c), 0);
    fp8lab_comm_destroy(c);
    fp8lab_comm_destroy(NULL);
}

/* One rank: a non-blocking all-reduce is complete when it starts (NULL request), and wait and test take that. */
static void test_single_start(void **state) {
    (void)state;
    fp8lab_comm *c = fp8lab_comm_single();
    assert_non_null(c);
    unsigned char send[64], recv[64];
    for (int i = 0; i < 64; i++) send[i] = (unsigned char)(i * 29 + 3);
    for (int d = 0; d < FP8LAB_CDT_COUNT; d++) {
        const fp8lab_comm_dtype dt = (fp8lab_comm_dtype)d;
        fp8lab_comm_req *req = (fp8lab_comm_req *)&recv; /* not NULL: start must set it */
        memset(recv, 0, sizeof recv);
        assert_int_equal(fp8lab_all_reduce_start(c, send, recv, 64 / fp8lab_comm_dtype_size(dt), dt, FP8LAB_RED_SUM,
                                                 &req), 0);
        assert_null(req);
        assert_memory_equal(recv, send, 64);
        int done = 0;
        assert_int_equal(fp8lab_comm_test(c, req, &done), 0);
        assert_int_equal(done, 1);
        assert_int_equal(fp8lab_comm_wait(c, req), 0);
    }
    fp8lab_comm_destroy(c);
}

/* Not under a launcher: from_env gives the single communicator, and MPI is not started; a launcher variable
   without a value is refused, naming it (dist/launch.h). */
static void test_from_env(void **state) {
    (void)state;
    unsetenv("OMPI_COMM_WORLD_SIZE");
    unsetenv("OMPI_COMM_WORLD_RANK");
    fp8lab_comm *c = fp8lab_comm_from_env();
    assert_non_null(c);
    assert_string_equal(c->name, "single");
    fp8lab_comm_destroy(c);
    setenv("OMPI_COMM_WORLD_SIZE", "", 1);
    fp8lab_clear_error();
    assert_null(fp8lab_comm_from_env());
    expect_error("OMPI_COMM_WORLD_SIZE");
    setenv("OMPI_COMM_WORLD_RANK", "0", 1);
    if (fp8lab_comm_mpi_built()) { /* a bad time limit stops every rank before MPI starts, naming the variable */
        const char *bad[] = {"abc", "-1", "0", "", " 5", "5s", "nan", "inf", "-0.5", "1e999"};
        setenv("OMPI_COMM_WORLD_SIZE", "4", 1);
        for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
            char want[64];
            snprintf(want, sizeof want, "FP8LAB_COMM_TIMEOUT='%s' is not a positive number", bad[i]);
            setenv("FP8LAB_COMM_TIMEOUT", bad[i], 1);
            fp8lab_clear_error();
            assert_null(fp8lab_comm_from_env());
            expect_error(want);
            assert_int_equal(fp8lab_last_error_exit(), FP8LAB_EXIT_USAGE);
        }
        unsetenv("FP8LAB_COMM_TIMEOUT");
    }
    if (!fp8lab_comm_mpi_built()) { /* under mpirun without MPI built in: a clear error, not a silent rank 0 of 1 */
        setenv("OMPI_COMM_WORLD_SIZE", "4", 1);
        fp8lab_clear_error();
        assert_null(fp8lab_comm_from_env());
        expect_error("without MPI");
        assert_int_equal(fp8lab_last_error_exit(), FP8LAB_EXIT_RUNTIME);
    }
    unsetenv("OMPI_COMM_WORLD_SIZE");
    unsetenv("OMPI_COMM_WORLD_RANK");
}

/* ---- a recording implementation: rank 2 of 4 ------------------------------------------------------------------ */

static struct {
    int calls;
    const void *send;
    void *recv;
    size_t count;
} g_rec;

static int rec_red(fp8lab_comm *c, const void *s, void *r, size_t n, fp8lab_comm_dtype dt, fp8lab_redop op) {
    g_rec.calls++, g_rec.send = s, g_rec.recv = r, g_rec.count = n;
    return 0;
}
static int rec_move(fp8lab_comm *c, const void *s, void *r, size_t n, fp8lab_comm_dtype dt) {
    return rec_red(c, s, r, n, dt, FP8LAB_RED_SUM);
}
static int rec_bcast(fp8lab_comm *c, void *b, size_t n, fp8lab_comm_dtype dt, int root) {
    return rec_red(c, b, b, n, dt, FP8LAB_RED_SUM);
}
static int rec_barrier(fp8lab_comm *c) { return rec_red(c, NULL, NULL, 0, FP8LAB_CDT_U8, FP8LAB_RED_SUM); }

static const fp8lab_comm_ops REC_OPS = {.all_reduce = rec_red, .reduce_scatter = rec_red, .all_gather = rec_move,
                                        .broadcast = rec_bcast, .all_to_all = rec_move, .barrier = rec_barrier};

static fp8lab_comm g_fake = {.name = "fake", .rank = 2, .size = 4, .ops = &REC_OPS};

/* the same with a non-blocking form: requests are counters, done after two tests */
static struct {
    int starts, waits, tests;
} g_nb;
struct fp8lab_comm_req {
    int polls;
};
static int rec_start(fp8lab_comm *c, const void *s, void *r, size_t n, fp8lab_comm_dtype dt, fp8lab_redop op,
                     fp8lab_comm_req **req) {
    g_nb.starts++, g_rec.send = s, g_rec.recv = r, g_rec.count = n;
    *req = calloc(1, sizeof **req);
    return *req ? 0 : -1;
}
static int rec_wait(fp8lab_comm *c, fp8lab_comm_req *req) {
    g_nb.waits++;
    free(req);
    return 0;
}
static int rec_test(fp8lab_comm *c, fp8lab_comm_req *req, int *done) {
    g_nb.tests++;
    *done = ++req->polls >= 2;
    return 0;
}
static const fp8lab_comm_ops REC_NB_OPS = {.all_reduce = rec_red, .all_reduce_start = rec_start, .wait = rec_wait,
                                           .test = rec_test};
static fp8lab_comm g_fake_nb = {.name = "fake-nb", .rank = 2, .size = 4, .ops = &REC_NB_OPS};

/* rc must be -1 with an error naming rank 2/4, the collective and `why`, and the implementation not called */
#define REFUSED(call, coll, why)                                                                               \
    do {                                                                                                        \
        fp8lab_clear_error();                                                                                   \
        g_rec.calls = 0;                                                                                        \
        assert_int_equal((call), -1);                                                                           \
        assert_int_equal(g_rec.calls, 0);                                                                       \
        expect_error("rank 2/4 " coll);                                                                         \
        expect_error(why);                                                                                      \
        assert_int_equal(fp8lab_last_error_exit(), FP8LAB_EXIT_RUNTIME);                                        \
    } while (0)

#define PASSED(call, s, r, n)                                                                                   \
    do {                                                                                                        \
        g_rec.calls = 0;                                                                                        \
        assert_int_equal((call), 0);                                                                            \
        assert_int_equal(g_rec.calls, 1);                                                                       \
        assert_ptr_equal(g_rec.send, (s));                                                                      \
        assert_ptr_equal(g_rec.recv, (r));                                                                      \
        assert_int_equal(g_rec.count, (n));                                                                     \
    } while (0)

static void test_refusals(void **state) {
    (void)state;
    fp8lab_comm *c = &g_fake;
    float buf[64] = {0}, other[64] = {0};
    REFUSED(fp8lab_all_reduce(c, NULL, buf, 4, FP8LAB_CDT_F32, FP8LAB_RED_SUM), "all_reduce", "send buffer is NULL");
    REFUSED(fp8lab_all_reduce(c, buf, NULL, 4, FP8LAB_CDT_F32, FP8LAB_RED_SUM), "all_reduce", "recv buffer is NULL");
    REFUSED(fp8lab_all_reduce(c, buf, other, 4, FP8LAB_CDT_COUNT, FP8LAB_RED_SUM), "all_reduce", "invalid dtype");
    REFUSED(fp8lab_all_reduce(c, buf, other, 4, FP8LAB_CDT_F32, (fp8lab_redop)2), "all_reduce", "invalid reduction");
    REFUSED(fp8lab_reduce_scatter(c, buf, other, 4, FP8LAB_CDT_F32, (fp8lab_redop)-1), "reduce_scatter",
            "invalid reduction");
    /* size * count * 8 bytes wraps around */
    REFUSED(fp8lab_all_gather(c, buf, other, SIZE_MAX / 16, FP8LAB_CDT_F64), "all_gather", "overflow");
    REFUSED(fp8lab_all_to_all(c, buf, other, SIZE_MAX / 8, FP8LAB_CDT_I64), "all_to_all", "overflow");
    REFUSED(fp8lab_broadcast(c, buf, 4, FP8LAB_CDT_F32, 4), "broadcast", "root 4 is not a rank");
    REFUSED(fp8lab_broadcast(c, buf, 4, FP8LAB_CDT_F32, -1), "broadcast", "root -1 is not a rank");
    REFUSED(fp8lab_broadcast(c, NULL, 4, FP8LAB_CDT_F32, 0), "broadcast", "buf buffer is NULL");
    /* overlapping but not in place: the implementation would read what it already overwrote */
    REFUSED(fp8lab_all_reduce(c, buf, buf + 1, 8, FP8LAB_CDT_F32, FP8LAB_RED_SUM), "all_reduce", "overlap");
    REFUSED(fp8lab_reduce_scatter(c, buf, buf + 1, 4, FP8LAB_CDT_F32, FP8LAB_RED_SUM), "reduce_scatter", "overlap");
    REFUSED(fp8lab_all_gather(c, buf + 4, buf, 4, FP8LAB_CDT_F32), "all_gather", "overlap");
    REFUSED(fp8lab_all_to_all(c, buf + 2, buf, 4, FP8LAB_CDT_F32), "all_to_all", "overlap");
    /* int128 sums only, named with the count */
    REFUSED(fp8lab_all_reduce(c, buf, other, 4, FP8LAB_CDT_I128, FP8LAB_RED_MAX), "all_reduce",
            "of 4 int128: max is not supported");
    REFUSED(fp8lab_reduce_scatter(c, buf, other, 2, FP8LAB_CDT_I128, FP8LAB_RED_MAX), "reduce_scatter",
            "of 2 int128: max is not supported");
    /* no communicator, or one whose rank is outside its size */
    fp8lab_clear_error();
    assert_int_equal(fp8lab_barrier(NULL), -1);
    expect_error("barrier: no communicator");
    fp8lab_comm bad = {.name = "bad", .rank = 4, .size = 4, .ops = &REC_OPS};
    assert_int_equal(fp8lab_all_reduce(&bad, buf, other, 1, FP8LAB_CDT_F32, FP8LAB_RED_SUM), -1);
    expect_error("rank 4 of size 4");
}

/* The non-blocking all-reduce is refused for what the blocking one is, with the request left NULL. */
#define REFUSED_START(send, recv, n, dt, op, why)                                                              \
    do {                                                                                                        \
        fp8lab_comm_req *req_ = (fp8lab_comm_req *)&g_rec;                                                     \
        REFUSED(fp8lab_all_reduce_start(c, send, recv, n, dt, op, &req_), "all_reduce_start", why);            \
        assert_null(req_);                                                                                      \
    } while (0)

static void test_start_refusals(void **state) {
    (void)state;
    fp8lab_comm *c = &g_fake;
    float buf[64] = {0}, other[64] = {0};
    REFUSED_START(NULL, buf, 4, FP8LAB_CDT_F32, FP8LAB_RED_SUM, "send buffer is NULL");
    REFUSED_START(buf, NULL, 4, FP8LAB_CDT_F32, FP8LAB_RED_SUM, "recv buffer is NULL");
    REFUSED_START(buf, other, 4, FP8LAB_CDT_COUNT, FP8LAB_RED_SUM, "invalid dtype");
    REFUSED_START(buf, other, 4, (fp8lab_comm_dtype)-1, FP8LAB_RED_SUM, "invalid dtype");
    REFUSED_START(buf, other, 4, FP8LAB_CDT_F32, (fp8lab_redop)2, "invalid reduction");
    REFUSED_START(buf, other, 4, FP8LAB_CDT_I128, FP8LAB_RED_MAX, "of 4 int128: max is not supported");
    REFUSED_START(buf, other, SIZE_MAX / 8, FP8LAB_CDT_I128, FP8LAB_RED_SUM, "overflow");
    REFUSED_START(buf, buf + 1, 8, FP8LAB_CDT_F32, FP8LAB_RED_SUM, "overlap");
    /* nowhere to put the request or the answer */
    fp8lab_clear_error();
    assert_int_equal(fp8lab_all_reduce_start(c, buf, other, 4, FP8LAB_CDT_F32, FP8LAB_RED_SUM, NULL), -1);
    expect_error("req is NULL");
    fp8lab_clear_error();
    assert_int_equal(fp8lab_comm_test(c, NULL, NULL), -1);
    expect_error("done is NULL");
    fp8lab_comm_req *req = (fp8lab_comm_req *)&g_rec;
    assert_int_equal(fp8lab_all_reduce_start(NULL, buf, other, 4, FP8LAB_CDT_F32, FP8LAB_RED_SUM, &req), -1);
    expect_error("all_reduce_start: no communicator");
    assert_null(req);
    /* NULL requests: complete */
    int done = 0;
    assert_int_equal(fp8lab_comm_wait(c, NULL), 0);
    assert_int_equal(fp8lab_comm_test(c, NULL, &done), 0);
    assert_int_equal(done, 1);
}

/* What the front lets through to the implementation: apart, NCCL's in-place layouts, and count 0 (not called). */
static void test_layouts_passed(void **state) {
    (void)state;
    fp8lab_comm *c = &g_fake;
    float buf[64] = {0}, other[64] = {0};
    PASSED(fp8lab_all_reduce(c, buf, other, 64, FP8LAB_CDT_F32, FP8LAB_RED_MAX), buf, other, 64);
    PASSED(fp8lab_all_reduce(c, buf, buf, 64, FP8LAB_CDT_F32, FP8LAB_RED_SUM), buf, buf, 64);
    /* adjacent, not overlapping */
    PASSED(fp8lab_all_reduce(c, buf, buf + 32, 32, FP8LAB_CDT_F32, FP8LAB_RED_SUM), buf, buf + 32, 32);
    /* reduce_scatter in place: rank 2's block of send */
    PASSED(fp8lab_reduce_scatter(c, buf, buf + 2 * 16, 16, FP8LAB_CDT_F32, FP8LAB_RED_SUM), buf, buf + 32, 16);
    /* all_gather in place: send is rank 2's block of recv; counts in elements of the dtype (BF16: 2 bytes) */
    uint16_t h[64] = {0};
    PASSED(fp8lab_all_gather(c, h + 2 * 16, h, 16, FP8LAB_CDT_BF16), h + 32, h, 16);
    PASSED(fp8lab_all_to_all(c, buf, buf, 16, FP8LAB_CDT_F32), buf, buf, 16);
    PASSED(fp8lab_broadcast(c, buf, 64, FP8LAB_CDT_F32, 3), buf, buf, 64);
    g_rec.calls = 0;
    assert_int_equal(fp8lab_barrier(c), 0);
    assert_int_equal(g_rec.calls, 1);
    /* count 0: nothing to do, NULL buffers allowed, the implementation not called */
    g_rec.calls = 0;
    assert_int_equal(fp8lab_all_reduce(c, NULL, NULL, 0, FP8LAB_CDT_F32, FP8LAB_RED_SUM), 0);
    assert_int_equal(fp8lab_reduce_scatter(c, NULL, NULL, 0, FP8LAB_CDT_F32, FP8LAB_RED_SUM), 0);
    assert_int_equal(fp8lab_all_gather(c, NULL, NULL, 0, FP8LAB_CDT_U8), 0);
    assert_int_equal(fp8lab_all_to_all(c, NULL, NULL, 0, FP8LAB_CDT_I64), 0);
    assert_int_equal(fp8lab_broadcast(c, NULL, 0, FP8LAB_CDT_F64, 1), 0);
    assert_int_equal(g_rec.calls, 0);
}

/* all_reduce_start: without a non-blocking form the blocking all-reduce runs (NULL request); with one, the front
   passes it the buffers and hands the request to test and wait; count 0 calls neither. */
static void test_start_passed(void **state) {
    (void)state;
    float buf[64] = {0}, other[64] = {0};
    fp8lab_comm_req *req = (fp8lab_comm_req *)&g_rec;
    PASSED(fp8lab_all_reduce_start(&g_fake, buf, other, 64, FP8LAB_CDT_F32, FP8LAB_RED_MAX, &req), buf, other, 64);
    assert_null(req);
    PASSED(fp8lab_all_reduce_start(&g_fake, buf, buf, 4, FP8LAB_CDT_I128, FP8LAB_RED_SUM, &req), buf, buf, 4);
    assert_null(req);

    fp8lab_comm *c = &g_fake_nb;
    memset(&g_nb, 0, sizeof g_nb);
    g_rec.calls = 0;
    assert_int_equal(fp8lab_all_reduce_start(c, buf, buf, 64, FP8LAB_CDT_F32, FP8LAB_RED_SUM, &req), 0);
    assert_non_null(req);
    assert_int_equal(g_nb.starts, 1);
    assert_int_equal(g_rec.calls, 0); /* not the blocking one */
    assert_ptr_equal(g_rec.send, buf);
    assert_int_equal(g_rec.count, 64);
    int done = -1;
    assert_int_equal(fp8lab_comm_test(c, req, &done), 0);
    assert_int_equal(done, 0);
    assert_int_equal(fp8lab_comm_test(c, req, &done), 0);
    assert_int_equal(done, 1);
    assert_int_equal(fp8lab_comm_wait(c, req), 0);
    assert_int_equal(g_nb.tests, 2);
    assert_int_equal(g_nb.waits, 1);
    assert_int_equal(fp8lab_all_reduce_start(c, NULL, NULL, 0, FP8LAB_CDT_F32, FP8LAB_RED_SUM, &req), 0);
    assert_null(req);
    assert_int_equal(g_nb.starts, 1);
}

/* ---- under mpirun (tests/cli_mpi_comm.sh runs this binary with -np 4): the MPI communicator's results --------- */

static fp8lab_comm *g_mpi;

static int mpi_setup(void **state) {
    g_mpi = fp8lab_comm_from_env();
    if (!g_mpi) fprintf(stderr, "from_env: %s\n", fp8lab_last_error());
    return g_mpi ? 0 : -1;
}

static int mpi_teardown(void **state) {
    fp8lab_comm_destroy(g_mpi);
    return 0;
}

/* Rank r's input element i: small integers, signed where the type is, so every sum is exact in every dtype. */
static double in_val(fp8lab_comm_dtype dt, int r, size_t i) {
    const double v = (double)((i * 7 + (size_t)r * 5) % 13);
    return dt == FP8LAB_CDT_U8 ? v : v - 6;
}

static void set_val(fp8lab_comm_dtype dt, void *buf, size_t i, double v) {
    switch (dt) {
    case FP8LAB_CDT_F32: ((float *)buf)[i] = (float)v; break;
    case FP8LAB_CDT_F64: ((double *)buf)[i] = v; break;
    case FP8LAB_CDT_I64: ((int64_t *)buf)[i] = (int64_t)v; break;
    case FP8LAB_CDT_I128: {
        const __int128 x = (__int128)v;
        memcpy((char *)buf + 16 * i, &x, 16);
        break;
    }
    case FP8LAB_CDT_U8: ((uint8_t *)buf)[i] = (uint8_t)v; break;
    default: { /* BF16: the top half of the FP32 bits; v is exact in it */
        const float f = (float)v;
        uint32_t u;
        memcpy(&u, &f, 4);
        ((uint16_t *)buf)[i] = (uint16_t)(u >> 16);
    }
    }
}

static double get_val(fp8lab_comm_dtype dt, const void *buf, size_t i) {
    switch (dt) {
    case FP8LAB_CDT_F32: return ((const float *)buf)[i];
    case FP8LAB_CDT_F64: return ((const double *)buf)[i];
    case FP8LAB_CDT_I64: return (double)((const int64_t *)buf)[i];
    case FP8LAB_CDT_I128: {
        __int128 x;
        memcpy(&x, (const char *)buf + 16 * i, 16);
        return (double)x;
    }
    case FP8LAB_CDT_U8: return ((const uint8_t *)buf)[i];
    default: {
        const uint32_t u = (uint32_t)((const uint16_t *)buf)[i] << 16;
        float f;
        memcpy(&f, &u, 4);
        return f;
    }
    }
}

/* reduction over ranks of input element i */
static double reduced(fp8lab_comm_dtype dt, fp8lab_redop op, int n, size_t i) {
    double acc = in_val(dt, 0, i);
    for (int r = 1; r < n; r++) acc = op == FP8LAB_RED_SUM ? acc + in_val(dt, r, i) : fmax(acc, in_val(dt, r, i));
    return acc;
}

#define MPI_N 37 /* elements per block: odd, so no layout lines up by chance */

static void check_vals(fp8lab_comm_dtype dt, const void *got, size_t n, double (*want)(size_t, void *), void *ctx,
                       const char *what) {
    for (size_t i = 0; i < n; i++)
        if (get_val(dt, got, i) != want(i, ctx))
            fail_msg("rank %d %s %s: element %zu is %g, wanted %g", g_mpi->rank, what, fp8lab_comm_dtype_name(dt), i,
                     get_val(dt, got, i), want(i, ctx));
}

typedef struct {
    fp8lab_comm_dtype dt;
    fp8lab_redop op;
    size_t off;
} want_ctx;

static double want_reduced(size_t i, void *p) {
    const want_ctx *w = p;
    return reduced(w->dt, w->op, g_mpi->size, w->off + i);
}

static void test_mpi_all_reduce_and_reduce_scatter(void **state) {
    fp8lab_comm *c = g_mpi;
    const size_t n = (size_t)c->size * MPI_N;
    void *a = malloc(n * 16), *b = malloc(n * 16);
    assert_true(a && b);
    for (int d = 0; d < FP8LAB_CDT_COUNT; d++)
        for (int o = 0; o < 2; o++)
            for (int in_place = 0; in_place < 2; in_place++) {
                const fp8lab_comm_dtype dt = (fp8lab_comm_dtype)d;
                const fp8lab_redop op = (fp8lab_redop)o;
                if (dt == FP8LAB_CDT_I128 && op == FP8LAB_RED_MAX) continue; /* sum only */
                const size_t es = fp8lab_comm_dtype_size(dt);
                for (size_t i = 0; i < n; i++) set_val(dt, a, i, in_val(dt, c->rank, i));
                memset(b, 0xff, n * es);
                void *out = in_place ? a : b;
                assert_int_equal(fp8lab_all_reduce(c, a, out, n, dt, op), 0);
                want_ctx w = {dt, op, 0};
                check_vals(dt, out, n, want_reduced, &w, in_place ? "all_reduce in place" : "all_reduce");

                for (size_t i = 0; i < n; i++) set_val(dt, a, i, in_val(dt, c->rank, i));
                out = in_place ? (char *)a + (size_t)c->rank * MPI_N * es : b;
                assert_int_equal(fp8lab_reduce_scatter(c, a, out, MPI_N, dt, op), 0);
                w.off = (size_t)c->rank * MPI_N;
                check_vals(dt, out, MPI_N, want_reduced, &w, in_place ? "reduce_scatter in place" : "reduce_scatter");
            }
    free(a);
    free(b);
}

static double want_gathered(size_t i, void *p) {
    const want_ctx *w = p;
    return in_val(w->dt, (int)(i / MPI_N), i % MPI_N);
}

/* block s of the output is rank s's block `rank` */
static double want_exchanged(size_t i, void *p) {
    const want_ctx *w = p;
    return in_val(w->dt, (int)(i / MPI_N), (size_t)g_mpi->rank * MPI_N + i % MPI_N);
}

static void test_mpi_gather_and_exchange(void **state) {
    fp8lab_comm *c = g_mpi;
    const size_t n = (size_t)c->size * MPI_N;
    void *a = malloc(n * 16), *b = malloc(n * 16);
    assert_true(a && b);
    for (int d = 0; d < FP8LAB_CDT_COUNT; d++)
        for (int in_place = 0; in_place < 2; in_place++) {
            const fp8lab_comm_dtype dt = (fp8lab_comm_dtype)d;
            const size_t es = fp8lab_comm_dtype_size(dt);
            want_ctx w = {.dt = dt};
            memset(b, 0xff, n * es);
            void *send = in_place ? (char *)b + (size_t)c->rank * MPI_N * es : a;
            for (size_t i = 0; i < MPI_N; i++) set_val(dt, send, i, in_val(dt, c->rank, i));
            assert_int_equal(fp8lab_all_gather(c, send, b, MPI_N, dt), 0);
            check_vals(dt, b, n, want_gathered, &w, in_place ? "all_gather in place" : "all_gather");

            for (size_t i = 0; i < n; i++) set_val(dt, a, i, in_val(dt, c->rank, i));
            memset(b, 0xff, n * es);
            void *out = in_place ? a : b;
            assert_int_equal(fp8lab_all_to_all(c, a, out, MPI_N, dt), 0);
            check_vals(dt, out, n, want_exchanged, &w, in_place ? "all_to_all in place" : "all_to_all");
        }
    free(a);
    free(b);
}

static double want_root(size_t i, void *p) {
    const want_ctx *w = p;
    return in_val(w->dt, (int)w->off, i);
}

static void test_mpi_broadcast_barrier(void **state) {
    fp8lab_comm *c = g_mpi;
    __int128 buf[MPI_N]; /* room for MPI_N elements of the widest dtype */
    for (int root = 0; root < c->size; root++)
        for (int d = 0; d < FP8LAB_CDT_COUNT; d++) {
            const fp8lab_comm_dtype dt = (fp8lab_comm_dtype)d;
            for (size_t i = 0; i < MPI_N; i++) set_val(dt, buf, i, in_val(dt, c->rank, i));
            assert_int_equal(fp8lab_broadcast(c, buf, MPI_N, dt, root), 0);
            want_ctx w = {.dt = dt, .off = (size_t)root};
            check_vals(dt, buf, MPI_N, want_root, &w, "broadcast");
        }
    assert_int_equal(fp8lab_barrier(c), 0);
}

/* MPI counts are int: a larger count is refused on every rank (so none waits), naming the rank and collective,
   before any buffer is read */
static void test_mpi_refuses_large_count(void **state) {
    fp8lab_comm *c = g_mpi;
    float buf[4] = {0};
    char want[64];
    snprintf(want, sizeof want, "rank %d/%d all_reduce", c->rank, c->size);
    fp8lab_clear_error();
    assert_int_equal(fp8lab_all_reduce(c, buf, buf, (size_t)INT_MAX + 1, FP8LAB_CDT_F32, FP8LAB_RED_SUM), -1);
    expect_error(want);
    expect_error("more than");
    fp8lab_comm_req *req = (fp8lab_comm_req *)buf;
    assert_int_equal(fp8lab_all_reduce_start(c, buf, buf, (size_t)INT_MAX + 1, FP8LAB_CDT_F32, FP8LAB_RED_SUM, &req),
                     -1);
    expect_error("more than");
    assert_null(req);
    assert_int_equal(fp8lab_barrier(c), 0); /* the ranks are still in step */
}

/* Rank r's int128 element i: around +-2^100, so that the sum needs all 128 bits and no double holds it (2^100 + 1
   rounds to 2^100), with an odd low part that differs per rank; rank 0's last element is INT128_MAX and rank 1's
   is 1, so that one sum wraps around to INT128_MIN (two's complement, like the ranks' own __int128 adds). */
static __int128 big(int r, size_t i, size_t n) {
    const __int128 max = (__int128)(~(unsigned __int128)0 >> 1);
    if (i == n - 1) return r == 0 ? max : r == 1 ? 1 : 0;
    const __int128 hi = (__int128)1 << (90 + i % 11);
    return ((r + (int)i) % 3 == 1 ? -hi : hi) + (__int128)(2 * i + 1) * (r + 1);
}

static __int128 big_sum(int n_ranks, size_t i, size_t n) {
    unsigned __int128 acc = 0;
    for (int r = 0; r < n_ranks; r++) acc += (unsigned __int128)big(r, i, n);
    return (__int128)acc;
}

static void check_big(const __int128 *got, size_t off, size_t n, size_t total, const char *what) {
    for (size_t i = 0; i < n; i++) {
        const __int128 want = big_sum(g_mpi->size, off + i, total);
        if (got[i] != want)
            fail_msg("rank %d %s int128: element %zu is %.17g (high part), wanted %.17g", g_mpi->rank, what, off + i,
                     (double)got[i], (double)want);
    }
}

/* int128 sums are exact (a float or double sum of the same values would round) in every reduction. */
static void test_mpi_int128_exact(void **state) {
    fp8lab_comm *c = g_mpi;
    const size_t n = (size_t)c->size * MPI_N;
    __int128 *a = malloc(n * 16), *b = malloc(n * 16);
    assert_true(a && b);
    for (size_t i = 0; i < n; i++) a[i] = big(c->rank, i, n);
    assert_int_equal(fp8lab_all_reduce(c, a, b, n, FP8LAB_CDT_I128, FP8LAB_RED_SUM), 0);
    check_big(b, 0, n, n, "all_reduce");
    assert_true(b[n - 1] == (__int128)((unsigned __int128)1 << 127) || c->size == 1); /* wrapped */
    fp8lab_comm_req *req = NULL;
    assert_int_equal(fp8lab_all_reduce_start(c, a, a, n, FP8LAB_CDT_I128, FP8LAB_RED_SUM, &req), 0);
    assert_int_equal(fp8lab_comm_wait(c, req), 0);
    check_big(a, 0, n, n, "all_reduce_start in place");
    for (size_t i = 0; i < n; i++) a[i] = big(c->rank, i, n);
    assert_int_equal(fp8lab_reduce_scatter(c, a, b, MPI_N, FP8LAB_CDT_I128, FP8LAB_RED_SUM), 0);
    check_big(b, (size_t)c->rank * MPI_N, MPI_N, n, "reduce_scatter");
    /* MAX is refused on every rank alike, so none is left waiting */
    fp8lab_clear_error();
    assert_int_equal(fp8lab_all_reduce(c, a, b, n, FP8LAB_CDT_I128, FP8LAB_RED_MAX), -1);
    expect_error("max is not supported");
    assert_int_equal(fp8lab_barrier(c), 0);
    free(a);
    free(b);
}

/* Several non-blocking all-reduces in flight at once (different dtypes, in place and not, a blocking collective
   between start and wait), polled with test until each is done, then waited for in another order. */
static void test_mpi_all_reduce_start(void **state) {
    fp8lab_comm *c = g_mpi;
    enum { K = 4 };
    const fp8lab_comm_dtype dts[K] = {FP8LAB_CDT_F32, FP8LAB_CDT_BF16, FP8LAB_CDT_I64, FP8LAB_CDT_F64};
    const fp8lab_redop ops[K] = {FP8LAB_RED_SUM, FP8LAB_RED_MAX, FP8LAB_RED_SUM, FP8LAB_RED_MAX};
    const size_t n = (size_t)c->size * MPI_N * 50; /* large enough to take several rounds */
    void *in[K], *out[K];
    fp8lab_comm_req *req[K];
    for (int k = 0; k < K; k++) {
        in[k] = malloc(n * 8);
        out[k] = k % 2 ? in[k] : malloc(n * 8);
        assert_true(in[k] && out[k]);
        for (size_t i = 0; i < n; i++) set_val(dts[k], in[k], i, in_val(dts[k], c->rank, i));
        assert_int_equal(fp8lab_all_reduce_start(c, in[k], out[k], n, dts[k], ops[k], &req[k]), 0);
        assert_non_null(req[k]);
    }
    int64_t one = 1;
    assert_int_equal(fp8lab_all_reduce(c, &one, &one, 1, FP8LAB_CDT_I64, FP8LAB_RED_SUM), 0);
    assert_int_equal(one, c->size);
    for (int done = 0, polls = 0; !done; polls++) {
        assert_true(polls < 10000000);
        assert_int_equal(fp8lab_comm_test(c, req[0], &done), 0);
    }
    for (int k = K - 1; k >= 0; k--) {
        assert_int_equal(fp8lab_comm_wait(c, req[k]), 0);
        want_ctx w = {dts[k], ops[k], 0};
        check_vals(dts[k], out[k], n, want_reduced, &w, "all_reduce_start");
        if (out[k] != in[k]) free(out[k]);
        free(in[k]);
    }
    assert_int_equal(fp8lab_all_reduce_start(c, NULL, NULL, 0, FP8LAB_CDT_F32, FP8LAB_RED_SUM, &req[0]), 0);
    assert_null(req[0]);
}

/* FP8LAB_TEST_COMM_HANG=before|inside (tests/cli_mpi_hang.sh, with FP8LAB_COMM_TIMEOUT set): after three barriers
   rank 1 hangs before all-reduce #4 or after starting it, and the other ranks, waiting in it, must end the job
   naming rank 1 (as not having reached #4, last seen in #3; or as silent in it). Returns only on failure. */
static int hang_mode(const char *how) {
    fp8lab_comm *c = fp8lab_comm_from_env();
    if (!c) return fprintf(stderr, "from_env: %s\n", fp8lab_last_error()), 1;
    const size_t n = 1 << 20; /* several rounds and fragments: rank 1's part cannot all leave at the start */
    float *buf = calloc(n, sizeof *buf);
    for (int i = 0; i < 3 && buf; i++)
        if (fp8lab_barrier(c)) return fprintf(stderr, "barrier: %s\n", fp8lab_last_error()), 1;
    fp8lab_comm_req *req = NULL;
    if (c->rank == 1 && !strcmp(how, "inside") &&
        fp8lab_all_reduce_start(c, buf, buf, n, FP8LAB_CDT_F32, FP8LAB_RED_SUM, &req))
        return fprintf(stderr, "start: %s\n", fp8lab_last_error()), 1;
    if (c->rank == 1)
        for (;;) pause(); /* hung: mpirun's abort ends it */
    fp8lab_all_reduce(c, buf, buf, n, FP8LAB_CDT_F32, FP8LAB_RED_SUM);
    fprintf(stderr, "rank %d: all_reduce #4 returned: %s\n", c->rank, fp8lab_last_error());
    return 1;
}

int main(void) {
    if (getenv("OMPI_COMM_WORLD_SIZE") && getenv("FP8LAB_TEST_COMM_HANG"))
        return hang_mode(getenv("FP8LAB_TEST_COMM_HANG"));
    if (getenv("OMPI_COMM_WORLD_SIZE")) {
        const struct CMUnitTest mpi_tests[] = {
            cmocka_unit_test(test_mpi_all_reduce_and_reduce_scatter),
            cmocka_unit_test(test_mpi_gather_and_exchange),
            cmocka_unit_test(test_mpi_broadcast_barrier),
            cmocka_unit_test(test_mpi_refuses_large_count),
            cmocka_unit_test(test_mpi_int128_exact),
            cmocka_unit_test(test_mpi_all_reduce_start),
        };
        return cmocka_run_group_tests_name("comm_mpi", mpi_tests, mpi_setup, mpi_teardown);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dtypes),         cmocka_unit_test(test_single_results),
        cmocka_unit_test(test_single_start),   cmocka_unit_test(test_from_env),
        cmocka_unit_test(test_refusals),       cmocka_unit_test(test_start_refusals),
        cmocka_unit_test(test_layouts_passed), cmocka_unit_test(test_start_passed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
