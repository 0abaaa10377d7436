/* The launcher's environment (csrc/dist/launch.c): each launcher's variables, explicit FP8LAB_* settings, bad
   values named with their variable (exit status 2), and two launchers that disagree. */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/error.h"
#include "dist/launch.h"

static const char *VARS[] = {"FP8LAB_RANK",  "FP8LAB_WORLD_SIZE", "FP8LAB_LOCAL_RANK", "OMPI_COMM_WORLD_RANK",
                             "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_PROCID",
                             "SLURM_NTASKS", "SLURM_LOCALID"};

/* ctest may itself run under srun or mpirun: start every test from a clean environment */
static int clear_env(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof VARS / sizeof VARS[0]; i++) unsetenv(VARS[i]);
    fp8lab_clear_error();
    return 0;
}

static void set3(const char *r, const char *rv, const char *s, const char *sv, const char *l, const char *lv) {
    setenv(r, rv, 1);
    setenv(s, sv, 1);
    if (l) setenv(l, lv, 1);
}

static void expect_launch(int rank, int size, int local, const char *launcher) {
    fp8lab_launch l;
    if (fp8lab_launch_from_env(&l)) fail_msg("refused: %s", fp8lab_last_error());
    assert_int_equal(l.rank, rank);
    assert_int_equal(l.size, size);
    assert_int_equal(l.local_rank, local);
    assert_string_equal(l.launcher, launcher);
}

/* refused with exit status 2 and every part in the message */
static void expect_refused(const char *a, const char *b, const char *c) {
    fp8lab_launch l = {.rank = -7};
    assert_int_equal(fp8lab_launch_from_env(&l), -1);
    assert_int_equal(l.rank, -7); /* untouched */
    assert_int_equal(fp8lab_last_error_exit(), FP8LAB_EXIT_USAGE);
    const char *parts[] = {a, b, c};
    for (int i = 0; i < 3; i++)
        if (parts[i] && !strstr(fp8lab_last_error(), parts[i]))
            fail_msg("error '%s' does not name '%s'", fp8lab_last_error(), parts[i]);
}

static void test_none(void **state) {
    (void)state;
    expect_launch(0, 1, 0, "none");
}

static void test_mpirun(void **state) {
    (void)state;
    set3("OMPI_COMM_WORLD_RANK", "2", "OMPI_COMM_WORLD_SIZE", "4", "OMPI_COMM_WORLD_LOCAL_RANK", "1");
    expect_launch(2, 4, 1, "mpirun");
}

static void test_srun(void **state) {
    (void)state;
    set3("SLURM_PROCID", "7", "SLURM_NTASKS", "16", "SLURM_LOCALID", "3");
    expect_launch(7, 16, 3, "srun");
}

static void test_explicit(void **state) {
    (void)state;
    set3("FP8LAB_RANK", "1", "FP8LAB_WORLD_SIZE", "2", NULL, NULL);
    expect_launch(1, 2, 1, "env"); /* no local rank: one node, so it is the rank */
    setenv("FP8LAB_LOCAL_RANK", "0", 1);
    expect_launch(1, 2, 0, "env");
}

/* srun starting Open MPI ranks sets both; when they agree the first (mpirun) names the launcher */
static void test_agreeing_launchers(void **state) {
    (void)state;
    set3("OMPI_COMM_WORLD_RANK", "3", "OMPI_COMM_WORLD_SIZE", "4", "OMPI_COMM_WORLD_LOCAL_RANK", "1");
    set3("SLURM_PROCID", "3", "SLURM_NTASKS", "4", "SLURM_LOCALID", "1");
    expect_launch(3, 4, 1, "mpirun");
    set3("FP8LAB_RANK", "3", "FP8LAB_WORLD_SIZE", "4", "FP8LAB_LOCAL_RANK", "1");
    expect_launch(3, 4, 1, "env");
}

static void test_bad_values(void **state) {
    (void)state;
    static const struct {
        const char *var, *value;
    } BAD[] = {
        {"OMPI_COMM_WORLD_RANK", "1.5"}, {"OMPI_COMM_WORLD_RANK", "-1"},   {"OMPI_COMM_WORLD_SIZE", "4.0"},
        {"OMPI_COMM_WORLD_SIZE", "+4"},  {"OMPI_COMM_WORLD_SIZE", " 4"},   {"OMPI_COMM_WORLD_SIZE", "4 "},
        {"OMPI_COMM_WORLD_SIZE", "1e2"}, {"OMPI_COMM_WORLD_SIZE", "0x10"}, {"OMPI_COMM_WORLD_SIZE", "four"},
        {"OMPI_COMM_WORLD_SIZE", "99999999999999999999"}, {"OMPI_COMM_WORLD_SIZE", "2147483648"},
        {"OMPI_COMM_WORLD_LOCAL_RANK", "x"},
    };
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        clear_env(NULL);
        set3("OMPI_COMM_WORLD_RANK", "0", "OMPI_COMM_WORLD_SIZE", "4", "OMPI_COMM_WORLD_LOCAL_RANK", "0");
        setenv(BAD[i].var, BAD[i].value, 1);
        expect_refused(BAD[i].var, BAD[i].value, NULL);
    }
    clear_env(NULL);
    set3("SLURM_PROCID", "", "SLURM_NTASKS", "4", NULL, NULL);
    expect_refused("SLURM_PROCID", "empty", NULL);
}

static void test_out_of_range(void **state) {
    (void)state;
    set3("FP8LAB_RANK", "4", "FP8LAB_WORLD_SIZE", "4", NULL, NULL);
    expect_refused("FP8LAB_RANK=4", "FP8LAB_WORLD_SIZE=4", NULL);
    clear_env(NULL);
    set3("FP8LAB_RANK", "0", "FP8LAB_WORLD_SIZE", "0", NULL, NULL);
    expect_refused("FP8LAB_WORLD_SIZE=0", "at least one rank", NULL);
    clear_env(NULL);
    set3("SLURM_PROCID", "1", "SLURM_NTASKS", "2", "SLURM_LOCALID", "2");
    expect_refused("SLURM_LOCALID=2", "SLURM_NTASKS=2", NULL);
}

static void test_half_set(void **state) {
    (void)state;
    setenv("SLURM_NTASKS", "4", 1);
    expect_refused("SLURM_NTASKS", "SLURM_PROCID", NULL);
    clear_env(NULL);
    setenv("FP8LAB_RANK", "1", 1);
    expect_refused("FP8LAB_RANK", "FP8LAB_WORLD_SIZE", NULL);
}

static void test_mismatch(void **state) {
    (void)state;
    set3("SLURM_PROCID", "0", "SLURM_NTASKS", "4", NULL, NULL);
    set3("OMPI_COMM_WORLD_RANK", "0", "OMPI_COMM_WORLD_SIZE", "2", NULL, NULL);
    expect_refused("mismatched world size", "OMPI_COMM_WORLD_SIZE=2", "SLURM_NTASKS=4");
    clear_env(NULL);
    set3("FP8LAB_RANK", "1", "FP8LAB_WORLD_SIZE", "2", NULL, NULL);
    set3("SLURM_PROCID", "0", "SLURM_NTASKS", "2", NULL, NULL);
    expect_refused("mismatched rank", "FP8LAB_RANK=1", "SLURM_PROCID=0");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_none, clear_env),
        cmocka_unit_test_setup(test_mpirun, clear_env),
        cmocka_unit_test_setup(test_srun, clear_env),
        cmocka_unit_test_setup(test_explicit, clear_env),
        cmocka_unit_test_setup(test_agreeing_launchers, clear_env),
        cmocka_unit_test_setup(test_bad_values, clear_env),
        cmocka_unit_test_setup(test_out_of_range, clear_env),
        cmocka_unit_test_setup(test_half_set, clear_env),
        cmocka_unit_test_setup(test_mismatch, clear_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
