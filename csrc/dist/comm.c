/* The communicator's front: argument checks shared by every implementation, the single-process implementation
   and the choice of implementation from the launcher's environment. */
#include "dist/comm.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "dist/comm_deferred.h"
#include "dist/comm_mpi.h"
#include "dist/launch.h"

static const struct {
    const char *name;
    size_t size;
} DTYPES[FP8LAB_CDT_COUNT] = {
    [FP8LAB_CDT_F32] = {"float", 4},  [FP8LAB_CDT_BF16] = {"bfloat16", 2}, [FP8LAB_CDT_U8] = {"uint8", 1},
    [FP8LAB_CDT_F64] = {"double", 8}, [FP8LAB_CDT_I64] = {"int64", 8},  [FP8LAB_CDT_I128] = {"int128", 16},
};

static int dtype_ok(fp8lab_comm_dtype dt) { return (int)dt >= 0 && dt < FP8LAB_CDT_COUNT; }

size_t fp8lab_comm_dtype_size(fp8lab_comm_dtype dt) { return dtype_ok(dt) ? DTYPES[dt].size : 0; }

const char *fp8lab_comm_dtype_name(fp8lab_comm_dtype dt) { return dtype_ok(dt) ? DTYPES[dt].name : "invalid"; }

/* ---- single process: rank 0 of 1, every collective a copy (or nothing when in place) ---------------------- */

static void copy_if_apart(const void *send, void *recv, size_t count, fp8lab_comm_dtype dt) {
    if (send != recv) memcpy(recv, send, count * fp8lab_comm_dtype_size(dt));
}

static int single_all_reduce(fp8lab_comm *c, const void *send, void *recv, size_t count, fp8lab_comm_dtype dt,
                             fp8lab_redop op) {
    copy_if_apart(send, recv, count, dt);
    return 0;
}

static int single_all_gather(fp8lab_comm *c, const void *send, void *recv, size_t count, fp8lab_comm_dtype dt) {
    copy_if_apart(send, recv, count, dt);
    return 0;
}

static int single_broadcast(fp8lab_comm *c, void *buf, size_t count, fp8lab_comm_dtype dt, int root) { return 0; }

static int single_barrier(fp8lab_comm *c) { return 0; }

static void single_destroy(fp8lab_comm *c) { free(c); }

static const fp8lab_comm_ops SINGLE_OPS = {
    .all_reduce = single_all_reduce,
    .reduce_scatter = single_all_reduce, /* one rank: its only block is the whole buffer */
    .all_gather = single_all_gather,
    .broadcast = single_broadcast,
    .all_to_all = single_all_gather,
    .barrier = single_barrier,
    .destroy = single_destroy,
};

fp8lab_comm *fp8lab_comm_single(void) {
    fp8lab_comm *c = malloc(sizeof *c);
    if (!c) {
        FP8LAB_ERR_RT("communicator: out of host memory");
        return NULL;
    }
    *c = (fp8lab_comm){.name = "single", .rank = 0, .size = 1, .ops = &SINGLE_OPS};
    return c;
}

/* Open MPI's launcher (mpirun, or srun with Open MPI's PMIx plugin) sets OMPI_COMM_WORLD_SIZE in every rank;
   without it the process is alone and MPI is not started (MPI_Init costs tens of milliseconds and opens
   sockets). */
/* Open MPI's ranks: mpirun sets OMPI_COMM_WORLD_*, srun --mpi=pmix gives each task a PMIx rank */
static int mpi_launched(void) {
    const char *ws = getenv("OMPI_COMM_WORLD_SIZE"), *px = getenv("PMIX_RANK");
    return (ws && ws[0]) || (px && px[0]);
}

fp8lab_comm *fp8lab_comm_from_env(void) {
    fp8lab_launch l;
    if (fp8lab_launch_from_env(&l)) return NULL;
    if (!mpi_launched()) return l.size == 1 ? fp8lab_comm_single() : fp8lab_comm_deferred(&l);
#ifdef FP8LAB_HAVE_MPI
    return fp8lab_comm_mpi();
#else
    FP8LAB_ERR_RT("communicator: started by an MPI launcher (%s, %d ranks) but this fp8lab was built without MPI "
                  "(install libopenmpi-dev, then reconfigure)", l.launcher, l.size);
    return NULL;
#endif
}

int fp8lab_comm_mpi_built(void) {
#ifdef FP8LAB_HAVE_MPI
    return 1;
#else
    return 0;
#endif
}

void fp8lab_comm_destroy(fp8lab_comm *c) {
    if (c && c->ops && c->ops->destroy) c->ops->destroy(c);
}

/* ---- front: argument checks ----------------------------------------------------------------------------------- */

static int comm_ok(fp8lab_comm *c, const char *coll) {
    if (!c || !c->ops) {
        FP8LAB_ERR_RT("%s: no communicator", coll);
        return 0;
    }
    if (c->size < 1 || c->rank < 0 || c->rank >= c->size) {
        FP8LAB_ERR_RT("%s: communicator '%s' has rank %d of size %d", coll, c->name ? c->name : "?", c->rank,
                      c->size);
        return 0;
    }
    return 1;
}

/* count elements of dt times `blocks` as bytes, refused when it does not fit a size_t */
static int bytes_of(fp8lab_comm *c, const char *coll, size_t count, fp8lab_comm_dtype dt, size_t blocks,
                    size_t *bytes) {
    if (!dtype_ok(dt)) {
        FP8LAB_ERR_RT("rank %d/%d %s: invalid dtype %d", c->rank, c->size, coll, (int)dt);
        return 0;
    }
    const size_t es = DTYPES[dt].size;
    if (count > SIZE_MAX / es / blocks) {
        FP8LAB_ERR_RT("rank %d/%d %s: %zu elements of %s times %zu blocks overflow the address space", c->rank,
                      c->size, coll, count, DTYPES[dt].name, blocks);
        return 0;
    }
    *bytes = count * es * blocks;
    return 1;
}

static int ptr_ok(fp8lab_comm *c, const char *coll, const char *what, const void *p, size_t bytes) {
    if (bytes && !p) {
        FP8LAB_ERR_RT("rank %d/%d %s: %s buffer is NULL for %zu bytes", c->rank, c->size, coll, what, bytes);
        return 0;
    }
    return 1;
}

/* MAX over int128 would need a second user op that nothing asks for: the trainer sums fixed-point values */
static int op_ok(fp8lab_comm *c, const char *coll, size_t count, fp8lab_comm_dtype dt, fp8lab_redop op) {
    if (op != FP8LAB_RED_SUM && op != FP8LAB_RED_MAX) {
        FP8LAB_ERR_RT("rank %d/%d %s: invalid reduction op %d", c->rank, c->size, coll, (int)op);
        return 0;
    }
    if (dt == FP8LAB_CDT_I128 && op != FP8LAB_RED_SUM) {
        FP8LAB_ERR_RT("rank %d/%d %s of %zu int128: max is not supported (int128 reduces with sum only)", c->rank,
                      c->size, coll, count);
        return 0;
    }
    return 1;
}

/* The buffers [s, s+sb) and [r, r+rb) either do not overlap or are in place: r == s + in_place_off (recv inside
   send) or s == r + in_place_off (send inside recv); anything else would read data already overwritten. */
static int layout_ok(fp8lab_comm *c, const char *coll, const void *send, size_t sb, const void *recv, size_t rb,
                     int recv_inside, size_t in_place_off) {
    const uintptr_t s = (uintptr_t)send, r = (uintptr_t)recv;
    if (!sb || !rb || s + sb <= r || r + rb <= s) return 1;
    if (recv_inside ? r == s + in_place_off : s == r + in_place_off) return 1;
    FP8LAB_ERR_RT("rank %d/%d %s: send [%p, +%zu) and recv [%p, +%zu) overlap without being in place (in place: "
                  "%s == %s + %zu bytes)", c->rank, c->size, coll, send, sb, recv, rb, recv_inside ? "recv" : "send",
                  recv_inside ? "send" : "recv", in_place_off);
    return 0;
}

static int all_reduce_ok(fp8lab_comm *c, const char *coll, const void *send, const void *recv, size_t count,
                         fp8lab_comm_dtype dt, fp8lab_redop op) {
    size_t b;
    return comm_ok(c, coll) && bytes_of(c, coll, count, dt, 1, &b) && op_ok(c, coll, count, dt, op) &&
           ptr_ok(c, coll, "send", send, b) && ptr_ok(c, coll, "recv", recv, b) &&
           layout_ok(c, coll, send, b, recv, b, 1, 0);
}

int fp8lab_all_reduce(fp8lab_comm *c, const void *send, void *recv, size_t count, fp8lab_comm_dtype dt,
                      fp8lab_redop op) {
    if (!all_reduce_ok(c, "all_reduce", send, recv, count, dt, op)) return -1;
    return count ? c->ops->all_reduce(c, send, recv, count, dt, op) : 0;
}

int fp8lab_reduce_scatter(fp8lab_comm *c, const void *send, void *recv, size_t count, fp8lab_comm_dtype dt,
                          fp8lab_redop op) {
    const char *coll = "reduce_scatter";
    size_t sb, rb;
    if (!comm_ok(c, coll) || !bytes_of(c, coll, count, dt, (size_t)c->size, &sb) ||
        !bytes_of(c, coll, count, dt, 1, &rb) || !op_ok(c, coll, count, dt, op) || !ptr_ok(c, coll, "send", send, sb) ||
        !ptr_ok(c, coll, "recv", recv, rb) || !layout_ok(c, coll, send, sb, recv, rb, 1, rb * (size_t)c->rank))
        return -1;
    return count ? c->ops->reduce_scatter(c, send, recv, count, dt, op) : 0;
}

int fp8lab_all_gather(fp8lab_comm *c, const void *send, void *recv, size_t count, fp8lab_comm_dtype dt) {
    const char *coll = "all_gather";
    size_t sb, rb;
    if (!comm_ok(c, coll) || !bytes_of(c, coll, count, dt, 1, &sb) ||
        !bytes_of(c, coll, count, dt, (size_t)c->size, &rb) || !ptr_ok(c, coll, "send", send, sb) ||
        !ptr_ok(c, coll, "recv", recv, rb) || !layout_ok(c, coll, send, sb, recv, rb, 0, sb * (size_t)c->rank))
        return -1;
    return count ? c->ops->all_gather(c, send, recv, count, dt) : 0;
}

int fp8lab_broadcast(fp8lab_comm *c, void *buf, size_t count, fp8lab_comm_dtype dt, int root) {
    const char *coll = "broadcast";
    size_t b;
    if (!comm_ok(c, coll) || !bytes_of(c, coll, count, dt, 1, &b) || !ptr_ok(c, coll, "buf", buf, b)) return -1;
    if (root < 0 || root >= c->size) {
        FP8LAB_ERR_RT("rank %d/%d %s: root %d is not a rank (0..%d)", c->rank, c->size, coll, root, c->size - 1);
        return -1;
    }
    return count ? c->ops->broadcast(c, buf, count, dt, root) : 0;
}

int fp8lab_all_to_all(fp8lab_comm *c, const void *send, void *recv, size_t count, fp8lab_comm_dtype dt) {
    const char *coll = "all_to_all";
    size_t b;
    if (!comm_ok(c, coll) || !bytes_of(c, coll, count, dt, (size_t)c->size, &b) ||
        !ptr_ok(c, coll, "send", send, b) || !ptr_ok(c, coll, "recv", recv, b) ||
        !layout_ok(c, coll, send, b, recv, b, 1, 0))
        return -1;
    return count ? c->ops->all_to_all(c, send, recv, count, dt) : 0;
}

int fp8lab_barrier(fp8lab_comm *c) {
    if (!comm_ok(c, "barrier")) return -1;
    return c->ops->barrier(c);
}

/* ---- non-blocking all-reduce ------------------------------------------------------------------------------------ */

/* An implementation without a non-blocking form (single process, test doubles) still serves callers that overlap:
   the reduction runs here, and the NULL request it returns is complete. */
int fp8lab_all_reduce_start(fp8lab_comm *c, const void *send, void *recv, size_t count, fp8lab_comm_dtype dt,
                            fp8lab_redop op, fp8lab_comm_req **req) {
    if (!req) {
        FP8LAB_ERR_RT("all_reduce_start: no place for the request (req is NULL)");
        return -1;
    }
    *req = NULL;
    if (!all_reduce_ok(c, "all_reduce_start", send, recv, count, dt, op)) return -1;
    if (!count) return 0;
    if (!c->ops->all_reduce_start) return c->ops->all_reduce(c, send, recv, count, dt, op);
    return c->ops->all_reduce_start(c, send, recv, count, dt, op, req);
}

int fp8lab_comm_wait(fp8lab_comm *c, fp8lab_comm_req *req) {
    if (!req) return 0;
    if (!comm_ok(c, "wait")) return -1;
    return c->ops->wait(c, req);
}

int fp8lab_comm_test(fp8lab_comm *c, fp8lab_comm_req *req, int *done) {
    if (!done) {
        FP8LAB_ERR_RT("test: no place for the answer (done is NULL)");
        return -1;
    }
    *done = 1;
    if (!req) return 0;
    *done = 0;
    if (!comm_ok(c, "test")) return -1;
    return c->ops->test(c, req, done);
}
