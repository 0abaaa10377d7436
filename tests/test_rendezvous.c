/* Rendezvous without MPI (csrc/dist/rendezvous.c): rank 0 and three forked ranks exchange a blob through a file
   and through TCP and all end with rank 0's bytes; a missing file, a stale file from another job, a mismatched
   world size, a duplicate rank and a bad setting are refused with messages that name them. Timeouts here are
   fractions of a second, so the whole test takes about two seconds. */
#define _POSIX_C_SOURCE 200809L /* setenv, mkdtemp */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/error.h"
#include "dist/rendezvous.h"

enum { B = FP8LAB_RDV_BLOB_BYTES, CHILD_REFUSED = 12 /* 10 + exit status 2 */, CHILD_WRONG = 3 };

static char g_dir[64];

static void expect_error(const char *part) {
    if (!strstr(fp8lab_last_error(), part)) fail_msg("error '%s' does not contain '%s'", fp8lab_last_error(), part);
}

static void pattern(unsigned char *blob, unsigned seed) {
    for (int i = 0; i < B; i++) blob[i] = (unsigned char)(seed * 131u + (unsigned)i * 7u);
}

static int setup(void **state) {
    (void)state;
    unsetenv("SLURM_JOB_ID");
    unsetenv("SLURM_STEP_ID");
    setenv("FP8LAB_JOB_ID", "job-1", 1);
    setenv("FP8LAB_RENDEZVOUS_TIMEOUT", "5", 1);
    fp8lab_clear_error();
    return 0;
}

/* A forked rank: exit 0 with rank 0's bytes, CHILD_WRONG with others, 10 + exit status when refused. */
static pid_t spawn(const char *spec, int rank, int size, const unsigned char *expect) {
    fflush(NULL);
    const pid_t pid = fork();
    if (pid != 0) return pid;
    const fp8lab_launch l = {.rank = rank, .size = size, .local_rank = rank, .launcher = "env"};
    unsigned char blob[B] = {0};
    if (fp8lab_rendezvous_at(spec, &l, blob)) {
        fprintf(stderr, "rank %d: %s\n", rank, fp8lab_last_error());
        _exit(10 + fp8lab_last_error_exit());
    }
    _exit(memcmp(blob, expect, B) ? CHILD_WRONG : 0);
}

static int child_status(pid_t pid) {
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 100 + WTERMSIG(st);
}

static const fp8lab_launch RANK0_OF_4 = {.rank = 0, .size = 4, .local_rank = 0, .launcher = "env"};

/* 1 + 3 ranks; the others start first, so they really wait for rank 0 */
static void exchange(const char *spec) {
    unsigned char blob[B];
    pattern(blob, 5);
    pid_t kids[3];
    for (int r = 1; r <= 3; r++) kids[r - 1] = spawn(spec, r, 4, blob);
    nanosleep(&(struct timespec){.tv_nsec = 100 * 1000 * 1000}, NULL);
    if (fp8lab_rendezvous_at(spec, &RANK0_OF_4, blob)) fail_msg("rank 0: %s", fp8lab_last_error());
    for (int r = 1; r <= 3; r++) assert_int_equal(child_status(kids[r - 1]), 0);
}

static void file_spec(char *spec, size_t n, const char *name) { snprintf(spec, n, "file:%s/%s", g_dir, name); }

static int free_port(void) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static void tcp_spec(char *spec, size_t n) { snprintf(spec, n, "tcp:127.0.0.1:%d", free_port()); }

static void test_file_exchange(void **state) {
    (void)state;
    char spec[128];
    file_spec(spec, sizeof spec, "id-exchange");
    exchange(spec);
}

static void test_tcp_exchange(void **state) {
    (void)state;
    char spec[64];
    tcp_spec(spec, sizeof spec);
    exchange(spec);
}

static void test_one_rank_needs_nothing(void **state) {
    (void)state;
    const fp8lab_launch l = {.rank = 0, .size = 1, .launcher = "none"};
    unsigned char blob[B] = {1};
    assert_int_equal(fp8lab_rendezvous_at(NULL, &l, blob), 0);
    assert_int_equal(blob[0], 1);
}

static void test_file_missing(void **state) {
    (void)state;
    char spec[128];
    file_spec(spec, sizeof spec, "never-written");
    setenv("FP8LAB_RENDEZVOUS_TIMEOUT", "0.3", 1);
    const fp8lab_launch l = {.rank = 1, .size = 2, .local_rank = 1, .launcher = "env"};
    unsigned char blob[B];
    assert_int_equal(fp8lab_rendezvous_at(spec, &l, blob), -1);
    expect_error(spec + 5);
    expect_error("not written by rank 0 within 0.3 s");
    assert_int_equal(fp8lab_last_error_exit(), FP8LAB_EXIT_RUNTIME);
}

static void test_file_world_size_mismatch(void **state) {
    (void)state;
    char spec[128];
    file_spec(spec, sizeof spec, "id-size");
    unsigned char blob[B];
    pattern(blob, 9);
    assert_int_equal(fp8lab_rendezvous_at(spec, &RANK0_OF_4, blob), 0);
    const fp8lab_launch l = {.rank = 1, .size = 3, .local_rank = 1, .launcher = "env"};
    assert_int_equal(fp8lab_rendezvous_at(spec, &l, blob), -1);
    expect_error("mismatched world size");
    expect_error("for 4 ranks, rank 1 has 3");
    assert_int_equal(fp8lab_last_error_exit(), FP8LAB_EXIT_USAGE);
}

/* another job's file is waited past (rank 0 may replace it yet), then refused naming both jobs */
static void test_file_stale_job(void **state) {
    (void)state;
    char spec[128];
    file_spec(spec, sizeof spec, "id-stale");
    unsigned char blob[B];
    pattern(blob, 11);
    setenv("FP8LAB_JOB_ID", "old-job", 1);
    assert_int_equal(fp8lab_rendezvous_at(spec, &RANK0_OF_4, blob), 0);
    setenv("FP8LAB_JOB_ID", "new-job", 1);
    setenv("FP8LAB_RENDEZVOUS_TIMEOUT", "0.3", 1);
    const fp8lab_launch l = {.rank = 2, .size = 4, .local_rank = 2, .launcher = "env"};
    assert_int_equal(fp8lab_rendezvous_at(spec, &l, blob), -1);
    expect_error("written by job 'old-job', not this job 'new-job'");
    expect_error("stale");
    /* SLURM_JOB_ID, when set, is the job */
    setenv("SLURM_JOB_ID", "old-job", 1);
    assert_int_equal(fp8lab_rendezvous_at(spec, &l, blob), 0);
    /* ... and under srun its step too: another step's file is stale */
    setenv("SLURM_STEP_ID", "1", 1);
    assert_int_equal(fp8lab_rendezvous_at(spec, &l, blob), -1);
    expect_error("written by job 'old-job', not this job 'old-job.1'");
}

static void test_tcp_world_size_mismatch(void **state) {
    (void)state;
    char spec[64];
    tcp_spec(spec, sizeof spec);
    unsigned char blob[B];
    pattern(blob, 3);
    const pid_t kid = spawn(spec, 1, 3, blob);
    const fp8lab_launch l = {.rank = 0, .size = 2, .launcher = "env"};
    assert_int_equal(fp8lab_rendezvous_at(spec, &l, blob), -1);
    expect_error("mismatched world size: rank 1 says 3 ranks, rank 0 has 2");
    assert_int_equal(child_status(kid), CHILD_REFUSED);
}

static void test_tcp_duplicate_rank(void **state) {
    (void)state;
    char spec[64];
    tcp_spec(spec, sizeof spec);
    unsigned char blob[B];
    pattern(blob, 4);
    const pid_t a = spawn(spec, 1, 3, blob), b = spawn(spec, 1, 3, blob);
    const fp8lab_launch l = {.rank = 0, .size = 3, .launcher = "env"};
    assert_int_equal(fp8lab_rendezvous_at(spec, &l, blob), -1);
    expect_error("duplicate rank 1");
    const int sa = child_status(a), sb = child_status(b);
    assert_true((sa == 0 && sb == CHILD_REFUSED) || (sa == CHILD_REFUSED && sb == 0));
}

static void test_tcp_timeouts(void **state) {
    (void)state;
    char spec[64];
    tcp_spec(spec, sizeof spec);
    setenv("FP8LAB_RENDEZVOUS_TIMEOUT", "0.3", 1);
    unsigned char blob[B] = {0};
    const fp8lab_launch l0 = {.rank = 0, .size = 3, .launcher = "env"};
    assert_int_equal(fp8lab_rendezvous_at(spec, &l0, blob), -1);
    expect_error("2 of 2 ranks did not connect to rank 0 within 0.3 s");
    const fp8lab_launch l1 = {.rank = 1, .size = 3, .local_rank = 1, .launcher = "env"};
    assert_int_equal(fp8lab_rendezvous_at(spec, &l1, blob), -1);
    expect_error("rank 0 did not accept a connection within 0.3 s");
}

static void test_bad_settings(void **state) {
    (void)state;
    const fp8lab_launch l = {.rank = 1, .size = 2, .local_rank = 1, .launcher = "env"};
    unsigned char blob[B];
    const char *bad[] = {"tcp:localhost", "tcp::5000", "tcp:localhost:0", "tcp:localhost:65536", "tcp:h:12ab",
                         "udp:h:1", "file:", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(fp8lab_rendezvous_at(bad[i], &l, blob), -1);
        expect_error(bad[i]);
        assert_int_equal(fp8lab_last_error_exit(), FP8LAB_EXIT_USAGE);
    }
    assert_int_equal(fp8lab_rendezvous_at(NULL, &l, blob), -1);
    expect_error("file:/shared/path or tcp:host:port");
    setenv("FP8LAB_RENDEZVOUS_TIMEOUT", "soon", 1);
    assert_int_equal(fp8lab_rendezvous_at("file:/tmp/x", &l, blob), -1);
    expect_error("FP8LAB_RENDEZVOUS_TIMEOUT='soon'");
    setenv("FP8LAB_RENDEZVOUS_TIMEOUT", "1", 1);
    setenv("FP8LAB_JOB_ID", "two words", 1);
    assert_int_equal(fp8lab_rendezvous_at("file:/tmp/x", &l, blob), -1);
    expect_error("FP8LAB_JOB_ID='two words'");
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/fp8lab-rdv-XXXXXX");
    if (!mkdtemp(g_dir)) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_file_exchange, setup),
        cmocka_unit_test_setup(test_tcp_exchange, setup),
        cmocka_unit_test_setup(test_one_rank_needs_nothing, setup),
        cmocka_unit_test_setup(test_file_missing, setup),
        cmocka_unit_test_setup(test_file_world_size_mismatch, setup),
        cmocka_unit_test_setup(test_file_stale_job, setup),
        cmocka_unit_test_setup(test_tcp_world_size_mismatch, setup),
        cmocka_unit_test_setup(test_tcp_duplicate_rank, setup),
        cmocka_unit_test_setup(test_tcp_timeouts, setup),
        cmocka_unit_test_setup(test_bad_settings, setup),
    };
    const int rc = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_dir);
    return rc;
}
