/* fp8lab bench comm: nccl-tests' table for the communicator's collectives (csrc/dist/comm.h), out of place and in
   place, sizes doubling, every result checked against the value the ranks' inputs determine. Under mpirun the
   MPI communicator (CPU ranks); alone, the single-process one. Rank 0 prints. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/bench.h"
#include "cli/bench_util.h"
#include "cli/flags.h"
#include "core/error.h"
#include "backend/backend.h"
#include "backend/mem_ops.h"
#include "core/timer.h"
#include "dist/comm.h"
#include "dist/comm_deferred.h"
#include "dist/comm_nccl_host.h"
#include "dist/launch.h"

typedef enum { C_ALL_REDUCE, C_REDUCE_SCATTER, C_ALL_GATHER, C_ALL_TO_ALL, C_COUNT } coll_kind;
static const char *CNAME[C_COUNT] = {"all_reduce", "reduce_scatter", "all_gather", "all_to_all"};

/* nccl-tests' PERFORMANCE.md: bus bandwidth = algorithm bandwidth times the fraction of the data each rank's
   busiest link carries in the optimal algorithm, so it compares with the hardware's link speed at any n. */
static double bus_factor(coll_kind k, int n) {
    return k == C_ALL_REDUCE ? 2.0 * (n - 1) / n : (double)(n - 1) / n;
}

/* Largest buffer per rank (bytes) times iterations: bounds the run (about 16 GiB moved per op and placement). */
#define COMM_MAX_WORK (1LL << 34)

typedef struct {
    double time_us, algbw, busbw;
    long long wrong;
} place_result;

typedef struct {
    size_t bytes, count; /* count: elements of the largest buffer (AR: each, RS: send, AG: recv, A2A: each) */
    place_result out, in;
} comm_row;

typedef struct {
    fp8lab_comm *c;  /* the job's ranks: barriers, the time and #wrong reductions (host buffers) */
    fp8lab_comm *dc; /* the one measured: c itself, or NCCL on the CUDA backend (--device cuda) */
    fp8lab_backend *be; /* --device cuda: where da, db live (NULL: the host buffers are measured) */
    char *da, *db;
    fp8lab_comm_dtype dt;
    size_t es;
    int iters, warmup;
    long modulus; /* inputs are (5i + 3r) mod modulus: every partial sum an integer exact in the dtype */
    char *a, *b, *want;
    double *t;
    int comm_failed; /* a collective failed: the other ranks may still wait in one (see comm_close) */
} bench_ctx;

static double input_value(const bench_ctx *x, int rank, size_t i) {
    return (double)((i % (size_t)x->modulus * 5 + (size_t)rank * 3) % (size_t)x->modulus);
}

static void put(const bench_ctx *x, char *buf, size_t i, double v) {
    if (x->dt == FP8LAB_CDT_F32) {
        const float f = (float)v;
        memcpy(buf + i * 4, &f, 4);
    } else { /* bfloat16: v is a small integer, exact; its FP32 bits' top half */
        const float f = (float)v;
        uint32_t u;
        memcpy(&u, &f, 4);
        const uint16_t h = (uint16_t)(u >> 16);
        memcpy(buf + i * 2, &h, 2);
    }
}

static void fill_input(const bench_ctx *x, char *buf, size_t n) {
    for (size_t i = 0; i < n; i++) put(x, buf, i, input_value(x, x->c->rank, i));
}

/* Expected output on this rank for `count` (the row's count) elements. */
static void fill_expected(const bench_ctx *x, coll_kind k, size_t count) {
    const int n = x->c->size, me = x->c->rank;
    const size_t blk = count / (size_t)n;
    const size_t nout = k == C_REDUCE_SCATTER ? blk : count;
    for (size_t o = 0; o < nout; o++) {
        double v = 0;
        if (k == C_ALL_REDUCE || k == C_REDUCE_SCATTER) {
            const size_t i = k == C_ALL_REDUCE ? o : (size_t)me * blk + o;
            for (int r = 0; r < n; r++) v += input_value(x, r, i);
        } else if (k == C_ALL_GATHER) {
            v = input_value(x, (int)(o / blk), o % blk);
        } else { /* all_to_all: block s of the output is rank s's block `me` */
            v = input_value(x, (int)(o / blk), (size_t)me * blk + o % blk);
        }
        put(x, x->want, o, v);
    }
}

static long long count_wrong(const bench_ctx *x, const char *got, size_t n) {
    long long w = 0;
    for (size_t i = 0; i < n; i++) w += memcmp(got + i * x->es, x->want + i * x->es, x->es) != 0;
    return w;
}

/* One call of collective k on `count` elements (the row's count), in place or not, on the measured buffers; 0 or
   -1 (error recorded). */
static int run_once(const bench_ctx *x, coll_kind k, size_t count, int in_place) {
    const size_t blk = count / (size_t)x->c->size, off = (size_t)x->c->rank * blk * x->es;
    char *a = x->da, *b = in_place ? x->da : x->db;
    switch (k) {
    case C_ALL_REDUCE: return fp8lab_all_reduce(x->dc, a, b, count, x->dt, FP8LAB_RED_SUM);
    case C_REDUCE_SCATTER: return fp8lab_reduce_scatter(x->dc, a, in_place ? a + off : b, blk, x->dt, FP8LAB_RED_SUM);
    case C_ALL_GATHER: return fp8lab_all_gather(x->dc, in_place ? b + off : a, b, blk, x->dt);
    default: return fp8lab_all_to_all(x->dc, a, b, blk, x->dt);
    }
}

/* --device cuda: the host buffers to the device ones and back (bytes of each) */
static int to_device(const bench_ctx *x, size_t bytes) {
    return x->be && (fp8lab_copy_h2d(x->be, x->da, x->a, bytes) || fp8lab_copy_h2d(x->be, x->db, x->b, bytes)) ? -1
                                                                                                               : 0;
}
static int from_device(const bench_ctx *x, char *host, const char *dev, size_t bytes) {
    return x->be ? fp8lab_copy_d2h(x->be, host, dev, bytes) : 0;
}

/* Sets up the input where run_once reads it and poisons where it writes (all-ones bytes: a BF16/FP32 NaN that
   never equals an expected value), so a collective that writes nothing counts as wrong. */
static int prepare(const bench_ctx *x, coll_kind k, size_t count, int in_place) {
    const size_t blk = count / (size_t)x->c->size, bytes = count * x->es;
    char *out = in_place ? x->a : x->b;
    if (!in_place) memset(out, 0xff, bytes);
    if (k == C_ALL_GATHER) {
        if (in_place) memset(out, 0xff, bytes);
        fill_input(x, in_place ? out + (size_t)x->c->rank * blk * x->es : x->a, blk);
    } else {
        fill_input(x, x->a, count);
    }
    return to_device(x, bytes);
}

/* Times `iters` calls after `warmup`, each from a barrier to its own end; the row's time is the median over
   iterations of the slowest rank's time. Then checks one call on fresh input. */
static int run_place(bench_ctx *x, coll_kind k, size_t count, int in_place, place_result *pr) {
    if (prepare(x, k, count, in_place)) return -1;
    for (int it = 0; it < x->warmup + x->iters; it++) {
        if (fp8lab_barrier(x->dc)) return -1;
        const double t0 = fp8lab_now();
        if (run_once(x, k, count, in_place)) return -1;
        if (it >= x->warmup) x->t[it - x->warmup] = fp8lab_now() - t0;
    }
    if (fp8lab_all_reduce(x->c, x->t, x->t, (size_t)x->iters, FP8LAB_CDT_F64, FP8LAB_RED_MAX)) return -1;
    const double sec = bench_median(x->t, x->iters);
    if (prepare(x, k, count, in_place) || run_once(x, k, count, in_place)) return -1;
    fill_expected(x, k, count);
    const size_t blk = count / (size_t)x->c->size;
    char *out = in_place ? x->a : x->b;
    if (from_device(x, out, in_place ? x->da : x->db, count * x->es)) return -1;
    if (k == C_REDUCE_SCATTER && in_place) out += (size_t)x->c->rank * blk * x->es;
    int64_t wrong = count_wrong(x, out, k == C_REDUCE_SCATTER ? blk : count);
    if (fp8lab_all_reduce(x->c, &wrong, &wrong, 1, FP8LAB_CDT_I64, FP8LAB_RED_SUM)) return -1;
    const double bytes = (double)(count * x->es);
    pr->time_us = sec * 1e6;
    pr->algbw = sec > 0 ? bytes / sec / 1e9 : 0;
    pr->busbw = pr->algbw * bus_factor(k, x->c->size);
    pr->wrong = (long long)wrong;
    return 0;
}

static void print_header(const bench_ctx *x) {
    const int n = x->c->size;
    printf("# fp8lab bench comm: communicator %s, %d rank%s, %s buffers, type %s, %d iterations after %d warm-up\n",
           x->dc->name, n, n == 1 ? "" : "s", x->be ? "device" : "host", fp8lab_comm_dtype_name(x->dt), x->iters,
           x->warmup);
    printf("# time: median over iterations of the slowest rank's time from a barrier to the end of its call (us)\n");
    printf("# algbw = size / time; busbw = algbw * 2(n-1)/n (all_reduce), (n-1)/n (reduce_scatter, all_gather, "
           "all_to_all), n = %d (nccl-tests' PERFORMANCE.md)\n", n);
    printf("# size: bytes of the largest buffer per rank (all_reduce: each; reduce_scatter: send; all_gather: recv;"
           " all_to_all: each), count: its elements, a multiple of the ranks\n");
    printf("# #wrong: output elements not bit-equal to the value the inputs determine, summed over ranks\n");
}

static void print_table(const bench_ctx *x, coll_kind k, const comm_row *rows, int nrows) {
    printf("#\n# %s\n", CNAME[k]);
    printf("# %46s | %-39s | %s\n", "", "out-of-place", "in-place");
    printf("# %10s %12s %9s %6s %5s | %10s %10s %10s %6s | %10s %10s %10s %6s\n", "size", "count", "type", "redop",
           "root", "time", "algbw", "busbw", "#wrong", "time", "algbw", "busbw", "#wrong");
    printf("# %10s %12s %9s %6s %5s | %10s %10s %10s %6s | %10s %10s %10s %6s\n", "(B)", "(elements)", "", "", "",
           "(us)", "(GB/s)", "(GB/s)", "", "(us)", "(GB/s)", "(GB/s)", "");
    const char *redop = k == C_ALL_REDUCE || k == C_REDUCE_SCATTER ? "sum" : "none";
    for (int i = 0; i < nrows; i++) {
        const comm_row *r = &rows[i];
        printf("  %10zu %12zu %9s %6s %5d | %10.3f %10.4f %10.4f %6lld | %10.3f %10.4f %10.4f %6lld\n", r->bytes,
               r->count, fp8lab_comm_dtype_name(x->dt), redop, -1, r->out.time_us, r->out.algbw, r->out.busbw,
               r->out.wrong, r->in.time_us, r->in.algbw, r->in.busbw, r->in.wrong);
    }
}

static cJSON *place_json(const place_result *p) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "time_us", p->time_us);
    cJSON_AddNumberToObject(o, "algbw_gbs", p->algbw);
    cJSON_AddNumberToObject(o, "busbw_gbs", p->busbw);
    cJSON_AddNumberToObject(o, "wrong", (double)p->wrong);
    return o;
}

static cJSON *json_header(const bench_ctx *x) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "benchmark", "comm");
    cJSON_AddStringToObject(root, "communicator", x->dc->name);
    cJSON_AddStringToObject(root, "buffers", x->be ? "device" : "host");
    cJSON_AddNumberToObject(root, "ranks", x->c->size);
    cJSON_AddStringToObject(root, "type", fp8lab_comm_dtype_name(x->dt));
    cJSON_AddNumberToObject(root, "iters", x->iters);
    cJSON_AddNumberToObject(root, "warmup", x->warmup);
    cJSON_AddStringToObject(root, "time", "median over iterations of the slowest rank's time from a barrier to the "
                                          "end of its call");
    cJSON_AddStringToObject(root, "busbw", "algbw * 2(n-1)/n (all_reduce), (n-1)/n (others): nccl-tests");
    cJSON_AddArrayToObject(root, "ops");
    return root;
}

static void json_add_op(cJSON *root, const bench_ctx *x, coll_kind k, const comm_row *rows, int nrows) {
    cJSON *op = cJSON_CreateObject();
    cJSON_AddStringToObject(op, "op", CNAME[k]);
    cJSON_AddStringToObject(op, "redop", k == C_ALL_REDUCE || k == C_REDUCE_SCATTER ? "sum" : "none");
    cJSON_AddNumberToObject(op, "bus_factor", bus_factor(k, x->c->size));
    cJSON *arr = cJSON_AddArrayToObject(op, "rows");
    for (int i = 0; i < nrows; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "size", (double)rows[i].bytes);
        cJSON_AddNumberToObject(o, "count", (double)rows[i].count);
        cJSON_AddItemToObject(o, "out_of_place", place_json(&rows[i].out));
        cJSON_AddItemToObject(o, "in_place", place_json(&rows[i].in));
        cJSON_AddItemToArray(arr, o);
    }
    cJSON_AddItemToArray(cJSON_GetObjectItem(root, "ops"), op);
}

/* What `fp8lab bench comm` was asked for. */
typedef struct {
    long min_b, max_b;
    int iters, warmup, json;
    const char *op, *dtype, *device;
    coll_kind ops[C_COUNT]; /* --op, parsed */
    int nops;
} comm_args;

/* What a step returns when the command goes on (every other value is the exit status). */
enum { GO_ON = -1 };

/* Every size of one collective; rows with fewer elements than ranks are left out. Returns the row count or -1. */
static int run_op(bench_ctx *x, coll_kind k, long min_bytes, long max_bytes, comm_row *rows) {
    const size_t n = (size_t)x->c->size;
    int nrows = 0;
    for (long s = min_bytes; s <= max_bytes; s *= 2) {
        size_t count = (size_t)s / x->es;
        if (k != C_ALL_REDUCE) count -= count % n;
        if (!count) continue;
        comm_row *r = &rows[nrows];
        *r = (comm_row){.bytes = count * x->es, .count = count};
        if (run_place(x, k, count, 0, &r->out) || run_place(x, k, count, 1, &r->in)) return -1;
        nrows++;
    }
    return nrows;
}

static int parse_ops(const char *s, coll_kind *ops) {
    if (!strcmp(s, "all")) {
        for (int i = 0; i < C_COUNT; i++) ops[i] = (coll_kind)i;
        return C_COUNT;
    }
    for (int i = 0; i < C_COUNT; i++)
        if (!strcmp(s, CNAME[i])) {
            ops[0] = (coll_kind)i;
            return 1;
        }
    return 0;
}

/* Flag checks the table's ranges cannot express; "" when fine, else the message in bad[cap]. */
static void check_comm_flags(const comm_args *a, char *bad, size_t cap) {
    coll_kind ops[C_COUNT];
    const long long work = (long long)a->max_b * (a->iters + a->warmup);
    if (!parse_ops(a->op, ops))
        snprintf(bad, cap, "--op '%.40s': must be all_reduce, reduce_scatter, all_gather, all_to_all or all", a->op);
    else if (strcmp(a->dtype, "float") && strcmp(a->dtype, "bfloat16"))
        snprintf(bad, cap, "--dtype '%.40s': must be float or bfloat16", a->dtype);
    else if (a->max_b < a->min_b)
        snprintf(bad, cap, "--max-bytes %ld: must be at least --min-bytes %ld", a->max_b, a->min_b);
    else if (work > COMM_MAX_WORK)
        snprintf(bad, cap, "--max-bytes %ld * (--iters %d + --warmup %d) = %lld bytes is over the limit of %lld "
                           "(lower --max-bytes or --iters)", a->max_b, a->iters, a->warmup, work, COMM_MAX_WORK);
}

/* --device cuda: this rank's GPU (its local rank), NCCL over the job's ranks (the id over c under mpirun; by
   rendezvous without MPI, whose host collectives then go through NCCL too), device buffers of cap bytes */
static int open_device(bench_ctx *x, size_t cap) {
    fp8lab_launch l;
    if (fp8lab_launch_from_env(&l)) return -1;
    x->be = fp8lab_cuda_backend_create(x->c->size > 1 ? l.local_rank : 0);
    if (!x->be) return -1;
    if (x->c->size == 1) l = (fp8lab_launch){.rank = 0, .size = 1, .local_rank = 0, .launcher = "none"};
    x->dc = fp8lab_comm_nccl(x->be, &l, fp8lab_comm_is_deferred(x->c) ? NULL : x->c);
    if (!x->dc) {
        x->dc = x->c;
        return -1;
    }
    if (fp8lab_comm_is_deferred(x->c) && fp8lab_comm_attach(x->c, x->dc, x->be)) return -1;
    x->da = fp8lab_alloc(x->be, cap);
    x->db = fp8lab_alloc(x->be, cap);
    return x->da && x->db ? 0 : -1;
}

static void close_device(bench_ctx *x) {
    if (!x->be) return;
    fp8lab_free(x->be, x->da);
    fp8lab_free(x->be, x->db);
    if (x->dc != x->c) fp8lab_comm_destroy(x->dc);
    fp8lab_backend_destroy(x->be);
}

static int run_bench(bench_ctx *x, const comm_args *a) {
    comm_row rows[40]; /* sizes double from >= 1 to <= 2^30: 31 rows at most */
    cJSON *root = a->json && x->c->rank == 0 ? json_header(x) : NULL;
    long long wrong = 0;
    if (!a->json && x->c->rank == 0) print_header(x);
    for (int o = 0; o < a->nops; o++) {
        const int nrows = run_op(x, a->ops[o], a->min_b, a->max_b, rows);
        if (nrows < 0) {
            cJSON_Delete(root);
            return -1;
        }
        for (int i = 0; i < nrows; i++) wrong += rows[i].out.wrong + rows[i].in.wrong;
        if (x->c->rank) continue;
        if (root) json_add_op(root, x, a->ops[o], rows, nrows);
        else print_table(x, a->ops[o], rows, nrows);
    }
    if (root) {
        cJSON_AddNumberToObject(root, "wrong", (double)wrong);
        char *s = cJSON_PrintUnformatted(root);
        if (s) printf("%s\n", s);
        free(s);
        cJSON_Delete(root);
    } else if (x->c->rank == 0) {
        printf("#\n# wrong values in all: %lld %s\n", wrong, wrong ? "FAILED" : "OK");
    }
    fflush(stdout);
    return wrong ? 1 : 0;
}

static int comm_parse(comm_args *a, int argc, char **argv) {
    const cli_flag flags[] = {
        {"device", FLAG_STR, &a->device, "cpu (host buffers, the job's communicator) or cuda (device buffers, NCCL)"},
        {"op", FLAG_STR, &a->op, "all_reduce, reduce_scatter, all_gather, all_to_all or all"},
        {"min-bytes", FLAG_LONG, &a->min_b, "smallest size (bytes of the largest buffer per rank)",
         FP8LAB_RANGE(1, 1L << 30)},
        {"max-bytes", FLAG_LONG, &a->max_b, "largest size; sizes double from --min-bytes up to it "
                                            "(--max-bytes * (iters + warmup) <= 2^34)", FP8LAB_RANGE(1, 1L << 30)},
        {"iters", FLAG_INT, &a->iters, "timed calls per size and placement", FP8LAB_RANGE(1, 100000)},
        {"warmup", FLAG_INT, &a->warmup, "untimed calls before them", FP8LAB_RANGE(0, 10000)},
        {"dtype", FLAG_STR, &a->dtype, "element type: float or bfloat16"},
        {"json", FLAG_BOOL, &a->json, "print one JSON object on stdout (rank 0)"},
    };
    const char *usage = "fp8lab bench comm [flags]   (under mpirun: one process per rank, rank 0 prints)";
    const int pr = cli_parse(usage, flags, CLI_NFLAGS(flags), argc, argv);
    if (pr) return pr == 1 ? FP8LAB_EXIT_OK : FP8LAB_EXIT_USAGE;
    return GO_ON;
}

/* The flags, then the host memory the run needs: before the communicator starts, so each rank refuses alone. */
static int comm_check(comm_args *a) {
    char bad[256] = "";
    check_comm_flags(a, bad, sizeof bad);
    if (bad[0]) {
        fprintf(stderr, "error: %s\n", bad);
        return FP8LAB_EXIT_USAGE;
    }
    if (strcmp(a->device, "cpu") && strcmp(a->device, "cuda")) {
        fprintf(stderr, "error: --device: '%s' is not one of cpu | cuda\n", a->device);
        return FP8LAB_EXIT_USAGE;
    }
    a->nops = parse_ops(a->op, a->ops);
    if (bench_host_mem_check("bench comm", 3.0 * (double)a->max_b + 8.0 * a->iters)) return FP8LAB_EXIT_RUNTIME;
    return GO_ON;
}

/* The job's communicator: MPI under mpirun, else the single-process one. */
static int comm_open(const comm_args *a, bench_ctx *x) {
    fp8lab_comm *c = fp8lab_comm_from_env();
    if (!c) {
        fprintf(stderr, "error: bench comm: %s\n", fp8lab_last_error());
        return FP8LAB_EXIT_RUNTIME;
    }
    if (fp8lab_comm_is_deferred(c) && strcmp(a->device, "cuda")) {
        fprintf(stderr, "error: bench comm: %d ranks started without MPI: their collectives run on NCCL (--device "
                        "cuda); CPU ranks need mpirun or srun --mpi=pmix\n", c->size);
        fp8lab_comm_destroy(c);
        return FP8LAB_EXIT_USAGE;
    }
    x->c = x->dc = c;
    return GO_ON;
}

/* The element type and the inputs' modulus. */
static int comm_set_type(const comm_args *a, bench_ctx *x) {
    x->dt = strcmp(a->dtype, "float") ? FP8LAB_CDT_BF16 : FP8LAB_CDT_F32;
    x->es = fp8lab_comm_dtype_size(x->dt);
    /* partial sums reach (modulus - 1) * ranks: keep them within the integers the type holds exactly */
    const long exact = x->dt == FP8LAB_CDT_F32 ? 1L << 24 : 256;
    x->modulus = exact / x->c->size + 1 < 251 ? exact / x->c->size + 1 : 251;
    if (x->modulus >= 2) return GO_ON;
    if (x->c->rank == 0)
        fprintf(stderr, "error: bench comm: --dtype %s cannot hold the sums of %d ranks exactly (at most %ld)\n",
                a->dtype, x->c->size, exact);
    return FP8LAB_EXIT_USAGE;
}

/* The host buffers, and with --device cuda the device ones and NCCL; the measured buffers set. */
static int comm_alloc(const comm_args *a, bench_ctx *x) {
    const size_t cap = (size_t)a->max_b + 16;
    x->a = bench_malloc("bench comm", "buffer a", cap);
    x->b = bench_malloc("bench comm", "buffer b", cap);
    x->want = bench_malloc("bench comm", "expected values", cap);
    x->t = bench_malloc("bench comm", "times", sizeof(double) * (size_t)a->iters);
    if (!x->a || !x->b || !x->want || !x->t) return FP8LAB_EXIT_RUNTIME; /* bench_malloc said which */
    if (!strcmp(a->device, "cuda") && open_device(x, cap)) {
        fprintf(stderr, "error: bench comm: %s\n", fp8lab_last_error());
        return fp8lab_last_error_exit();
    }
    if (!x->be) x->da = x->a, x->db = x->b; /* --device cpu: the host buffers are the measured ones */
    return GO_ON;
}

/* The tables (or the JSON object); an exit status: 1 when a collective failed or a value is wrong. */
static int comm_run(const comm_args *a, bench_ctx *x) {
    const int br = run_bench(x, a);
    if (br < 0) {
        fprintf(stderr, "error: bench comm: %s\n", fp8lab_last_error());
        x->comm_failed = 1;
        return FP8LAB_EXIT_RUNTIME;
    }
    if (br == 0) return FP8LAB_EXIT_OK;
    if (x->c->rank == 0) fprintf(stderr, "error: bench comm: wrong values (the #wrong columns)\n");
    return FP8LAB_EXIT_RUNTIME;
}

static void comm_close(bench_ctx *x) {
    free(x->a);
    free(x->b);
    free(x->want);
    free(x->t);
    close_device(x);
    /* After a failed collective the other ranks may wait in one: this rank leaves without MPI_Finalize (which
       would wait for them), and the launcher ends the job when it sees a rank exit without it. */
    if (!x->comm_failed) fp8lab_comm_destroy(x->c);
}

int bench_comm(int argc, char **argv) {
    comm_args a = {.min_b = 8, .max_b = 4L << 20, .iters = 20, .warmup = 5, .json = 0, .op = "all", .dtype = "float",
                   .device = "cpu"};
    int rc = comm_parse(&a, argc, argv);
    if (rc == GO_ON) rc = comm_check(&a);
    if (rc != GO_ON) return rc;
    bench_ctx x = {.iters = a.iters, .warmup = a.warmup};
    if ((rc = comm_open(&a, &x)) != GO_ON) return rc;
    rc = comm_set_type(&a, &x);
    if (rc == GO_ON) rc = comm_alloc(&a, &x);
    if (rc == GO_ON) rc = comm_run(&a, &x);
    comm_close(&x);
    return rc;
}
