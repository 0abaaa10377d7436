/* The MPI communicator: one process per rank, buffers in host memory (the CPU backend's device memory). Every
   MPI call returns its error code (MPI_ERRORS_RETURN on our communicator) and a failure is reported naming the
   rank, the collective and MPI's message. */
#ifdef FP8LAB_HAVE_MPI
#include "dist/comm_mpi.h"

#include <limits.h>
#include <math.h>
#include <mpi.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

typedef struct {
    MPI_Comm comm;
    MPI_Op bf16_sum, bf16_max; /* MPI has no BF16 type: user ops over 16-bit words */
} mpi_impl;

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

static MPI_Datatype mpi_type(fp8lab_comm_dtype dt) {
    switch (dt) {
    case FP8LAB_CDT_F32: return MPI_FLOAT;
    case FP8LAB_CDT_BF16: return MPI_UINT16_T;
    case FP8LAB_CDT_U8: return MPI_UINT8_T;
    case FP8LAB_CDT_F64: return MPI_DOUBLE;
    case FP8LAB_CDT_I64: return MPI_INT64_T;
    default: return MPI_DATATYPE_NULL;
    }
}

static MPI_Op mpi_op(const mpi_impl *m, fp8lab_comm_dtype dt, fp8lab_redop op) {
    if (dt == FP8LAB_CDT_BF16) return op == FP8LAB_RED_MAX ? m->bf16_max : m->bf16_sum;
    return op == FP8LAB_RED_MAX ? MPI_MAX : MPI_SUM;
}

/* ---- collectives -------------------------------------------------------------------------------------------- */

static int mpi_all_reduce(fp8lab_comm *c, const void *send, void *recv, size_t count, fp8lab_comm_dtype dt,
                          fp8lab_redop op) {
    const mpi_impl *m = c->impl;
    if (!count_ok(c, "all_reduce", count, dt)) return -1;
    const int rc = MPI_Allreduce(send == recv ? MPI_IN_PLACE : send, recv, (int)count, mpi_type(dt),
                                 mpi_op(m, dt, op), m->comm);
    return rc == MPI_SUCCESS ? 0 : fail(c, "all_reduce", count, dt, rc);
}

/* In place (recv == send + rank * count, NCCL's convention): MPI's in-place form reads the whole input from
   recvbuf and leaves the result at its start, so it runs on send and the block moves to its place after. */
static int mpi_reduce_scatter(fp8lab_comm *c, const void *send, void *recv, size_t count, fp8lab_comm_dtype dt,
                              fp8lab_redop op) {
    const mpi_impl *m = c->impl;
    if (!count_ok(c, "reduce_scatter", count, dt)) return -1;
    const size_t bytes = count * fp8lab_comm_dtype_size(dt);
    const int in_place = (const char *)recv == (const char *)send + bytes * (size_t)c->rank;
    const int rc = in_place ? MPI_Reduce_scatter_block(MPI_IN_PLACE, (void *)send, (int)count, mpi_type(dt),
                                                       mpi_op(m, dt, op), m->comm)
                            : MPI_Reduce_scatter_block(send, recv, (int)count, mpi_type(dt), mpi_op(m, dt, op),
                                                       m->comm);
    if (rc != MPI_SUCCESS) return fail(c, "reduce_scatter", count, dt, rc);
    if (in_place && c->rank) memmove(recv, send, bytes);
    return 0;
}

/* In place: send == recv + rank * count (NCCL's convention), which is where MPI's in-place form reads it. */
static int mpi_all_gather(fp8lab_comm *c, const void *send, void *recv, size_t count, fp8lab_comm_dtype dt) {
    const mpi_impl *m = c->impl;
    if (!count_ok(c, "all_gather", count, dt)) return -1;
    const size_t bytes = count * fp8lab_comm_dtype_size(dt);
    const int in_place = (const char *)send == (const char *)recv + bytes * (size_t)c->rank;
    const int rc = in_place ? MPI_Allgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, recv, (int)count, mpi_type(dt), m->comm)
                            : MPI_Allgather(send, (int)count, mpi_type(dt), recv, (int)count, mpi_type(dt), m->comm);
    return rc == MPI_SUCCESS ? 0 : fail(c, "all_gather", count, dt, rc);
}

static int mpi_broadcast(fp8lab_comm *c, void *buf, size_t count, fp8lab_comm_dtype dt, int root) {
    const mpi_impl *m = c->impl;
    if (!count_ok(c, "broadcast", count, dt)) return -1;
    const int rc = MPI_Bcast(buf, (int)count, mpi_type(dt), root, m->comm);
    return rc == MPI_SUCCESS ? 0 : fail(c, "broadcast", count, dt, rc);
}

static int mpi_all_to_all(fp8lab_comm *c, const void *send, void *recv, size_t count, fp8lab_comm_dtype dt) {
    const mpi_impl *m = c->impl;
    if (!count_ok(c, "all_to_all", count, dt)) return -1;
    const int rc = send == recv
                       ? MPI_Alltoall(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, recv, (int)count, mpi_type(dt), m->comm)
                       : MPI_Alltoall(send, (int)count, mpi_type(dt), recv, (int)count, mpi_type(dt), m->comm);
    return rc == MPI_SUCCESS ? 0 : fail(c, "all_to_all", count, dt, rc);
}

static int mpi_barrier(fp8lab_comm *c) {
    const mpi_impl *m = c->impl;
    const int rc = MPI_Barrier(m->comm);
    return rc == MPI_SUCCESS ? 0 : fail(c, "barrier", 0, FP8LAB_CDT_U8, rc);
}

static void mpi_destroy(fp8lab_comm *c) {
    mpi_impl *m = c->impl;
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) {
        MPI_Op_free(&m->bf16_sum);
        MPI_Op_free(&m->bf16_max);
        MPI_Comm_free(&m->comm);
        if (--g_live == 0 && g_we_initialized) MPI_Finalize();
    }
    free(m);
    free(c);
}

static const fp8lab_comm_ops MPI_OPS = {
    .all_reduce = mpi_all_reduce,
    .reduce_scatter = mpi_reduce_scatter,
    .all_gather = mpi_all_gather,
    .broadcast = mpi_broadcast,
    .all_to_all = mpi_all_to_all,
    .barrier = mpi_barrier,
    .destroy = mpi_destroy,
};

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

fp8lab_comm *fp8lab_comm_mpi(void) {
    if (start_mpi()) return NULL;
    fp8lab_comm *c = calloc(1, sizeof *c);
    mpi_impl *m = calloc(1, sizeof *m);
    if (!c || !m) {
        free(c);
        free(m);
        FP8LAB_ERR_RT("communicator (mpi): out of host memory");
        return NULL;
    }
    *m = (mpi_impl){.comm = MPI_COMM_NULL, .bf16_sum = MPI_OP_NULL, .bf16_max = MPI_OP_NULL};
    int rc = MPI_Comm_dup(MPI_COMM_WORLD, &m->comm);
    if (rc == MPI_SUCCESS) rc = MPI_Comm_set_errhandler(m->comm, MPI_ERRORS_RETURN);
    if (rc == MPI_SUCCESS) rc = MPI_Op_create(bf16_sum_fn, 1, &m->bf16_sum);
    if (rc == MPI_SUCCESS) rc = MPI_Op_create(bf16_max_fn, 1, &m->bf16_max);
    if (rc == MPI_SUCCESS) rc = MPI_Comm_rank(m->comm, &c->rank);
    if (rc == MPI_SUCCESS) rc = MPI_Comm_size(m->comm, &c->size);
    *c = (fp8lab_comm){.name = "mpi", .rank = c->rank, .size = c->size, .ops = &MPI_OPS, .impl = m};
    g_live++;
    if (rc != MPI_SUCCESS) {
        fail(c, "communicator setup", 0, FP8LAB_CDT_U8, rc);
        /* keep the error: destroy may finalize MPI, which does not touch fp8lab's error state */
        if (m->bf16_sum != MPI_OP_NULL) MPI_Op_free(&m->bf16_sum);
        if (m->bf16_max != MPI_OP_NULL) MPI_Op_free(&m->bf16_max);
        if (m->comm != MPI_COMM_NULL) MPI_Comm_free(&m->comm);
        if (--g_live == 0 && g_we_initialized) MPI_Finalize();
        free(m);
        free(c);
        return NULL;
    }
    return c;
}
#else
/* MPI not found at configure time: fp8lab_comm_from_env reports it (comm.c); ISO C wants a declaration here */
typedef int fp8lab_comm_mpi_not_built;
#endif
