/* The MPI communicator: one process per rank, buffers in host memory (the CPU backend's device memory). Every
   MPI call returns its error code (MPI_ERRORS_RETURN on our communicators) and a failure is reported naming the
   rank, the collective and MPI's message.

   No silent hang: every collective, blocking ones too, is started non-blocking (MPI_I*) and completed by a
   polling loop with a deadline (FP8LAB_COMM_TIMEOUT seconds, default 300). MPI alone cannot say which rank is
   missing, so the ranks keep each other informed on a second duplicate of the communicator: a rank in collective
   number k sends k to every peer (one tiny message each, at most one in flight per peer: newer numbers supersede
   older ones), and it keeps one receive posted per peer. A collective that completes tells as much for free (all
   ranks entered it; a broadcast: its root), so a blocking collective sends its number only once it has waited
   ANNOUNCE_S: the messages cost microseconds, which small collectives would feel (fp8lab bench comm), and a
   rank stopped within ANNOUNCE_S of entering is still named, as one that has not reached the collective. While
   a rank waits longer it repeats its number now and then (a heartbeat), so a peer that reached the collective
   and then stopped answering can be told from one still waiting. On the deadline the rank prints who is missing
   and calls MPI_Abort, which makes mpirun end the job. */
#ifdef FP8LAB_HAVE_MPI
#define _POSIX_C_SOURCE 200809L /* clock_gettime, nanosleep */
#include "dist/comm_mpi.h"

#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <mpi.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"

typedef struct {
    MPI_Comm comm;                    /* the collectives */
    MPI_Comm arr;                     /* arrival notices: apart, so they never match a collective's messages */
    MPI_Op bf16_sum, bf16_max;        /* MPI has no BF16 type: user ops over 16-bit words */
    MPI_Op i128_sum;                  /* nor a 128-bit integer: a user op over 16-byte elements */
    MPI_Datatype i128;
    double timeout;                   /* seconds a collective may take (FP8LAB_COMM_TIMEOUT) */
    long long seq;                    /* number of the last collective this rank entered: 1, 2, ... */
    double last_beat;                 /* when this rank last repeated its number while waiting */
    /* per rank (this rank's own slots stay idle) */
    long long *seen;                  /* highest collective number the peer announced */
    double *heard;                    /* when its last notice arrived */
    long long *inbox, *outbox, *owed; /* receive and send buffers; owed: a number not sent yet (0: none) */
    MPI_Request *rreq, *sreq;         /* one receive posted and at most one send in flight per peer */
    int *done_idx;                    /* MPI_Testsome's answer */
} mpi_impl;

/* A collective in flight: its MPI request and what a timeout message names. */
struct fp8lab_comm_req {
    MPI_Request r;
    const char *coll;
    long long seq;
    size_t count;
    fp8lab_comm_dtype dt;
    int root; /* a broadcast's root (its completion proves only the root entered it); -1: every rank's input */
};

enum { NOTICE_TAG = 7 };

static int g_live;          /* communicators made here and not yet destroyed */
static int g_we_initialized; /* MPI_Init was ours, so MPI_Finalize is too */

/* ---- BF16 reduction ---------------------------------------------------------------------------------------- */

static float bf16_to_f32(uint16_t v) {
    const uint32_t u = (uint32_t)v << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* round to nearest, ties to even; NaN stays NaN (quiet) */
static uint16_t f32_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

/* Each step sums two BF16 values in FP32 and rounds once, as NCCL does per hop: exact while the partial sums
   are (integers up to 256, for example). Commutative, so every rank gets the same bits from Open MPI's trees. */
static void bf16_sum_fn(void *in, void *inout, int *len, MPI_Datatype *dt) {
    const uint16_t *a = in;
    uint16_t *b = inout;
    for (int i = 0; i < *len; i++) b[i] = f32_to_bf16(bf16_to_f32(a[i]) + bf16_to_f32(b[i]));
}

static void bf16_max_fn(void *in, void *inout, int *len, MPI_Datatype *dt) {
    const uint16_t *a = in;
    uint16_t *b = inout;
    for (int i = 0; i < *len; i++) {
        const float x = bf16_to_f32(a[i]), y = bf16_to_f32(b[i]);
        if (isnan(x) || x > y) b[i] = a[i]; /* NaN wins, like MPI_MAX on floats in practice */
    }
}

/* ---- int128 reduction ------------------------------------------------------------------------------------- */

/* Wrapping two's-complement sums: unsigned arithmetic has no overflow to be undefined, and addition modulo 2^128
   is the same in every order, so every rank gets the same bits. memcpy: MPI's buffers need not be 16-aligned. */
static void i128_sum_fn(void *in, void *inout, int *len, MPI_Datatype *dt) {
    const unsigned char *a = in;
    unsigned char *b = inout;
    for (int i = 0; i < *len; i++, a += 16, b += 16) {
        unsigned __int128 x, y;
        memcpy(&x, a, 16);
        memcpy(&y, b, 16);
        y += x;
        memcpy(b, &y, 16);
    }
}

/* ---- helpers ------------------------------------------------------------------------------------------------- */

static int fail(fp8lab_comm *c, const char *coll, size_t count, fp8lab_comm_dtype dt, int code) {
    char msg[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    MPI_Error_string(code, msg, &len);
    FP8LAB_ERR_RT("rank %d/%d %s of %zu %s (mpi): %s", c->rank, c->size, coll, count, fp8lab_comm_dtype_name(dt), msg);
    return -1;
}

/* MPI counts are int: larger buffers are refused (the trainer's buckets are far smaller) */
static int count_ok(fp8lab_comm *c, const char *coll, size_t count, fp8lab_comm_dtype dt) {
    if (count <= (size_t)INT_MAX) return 1;
    FP8LAB_ERR_RT("rank %d/%d %s of %zu %s (mpi): more than %d elements per call", c->rank, c->size, coll, count,
                  fp8lab_comm_dtype_name(dt), INT_MAX);
    return 0;
}

static MPI_Datatype mpi_type(const mpi_impl *m, fp8lab_comm_dtype dt) {
    switch (dt) {
    case FP8LAB_CDT_F32: return MPI_FLOAT;
    case FP8LAB_CDT_BF16: return MPI_UINT16_T;
    case FP8LAB_CDT_U8: return MPI_UINT8_T;
    case FP8LAB_CDT_F64: return MPI_DOUBLE;
    case FP8LAB_CDT_I64: return MPI_INT64_T;
    case FP8LAB_CDT_I128: return m->i128;
    default: return MPI_DATATYPE_NULL;
    }
}

/* int128 comes with SUM only (the front refuses MAX) */
static MPI_Op mpi_op(const mpi_impl *m, fp8lab_comm_dtype dt, fp8lab_redop op) {
    if (dt == FP8LAB_CDT_BF16) return op == FP8LAB_RED_MAX ? m->bf16_max : m->bf16_sum;
    if (dt == FP8LAB_CDT_I128) return m->i128_sum;
    return op == FP8LAB_RED_MAX ? MPI_MAX : MPI_SUM;
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* ---- arrival notices ------------------------------------------------------------------------------------------
   Best effort: a notice that fails to go out only makes a timeout message less precise, and the collective
   itself reports MPI's errors, so the notices' return codes are not checked. */

/* k to peer p, or owed to it while the previous notice is still in flight (the peer keeps the highest number, so
   the newest one is all that matters): no request piles up behind a peer that has stopped reading. */
static void notify(mpi_impl *m, int p, long long k) {
    if (m->sreq[p] != MPI_REQUEST_NULL) {
        int sent = 0;
        MPI_Test(&m->sreq[p], &sent, MPI_STATUS_IGNORE);
        if (!sent) {
            m->owed[p] = k;
            return;
        }
    }
    m->owed[p] = 0;
    m->outbox[p] = k;
    MPI_Isend(&m->outbox[p], 1, MPI_LONG_LONG, p, NOTICE_TAG, m->arr, &m->sreq[p]);
}

static void announce(fp8lab_comm *c, mpi_impl *m) {
    for (int p = 0; p < c->size; p++)
        if (p != c->rank) notify(m, p, m->seq);
}

/* Takes every notice that has arrived (each peer's receive posted again) and sends what is owed. */
static void collect(fp8lab_comm *c, mpi_impl *m) {
    for (;;) {
        int n = 0;
        if (MPI_Testsome(c->size, m->rreq, &n, m->done_idx, MPI_STATUSES_IGNORE) != MPI_SUCCESS ||
            n == MPI_UNDEFINED || n == 0)
            break;
        const double t = now_s();
        for (int i = 0; i < n; i++) {
            const int p = m->done_idx[i];
            if (m->inbox[p] > m->seen[p]) m->seen[p] = m->inbox[p];
            m->heard[p] = t;
            MPI_Irecv(&m->inbox[p], 1, MPI_LONG_LONG, p, NOTICE_TAG, m->arr, &m->rreq[p]);
        }
    }
    for (int p = 0; p < c->size; p++)
        if (m->owed[p]) notify(m, p, m->owed[p]);
}

/* ---- completion with a deadline ---------------------------------------------------------------------------- */

/* Appends to buf (of cap bytes, holding a string); truncates quietly. */
static void add(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void add(char *buf, size_t cap, const char *fmt, ...) {
    const size_t n = strlen(buf);
    if (n + 1 >= cap) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + n, cap - n, fmt, ap);
    va_end(ap);
}

/* The peers to blame for q not completing: those that have not entered it, then those that entered it but have
   sent nothing (not even a heartbeat) for half the time limit; returns how many were named. */
static int blame(fp8lab_comm *c, const mpi_impl *m, const fp8lab_comm_req *q, double t, char *buf, size_t cap) {
    int named = 0;
    for (int p = 0; p < c->size; p++) {
        if (p == c->rank || m->seen[p] >= q->seq) continue;
        add(buf, cap, "%srank %d has not reached it", named++ ? ", " : "", p);
        if (m->seen[p] > 0) add(buf, cap, " (last seen in #%lld)", m->seen[p]);
        else add(buf, cap, " (no collective seen from it)");
    }
    for (int p = 0; p < c->size; p++) {
        if (p == c->rank || m->seen[p] < q->seq || t - m->heard[p] < m->timeout / 2) continue;
        add(buf, cap, "%srank %d reached it but has been silent for %.0f s", named++ ? ", " : "", p, t - m->heard[p]);
    }
    return named;
}

/* The deadline passed: name the missing ranks and end the job (the other ranks, waiting too, say the same). */
static void timed_out(fp8lab_comm *c, mpi_impl *m, const fp8lab_comm_req *q) __attribute__((noreturn));
static void timed_out(fp8lab_comm *c, mpi_impl *m, const fp8lab_comm_req *q) {
    collect(c, m); /* the latest notices */
    char what[96] = "", who[1024] = "";
    if (q->count) snprintf(what, sizeof what, " of %zu %s", q->count, fp8lab_comm_dtype_name(q->dt));
    const int named = blame(c, m, q, now_s(), who, sizeof who);
    FP8LAB_ERR_RT("rank %d/%d: %s #%lld%s did not complete within %g s: %s%s", c->rank, c->size, q->coll, q->seq,
                  what, m->timeout, named ? who : "every rank reached it and is still answering (MPI itself is stuck)",
                  named == 1 ? "; it is hung, stopped or dead" : named ? "; they are hung, stopped or dead" : "");
    fprintf(stderr, "error: %s\n", fp8lab_last_error());
    fflush(stderr);
    MPI_Abort(m->comm, 1);
    _Exit(1); /* MPI_Abort does not return; should it, this rank still must not wait on */
}

/* Done: every rank whose input the result holds has entered q (and, collectives being called in one order, every
   collective before it). */
static void passed(fp8lab_comm *c, mpi_impl *m, const fp8lab_comm_req *q) {
    for (int p = q->root < 0 ? 0 : q->root; p < (q->root < 0 ? c->size : q->root + 1); p++)
        if (m->seen[p] < q->seq) m->seen[p] = q->seq;
}

/* Spinning first keeps a normal collective as quick as a blocking MPI call (Open MPI makes progress only inside
   MPI calls, so every nap delays the transfer too); after SPIN_S the wait is long anyway, and naps growing to
   1 ms leave the cores to the ranks still computing. */
#define ANNOUNCE_S 100e-6
#define SPIN_S 0.01
#define NAP_MAX_NS 1000000L
#define COLLECT_EVERY 16 /* collectives: notices from peers that wait longer than this rank are taken in time */

static void nap(long *ns) {
    *ns = *ns ? (*ns * 2 > NAP_MAX_NS ? NAP_MAX_NS : *ns * 2) : 1000;
    const struct timespec d = {0, *ns};
    nanosleep(&d, NULL);
}

/* While waiting: take the peers' notices and, every beat, repeat this rank's number so that they can tell it is
   alive (a beat well under half the time limit, see blame). */
static void keep_in_touch(fp8lab_comm *c, mpi_impl *m, double t) {
    collect(c, m);
    const double beat = fmin(1.0, m->timeout / 8);
    if (t - m->last_beat < beat) return;
    m->last_beat = t;
    announce(c, m);
}

/* Completes q, or ends the job once it has waited the time limit. */
static int finish(fp8lab_comm *c, fp8lab_comm_req *q) {
    mpi_impl *m = c->impl;
    const double t0 = now_s();
    long ns = 0;
    int announced = 0;
    if (q->seq % COLLECT_EVERY == 0) collect(c, m);
    for (;;) {
        int done = 0;
        const int rc = MPI_Test(&q->r, &done, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS) return fail(c, q->coll, q->count, q->dt, rc);
        if (done) {
            passed(c, m, q);
            return 0;
        }
        const double t = now_s();
        if (t - t0 < ANNOUNCE_S) continue;
        if (!announced) {
            announced = 1, m->last_beat = t;
            announce(c, m);
            collect(c, m);
        }
        if (t - t0 < SPIN_S) continue;
        if (t - t0 >= m->timeout) timed_out(c, m, q);
        keep_in_touch(c, m, t);
        nap(&ns);
    }
}

/* Numbers the collective about to start (before MPI sees it, so a failed start does not shift the numbering). */
static fp8lab_comm_req begin(mpi_impl *m, const char *coll, size_t count, fp8lab_comm_dtype dt) {
    return (fp8lab_comm_req){.r = MPI_REQUEST_NULL, .coll = coll, .seq = ++m->seq, .count = count, .dt = dt,
                             .root = -1};
}

/* The collective is started (rc: its MPI call's code); completes it. */
static int run(fp8lab_comm *c, fp8lab_comm_req *q, int rc) {
    return rc == MPI_SUCCESS ? finish(c, q) : fail(c, q->coll, q->count, q->dt, rc);
}

/* ---- collectives -------------------------------------------------------------------------------------------- */

static int mpi_all_reduce(fp8lab_comm *c, const void *send, void *recv, size_t count, fp8lab_comm_dtype dt,
                          fp8lab_redop op) {
    mpi_impl *m = c->impl;
    if (!count_ok(c, "all_reduce", count, dt)) return -1;
    fp8lab_comm_req q = begin(m, "all_reduce", count, dt);
    return run(c, &q, MPI_Iallreduce(send == recv ? MPI_IN_PLACE : send, recv, (int)count, mpi_type(m, dt),
                                     mpi_op(m, dt, op), m->comm, &q.r));
}

/* In place (recv == send + rank * count, NCCL's convention): MPI's in-place form reads the whole input from
   recvbuf and leaves the result at its start, so it runs on send and the block moves to its place after. */
static int mpi_reduce_scatter(fp8lab_comm *c, const void *send, void *recv, size_t count, fp8lab_comm_dtype dt,
                              fp8lab_redop op) {
    mpi_impl *m = c->impl;
    if (!count_ok(c, "reduce_scatter", count, dt)) return -1;
    const size_t bytes = count * fp8lab_comm_dtype_size(dt);
    const int in_place = (const char *)recv == (const char *)send + bytes * (size_t)c->rank;
    fp8lab_comm_req q = begin(m, "reduce_scatter", count, dt);
    const int rc = in_place ? MPI_Ireduce_scatter_block(MPI_IN_PLACE, (void *)send, (int)count, mpi_type(m, dt),
                                                        mpi_op(m, dt, op), m->comm, &q.r)
                            : MPI_Ireduce_scatter_block(send, recv, (int)count, mpi_type(m, dt), mpi_op(m, dt, op),
                                                        m->comm, &q.r);
    if (run(c, &q, rc)) return -1;
    if (in_place && c->rank) memmove(recv, send, bytes);
    return 0;
}

/* In place: send == recv + rank * count (NCCL's convention), which is where MPI's in-place form reads it. */
static int mpi_all_gather(fp8lab_comm *c, const void *send, void *recv, size_t count, fp8lab_comm_dtype dt) {
    mpi_impl *m = c->impl;
    if (!count_ok(c, "all_gather", count, dt)) return -1;
    const MPI_Datatype t = mpi_type(m, dt);
    const size_t bytes = count * fp8lab_comm_dtype_size(dt);
    const int in_place = (const char *)send == (const char *)recv + bytes * (size_t)c->rank;
    fp8lab_comm_req q = begin(m, "all_gather", count, dt);
    return run(c, &q, in_place ? MPI_Iallgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, recv, (int)count, t, m->comm, &q.r)
                               : MPI_Iallgather(send, (int)count, t, recv, (int)count, t, m->comm, &q.r));
}

static int mpi_broadcast(fp8lab_comm *c, void *buf, size_t count, fp8lab_comm_dtype dt, int root) {
    mpi_impl *m = c->impl;
    if (!count_ok(c, "broadcast", count, dt)) return -1;
    fp8lab_comm_req q = begin(m, "broadcast", count, dt);
    q.root = root;
    return run(c, &q, MPI_Ibcast(buf, (int)count, mpi_type(m, dt), root, m->comm, &q.r));
}

static int mpi_all_to_all(fp8lab_comm *c, const void *send, void *recv, size_t count, fp8lab_comm_dtype dt) {
    mpi_impl *m = c->impl;
    if (!count_ok(c, "all_to_all", count, dt)) return -1;
    const MPI_Datatype t = mpi_type(m, dt);
    fp8lab_comm_req q = begin(m, "all_to_all", count, dt);
    const int rc = send == recv
                       ? MPI_Ialltoall(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, recv, (int)count, t, m->comm, &q.r)
                       : MPI_Ialltoall(send, (int)count, t, recv, (int)count, t, m->comm, &q.r);
    return run(c, &q, rc);
}

static int mpi_barrier(fp8lab_comm *c) {
    mpi_impl *m = c->impl;
    fp8lab_comm_req q = begin(m, "barrier", 0, FP8LAB_CDT_U8);
    return run(c, &q, MPI_Ibarrier(m->comm, &q.r));
}

/* ---- the non-blocking all-reduce ------------------------------------------------------------------------------ */

static int mpi_all_reduce_start(fp8lab_comm *c, const void *send, void *recv, size_t count, fp8lab_comm_dtype dt,
                                fp8lab_redop op, fp8lab_comm_req **req) {
    mpi_impl *m = c->impl;
    if (!count_ok(c, "all_reduce_start", count, dt)) return -1;
    fp8lab_comm_req *q = malloc(sizeof *q);
    if (!q) {
        FP8LAB_ERR_RT("rank %d/%d all_reduce_start of %zu %s (mpi): out of host memory", c->rank, c->size, count,
                      fp8lab_comm_dtype_name(dt));
        return -1;
    }
    *q = begin(m, "all_reduce", count, dt);
    const int rc = MPI_Iallreduce(send == recv ? MPI_IN_PLACE : send, recv, (int)count, mpi_type(m, dt),
                                  mpi_op(m, dt, op), m->comm, &q->r);
    if (rc != MPI_SUCCESS) {
        free(q);
        return fail(c, "all_reduce_start", count, dt, rc);
    }
    announce(c, m); /* at once: the caller goes on working while it runs, and the buckets are large */
    collect(c, m);
    *req = q;
    return 0;
}

static int mpi_wait(fp8lab_comm *c, fp8lab_comm_req *req) {
    const int rc = finish(c, req);
    free(req);
    return rc;
}

/* Done requests stay allocated (MPI_Test has set r to MPI_REQUEST_NULL, which tests done again) until wait. */
static int mpi_test(fp8lab_comm *c, fp8lab_comm_req *req, int *done) {
    const int rc = MPI_Test(&req->r, done, MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS) return fail(c, req->coll, req->count, req->dt, rc);
    if (*done) passed(c, c->impl, req);
    return 0;
}

/* ---- lifetime ----------------------------------------------------------------------------------------------- */

/* No request may be pending at MPI_Finalize: the posted receives are cancelled; notices still in flight get a
   moment to leave (a peer reads them from shared memory or a socket without our help) and are then let go. */
static void quiet_notices(fp8lab_comm *c, mpi_impl *m) {
    if (!m->rreq || !m->sreq) return;
    for (int p = 0; p < c->size; p++)
        if (m->rreq[p] != MPI_REQUEST_NULL) {
            MPI_Cancel(&m->rreq[p]);
            MPI_Wait(&m->rreq[p], MPI_STATUS_IGNORE);
        }
    const double t0 = now_s();
    for (int p = 0; p < c->size; p++) {
        int sent = m->sreq[p] == MPI_REQUEST_NULL;
        while (!sent && now_s() - t0 < 1.0) MPI_Test(&m->sreq[p], &sent, MPI_STATUS_IGNORE);
        if (!sent) MPI_Request_free(&m->sreq[p]);
    }
}

/* Frees what was made (creation may have failed half way) and finalizes MPI after the last communicator. */
static void release(fp8lab_comm *c, mpi_impl *m) {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) {
        quiet_notices(c, m);
        if (m->bf16_sum != MPI_OP_NULL) MPI_Op_free(&m->bf16_sum);
        if (m->bf16_max != MPI_OP_NULL) MPI_Op_free(&m->bf16_max);
        if (m->i128_sum != MPI_OP_NULL) MPI_Op_free(&m->i128_sum);
        if (m->i128 != MPI_DATATYPE_NULL) MPI_Type_free(&m->i128);
        if (m->arr != MPI_COMM_NULL) MPI_Comm_free(&m->arr);
        if (m->comm != MPI_COMM_NULL) MPI_Comm_free(&m->comm);
        if (--g_live == 0 && g_we_initialized) MPI_Finalize();
    }
    free(m->seen);
    free(m->heard);
    free(m->inbox);
    free(m->outbox);
    free(m->owed);
    free(m->rreq);
    free(m->sreq);
    free(m->done_idx);
    free(m);
    free(c);
}

static void mpi_destroy(fp8lab_comm *c) { release(c, c->impl); }

static const fp8lab_comm_ops MPI_OPS = {
    .all_reduce = mpi_all_reduce,
    .reduce_scatter = mpi_reduce_scatter,
    .all_gather = mpi_all_gather,
    .broadcast = mpi_broadcast,
    .all_to_all = mpi_all_to_all,
    .barrier = mpi_barrier,
    .destroy = mpi_destroy,
    .all_reduce_start = mpi_all_reduce_start,
    .wait = mpi_wait,
    .test = mpi_test,
};

/* FP8LAB_COMM_TIMEOUT: seconds, a positive finite number and nothing else ("30", "2.5", "1e3"); checked before
   MPI starts, so that a typo stops every rank at once instead of turning into a 300 s wait or a 0 s one. */
static int timeout_from_env(double *timeout) {
    const char *s = getenv("FP8LAB_COMM_TIMEOUT");
    *timeout = 300;
    if (!s) return 0;
    char *end = NULL;
    const double v = strtod(s, &end);
    if (!s[0] || isspace((unsigned char)s[0]) || *end || !isfinite(v) || !(v > 0)) {
        FP8LAB_ERR("communicator (mpi): FP8LAB_COMM_TIMEOUT='%.40s' is not a positive number of seconds (the time "
                   "a collective may take before the job is ended; unset: 300)", s);
        return -1;
    }
    *timeout = v;
    return 0;
}

static int start_mpi(void) {
    int inited = 0, finalized = 0;
    MPI_Finalized(&finalized);
    if (finalized) {
        FP8LAB_ERR_RT("communicator (mpi): MPI was already finalized in this process and cannot start again");
        return -1;
    }
    MPI_Initialized(&inited);
    if (inited) return 0;
    /* FUNNELED: only the thread that made the communicator calls MPI (OpenMP threads do not) */
    int provided = 0;
    const int rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
    if (rc != MPI_SUCCESS) {
        FP8LAB_ERR_RT("communicator (mpi): MPI_Init_thread failed with code %d (rank %s of %s from the launcher)", rc,
                      getenv("OMPI_COMM_WORLD_RANK") ? getenv("OMPI_COMM_WORLD_RANK") : "?",
                      getenv("OMPI_COMM_WORLD_SIZE") ? getenv("OMPI_COMM_WORLD_SIZE") : "?");
        return -1;
    }
    g_we_initialized = 1;
    return 0;
}

/* The two communicators, the user ops and the int128 type. */
static int make_mpi_objects(fp8lab_comm *c, mpi_impl *m) {
    int rc = MPI_Comm_dup(MPI_COMM_WORLD, &m->comm);
    if (rc == MPI_SUCCESS) rc = MPI_Comm_set_errhandler(m->comm, MPI_ERRORS_RETURN);
    if (rc == MPI_SUCCESS) rc = MPI_Comm_dup(m->comm, &m->arr);
    if (rc == MPI_SUCCESS) rc = MPI_Comm_set_errhandler(m->arr, MPI_ERRORS_RETURN);
    if (rc == MPI_SUCCESS) rc = MPI_Op_create(bf16_sum_fn, 1, &m->bf16_sum);
    if (rc == MPI_SUCCESS) rc = MPI_Op_create(bf16_max_fn, 1, &m->bf16_max);
    if (rc == MPI_SUCCESS) rc = MPI_Op_create(i128_sum_fn, 1, &m->i128_sum);
    if (rc == MPI_SUCCESS) rc = MPI_Type_contiguous(16, MPI_BYTE, &m->i128);
    if (rc == MPI_SUCCESS) rc = MPI_Type_commit(&m->i128);
    if (rc == MPI_SUCCESS) rc = MPI_Comm_rank(m->comm, &c->rank);
    if (rc == MPI_SUCCESS) rc = MPI_Comm_size(m->comm, &c->size);
    return rc;
}

/* Per-peer bookkeeping of the arrival notices, with a receive posted from every peer. */
static int make_notices(fp8lab_comm *c, mpi_impl *m) {
    const size_t n = (size_t)c->size;
    m->seen = calloc(n, sizeof *m->seen);
    m->heard = calloc(n, sizeof *m->heard);
    m->inbox = calloc(n, sizeof *m->inbox);
    m->outbox = calloc(n, sizeof *m->outbox);
    m->owed = calloc(n, sizeof *m->owed);
    m->rreq = malloc(n * sizeof *m->rreq);
    m->sreq = malloc(n * sizeof *m->sreq);
    m->done_idx = calloc(n, sizeof *m->done_idx);
    if (!m->seen || !m->heard || !m->inbox || !m->outbox || !m->owed || !m->rreq || !m->sreq || !m->done_idx) {
        free(m->rreq), free(m->sreq);
        m->rreq = m->sreq = NULL; /* nothing posted: quiet_notices skips them */
        FP8LAB_ERR_RT("rank %d/%d communicator setup (mpi): out of host memory for %d peers", c->rank, c->size,
                      c->size - 1);
        return -1;
    }
    const double t = now_s();
    int rc = MPI_SUCCESS;
    for (int p = 0; p < c->size; p++) m->rreq[p] = m->sreq[p] = MPI_REQUEST_NULL, m->heard[p] = t;
    for (int p = 0; p < c->size && rc == MPI_SUCCESS; p++)
        if (p != c->rank) rc = MPI_Irecv(&m->inbox[p], 1, MPI_LONG_LONG, p, NOTICE_TAG, m->arr, &m->rreq[p]);
    return rc == MPI_SUCCESS ? 0 : fail(c, "communicator setup", 0, FP8LAB_CDT_U8, rc);
}

fp8lab_comm *fp8lab_comm_mpi(void) {
    double timeout;
    if (timeout_from_env(&timeout) || start_mpi()) return NULL;
    fp8lab_comm *c = calloc(1, sizeof *c);
    mpi_impl *m = calloc(1, sizeof *m);
    if (!c || !m) {
        free(c);
        free(m);
        FP8LAB_ERR_RT("communicator (mpi): out of host memory");
        return NULL;
    }
    *m = (mpi_impl){.comm = MPI_COMM_NULL, .arr = MPI_COMM_NULL, .bf16_sum = MPI_OP_NULL, .bf16_max = MPI_OP_NULL,
                    .i128_sum = MPI_OP_NULL, .i128 = MPI_DATATYPE_NULL, .timeout = timeout};
    *c = (fp8lab_comm){.name = "mpi", .ops = &MPI_OPS, .impl = m};
    g_live++;
    const int rc = make_mpi_objects(c, m);
    if (rc != MPI_SUCCESS) fail(c, "communicator setup", 0, FP8LAB_CDT_U8, rc);
    if (rc != MPI_SUCCESS || make_notices(c, m)) {
        release(c, m); /* keeps the error: finalizing MPI does not touch fp8lab's error state */
        return NULL;
    }
    return c;
}
#else
/* MPI not found at configure time: fp8lab_comm_from_env reports it (comm.c); ISO C wants a declaration here */
typedef int fp8lab_comm_mpi_not_built;
#endif
