/* The deferred communicator (dist/comm_deferred.h) of a job started without MPI, in one process on the CPU
   backend:
     - before a device communicator is attached, every collective fails naming the rank, the collective and the
       way out (NCCL on --device cuda, or an MPI launch); attaching one of another rank or size is refused;
     - attached to a stand-in device communicator (rank 1 of 3, whose ranks all hold this rank's inputs, so a sum
       is 3x the input and a gather repeats it), each collective on host buffers comes back staged through
       backend memory with the stand-in's results, in place and out of place, every dtype's bytes intact;
     - fp8lab_comm_from_env: FP8LAB_RANK/FP8LAB_WORLD_SIZE or Slurm's variables without MPI give the deferred
       communicator with their rank and size; one rank gives the single-process one; bad values are refused
       naming the variable. */
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
#include "dist/comm_deferred.h"

enum { N = 3, ME = 1 };
static int g_barriers;

/* the stand-in device communicator: rank ME of N, every rank with the same inputs (floats) */
static int s_all_reduce(fp8lab_comm *c, const void *send, void *recv, size_t n, fp8lab_comm_dtype dt, fp8lab_redop op) {
    const float *s = send;
    float *r = recv;
    for (size_t i = 0; i < n; i++) r[i] = op == FP8LAB_RED_SUM ? N * s[i] : s[i];
    return 0;
}
static int s_reduce_scatter(fp8lab_comm *c, const void *send, void *recv, size_t n, fp8lab_comm_dtype dt,
                            fp8lab_redop op) {
    const float *s = (const float *)send + (size_t)ME * n;
    float tmp[64];
    for (size_t i = 0; i < n; i++) tmp[i] = N * s[i];
    memcpy(recv, tmp, n * sizeof(float));
    return 0;
}
static int s_all_gather(fp8lab_comm *c, const void *send, void *recv, size_t n, fp8lab_comm_dtype dt) {
    float tmp[64];
    memcpy(tmp, send, n * sizeof(float));
    for (int r = 0; r < N; r++) memcpy((float *)recv + (size_t)r * n, tmp, n * sizeof(float));
    return 0;
}
static int s_all_to_all(fp8lab_comm *c, const void *send, void *recv, size_t n, fp8lab_comm_dtype dt) {
    float tmp[64]; /* block r of recv: rank r's block ME, which is this rank's block ME */
    memcpy(tmp, (const float *)send + (size_t)ME * n, n * sizeof(float));
    for (int r = 0; r < N; r++) memcpy((float *)recv + (size_t)r * n, tmp, n * sizeof(float));
    return 0;
}
static int s_broadcast(fp8lab_comm *c, void *buf, size_t n, fp8lab_comm_dtype dt, int root) {
    float *b = buf;
    for (size_t i = 0; i < n; i++) b[i] = 100.0f + (float)root; /* root's value, different from ours */
    return 0;
}
static int s_barrier(fp8lab_comm *c) {
    g_barriers++;
    return 0;
}
static const fp8lab_comm_ops STANDIN = {.all_reduce = s_all_reduce, .reduce_scatter = s_reduce_scatter,
                                        .all_gather = s_all_gather, .broadcast = s_broadcast,
                                        .all_to_all = s_all_to_all, .barrier = s_barrier};

static void expect_error(const char *part) {
    const char *e = fp8lab_last_error();
    if (!strstr(e, part)) fail_msg("error '%s' does not contain '%s'", e, part);
}

static void before_attach(void **st) {
    (void)st;
    const fp8lab_launch l = {.rank = ME, .size = N, .local_rank = ME, .launcher = "srun"};
    fp8lab_comm *c = fp8lab_comm_deferred(&l);
    assert_non_null(c);
    assert_int_equal(fp8lab_comm_is_deferred(c), 1);
    assert_int_equal(c->rank, ME);
    assert_int_equal(c->size, N);
    float x[6] = {0};
    assert_int_equal(fp8lab_all_reduce(c, x, x, 2, FP8LAB_CDT_F32, FP8LAB_RED_SUM), -1);
    expect_error("rank 1/3 all_reduce: this job was started by srun without MPI");
    expect_error("--device cuda");
    assert_int_equal(fp8lab_barrier(c), -1);
    expect_error("barrier");
    fp8lab_comm other = {.name = "standin", .rank = 0, .size = N, .ops = &STANDIN};
    assert_int_equal(fp8lab_comm_attach(c, &other, NULL), -1);
    expect_error("rank 0/3 to rank 1/3");
    fp8lab_comm_destroy(c);
}

static void staged_results(void **st) {
    (void)st;
    fp8lab_backend *be = fp8lab_backend_create("cpu");
    assert_non_null(be);
    const fp8lab_launch l = {.rank = ME, .size = N, .local_rank = ME, .launcher = "env"};
    fp8lab_comm *c = fp8lab_comm_deferred(&l);
    fp8lab_comm dev = {.name = "standin", .rank = ME, .size = N, .ops = &STANDIN};
    assert_int_equal(fp8lab_comm_attach(c, &dev, be), 0);
    assert_string_equal(c->name, "nccl (staged)");
    enum { K = 4 };
    float in[N * K], out[N * K];
    for (int i = 0; i < N * K; i++) in[i] = (float)(i + 1);
    /* all_reduce, out of place and in place */
    assert_int_equal(fp8lab_all_reduce(c, in, out, K, FP8LAB_CDT_F32, FP8LAB_RED_SUM), 0);
    for (int i = 0; i < K; i++) assert_true(out[i] == 3.0f * in[i]);
    memcpy(out, in, sizeof in);
    assert_int_equal(fp8lab_all_reduce(c, out, out, K, FP8LAB_CDT_F32, FP8LAB_RED_SUM), 0);
    for (int i = 0; i < K; i++) assert_true(out[i] == 3.0f * in[i]);
    /* reduce_scatter in place: this rank's block lands at rank x K */
    memcpy(out, in, sizeof in);
    assert_int_equal(fp8lab_reduce_scatter(c, out, out + ME * K, K, FP8LAB_CDT_F32, FP8LAB_RED_SUM), 0);
    for (int i = 0; i < K; i++) assert_true(out[ME * K + i] == 3.0f * in[ME * K + i]);
    /* all_gather in place: send is this rank's block inside recv */
    memset(out, 0, sizeof out);
    memcpy(out + ME * K, in, K * sizeof(float));
    assert_int_equal(fp8lab_all_gather(c, out + ME * K, out, K, FP8LAB_CDT_F32), 0);
    for (int r = 0; r < N; r++)
        for (int i = 0; i < K; i++) assert_true(out[r * K + i] == in[i]);
    /* all_to_all out of place */
    assert_int_equal(fp8lab_all_to_all(c, in, out, K, FP8LAB_CDT_F32), 0);
    for (int r = 0; r < N; r++)
        for (int i = 0; i < K; i++) assert_true(out[r * K + i] == in[ME * K + i]);
    /* broadcast: root's values arrive */
    memcpy(out, in, sizeof in);
    assert_int_equal(fp8lab_broadcast(c, out, K, FP8LAB_CDT_F32, 2), 0);
    for (int i = 0; i < K; i++) assert_true(out[i] == 102.0f);
    g_barriers = 0;
    assert_int_equal(fp8lab_barrier(c), 0);
    assert_int_equal(g_barriers, 1);
    fp8lab_comm_destroy(c);
    fp8lab_backend_destroy(be);
}

static void clear_env(void) {
    const char *vars[] = {"FP8LAB_RANK", "FP8LAB_WORLD_SIZE", "FP8LAB_LOCAL_RANK", "SLURM_PROCID", "SLURM_NTASKS",
                          "SLURM_LOCALID", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE",
                          "OMPI_COMM_WORLD_LOCAL_RANK", "PMIX_RANK"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) unsetenv(vars[i]);
}

static void from_env(void **st) {
    (void)st;
    clear_env();
    setenv("FP8LAB_RANK", "2", 1);
    setenv("FP8LAB_WORLD_SIZE", "4", 1);
    fp8lab_comm *c = fp8lab_comm_from_env();
    assert_non_null(c);
    assert_int_equal(fp8lab_comm_is_deferred(c), 1);
    assert_int_equal(c->rank, 2);
    assert_int_equal(c->size, 4);
    fp8lab_comm_destroy(c);
    clear_env();
    setenv("SLURM_PROCID", "1", 1);
    setenv("SLURM_NTASKS", "2", 1);
    setenv("SLURM_LOCALID", "1", 1);
    c = fp8lab_comm_from_env();
    assert_non_null(c);
    assert_int_equal(fp8lab_comm_is_deferred(c), 1);
    assert_int_equal(c->rank, 1);
    fp8lab_comm_destroy(c);
    clear_env();
    setenv("SLURM_PROCID", "0", 1);
    setenv("SLURM_NTASKS", "1", 1);
    c = fp8lab_comm_from_env();
    assert_non_null(c);
    assert_string_equal(c->name, "single");
    fp8lab_comm_destroy(c);
    clear_env();
    setenv("FP8LAB_RANK", "1.5", 1);
    setenv("FP8LAB_WORLD_SIZE", "4", 1);
    assert_null(fp8lab_comm_from_env());
    expect_error("FP8LAB_RANK");
    clear_env();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(before_attach),
        cmocka_unit_test(staged_results),
        cmocka_unit_test(from_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
