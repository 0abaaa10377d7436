/* train/dp.h and the data-parallel trainer, in one process: each rank of an N-rank job is played by a trainer
   on a stand-in communicator of rank r, size N whose all-reduce returns the rank's own values (no other rank to
   add), so what one rank computes can be read alone and the ranks' shares added here, against a 1-rank trainer at
   N times the batch (fp32 recipe, CPU backend, a tiny GPT-2 on generated text):
     - the first step's loss: each rank reports the mean over its own slice (the loss sum and the positions are
       all-reduced, and here nobody else's are added), and their mean is the 1-rank loss (1e-6 relative: the same
       rows, summed in another order), so rank r trains on rows [rB, (r+1)B) of the global batch;
     - validation over the whole split, whose row count the global batch does not divide: the ranks' positions
       add up to the 1-rank count exactly and their loss sums to its loss sum (1e-6 relative), with the last,
       short batch giving one rank a partial slice and the last rank none;
     - the helpers on a NULL and on the single-process communicator: sums and flags unchanged, weights identical,
       the CRC that of the parameter bytes. */
#define _GNU_SOURCE
#include <ftw.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "core/error.h"
#include "data/build.h"
#include "io/crc32c.h"
#include "train/dp.h"
#include "train/loop.h"

#include "train_fixture.h"

static int setup(void **st) {
    (void)st;
    return fixture_setup("fp8lab_train_dp_", 40000, 777);
}

static void cfg_for(fp8lab_train_cfg *c, int batch) {
    fp8lab_train_cfg_default(c);
    c->model = fixture_at("tiny.json");
    c->data = fixture_at("data/data_train_*.bin");
    c->val_data = fixture_at("data/data_val_*.bin");
    c->device = "cpu";
    c->recipe = "fp32";
    c->out = fixture_at("out");
    c->steps = 4;
    c->batch = batch;
    c->seq = 32;
    c->warmup = 1;
    c->val_every = 0;
    c->val_batches = 0; /* the whole split */
    c->sample_every = 0;
    c->checkpoint_every = 0;
}

/* ---- the stand-in communicator: rank r of n, alone ------------------------------------------------------------ */

static int own_all_reduce(fp8lab_comm *c, const void *send, void *recv, size_t count, fp8lab_comm_dtype dt,
                          fp8lab_redop op) {
    (void)c, (void)op;
    if (send != recv) memmove(recv, send, count * fp8lab_comm_dtype_size(dt));
    return 0;
}

static const fp8lab_comm_ops OWN_OPS = {.all_reduce = own_all_reduce};

static fp8lab_comm own_rank(int r, int n) {
    return (fp8lab_comm){.name = "own", .rank = r, .size = n, .ops = &OWN_OPS};
}

static fp8lab_trainer *make(const fp8lab_train_cfg *c, fp8lab_comm *comm) {
    fp8lab_trainer *t = comm ? fp8lab_trainer_create_dp(c, comm) : fp8lab_trainer_create(c);
    if (!t) fail_msg("trainer: %s", fp8lab_last_error());
    return t;
}

static void assert_rel(double got, double want, double tol, const char *what) {
    if (!(fabs(got - want) <= tol * fabs(want)))
        fail_msg("%s: %.9g, wanted %.9g (tolerance %g relative)", what, got, want, tol);
}

enum { RANKS = 4, B = 2 };

static void first_step_slices(void **st) {
    (void)st;
    fp8lab_train_cfg c;
    cfg_for(&c, RANKS * B);
    fp8lab_trainer *one = make(&c, NULL);
    fp8lab_step_metrics m1;
    if (fp8lab_trainer_step(one, &m1)) fail_msg("step: %s", fp8lab_last_error());
    fp8lab_trainer_destroy(one);
    cfg_for(&c, B);
    double sum = 0, shares[RANKS];
    for (int r = 0; r < RANKS; r++) {
        fp8lab_comm comm = own_rank(r, RANKS);
        fp8lab_trainer *t = make(&c, &comm);
        fp8lab_step_metrics m;
        if (fp8lab_trainer_step(t, &m)) fail_msg("rank %d step: %s", r, fp8lab_last_error());
        shares[r] = m.loss; /* this rank's own mean: the all-reduce added nobody else's */
        sum += m.loss / RANKS;
        fp8lab_trainer_destroy(t);
    }
    assert_rel(sum, m1.loss, 1e-6, "the mean of the ranks' first-step losses");
    /* the ranks saw different rows: equal shares would mean one slice read by every rank */
    assert_true(shares[0] != shares[1] || shares[1] != shares[2] || shares[2] != shares[3]);
}

static void validation_slices(void **st) {
    (void)st;
    fp8lab_train_cfg c;
    cfg_for(&c, RANKS * B);
    fp8lab_trainer *one = make(&c, NULL);
    double loss1 = 0;
    int64_t tok1 = 0;
    if (fp8lab_trainer_val_loss(one, &loss1, &tok1)) fail_msg("val: %s", fp8lab_last_error());
    fp8lab_trainer_destroy(one);
    const int64_t rows = tok1 / c.seq;
    assert_true(rows > RANKS * B);
    /* the last batch: one rank short of rows and the last one without any */
    const int64_t rest = rows % (RANKS * B);
    if (rest % B == 0 || rest > (RANKS - 1) * B)
        fail_msg("the validation split has %lld rows: pick data whose last batch gives a rank fewer than %d rows and "
                 "the last rank none",
                 (long long)rows, B);
    cfg_for(&c, B);
    double sum = 0;
    int64_t tok = 0;
    for (int r = 0; r < RANKS; r++) {
        fp8lab_comm comm = own_rank(r, RANKS);
        fp8lab_trainer *t = make(&c, &comm);
        double l = 0;
        int64_t n = 0;
        if (fp8lab_trainer_val_loss(t, &l, &n)) fail_msg("rank %d val: %s", r, fp8lab_last_error());
        sum += l * (double)n;
        tok += n;
        fp8lab_trainer_destroy(t);
    }
    assert_int_equal(tok, tok1);
    assert_rel(sum / (double)tok, loss1, 1e-6, "the ranks' validation loss sums over their positions");
}

static void helpers_alone(void **st) {
    (void)st;
    fp8lab_train_cfg c;
    cfg_for(&c, B);
    fp8lab_trainer *t = make(&c, NULL);
    fp8lab_comm *single = fp8lab_comm_single();
    assert_non_null(single);
    fp8lab_comm *comms[] = {NULL, single};
    for (int i = 0; i < 2; i++) {
        fp8lab_comm *cm = comms[i];
        assert_int_equal(fp8lab_dp_rank(cm), 0);
        assert_int_equal(fp8lab_dp_size(cm), 1);
        double v[2] = {1.5, -2.25};
        assert_int_equal(fp8lab_dp_sum(cm, v, 2), 0);
        assert_true(v[0] == 1.5 && v[1] == -2.25);
        assert_int_equal(fp8lab_dp_any(cm, 0), 0);
        assert_int_equal(fp8lab_dp_any(cm, 7), 1);
        assert_int_equal(fp8lab_dp_sum_grads(cm, t->g, t->be), 0);
        int same = 0;
        uint32_t crc = 0;
        assert_int_equal(fp8lab_dp_weights_identical(cm, t->g, t->be, &same, &crc), 0);
        assert_int_equal(same, 1);
        /* the CPU backend's device buffers are host memory */
        const size_t bytes = sizeof(float) * (size_t)fp8lab_gpt_buffer_floats(t->g);
        assert_int_equal(crc, fp8lab_crc32c(0, fp8lab_gpt_params(t->g), bytes));
    }
    fp8lab_comm_destroy(single);
    fp8lab_trainer_destroy(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(first_step_slices),
        cmocka_unit_test(validation_slices),
        cmocka_unit_test(helpers_alone),
    };
    return cmocka_run_group_tests(tests, setup, fixture_teardown);
}
