#include "dist/comm_deferred.h"

#include <stdlib.h>
#include <string.h>

#include "backend/mem_ops.h"
#include "core/error.h"

typedef struct {
    fp8lab_comm *device; /* NULL until attached */
    fp8lab_backend *be;
    void *scratch;       /* device memory for the staged buffers */
    size_t bytes;
    const char *launcher;
} deferred_impl;

static int not_yet(fp8lab_comm *c, const char *coll) {
    const deferred_impl *d = c->impl;
    FP8LAB_ERR_RT("rank %d/%d %s: this job was started by %s without MPI, so its collectives run on the NCCL "
                  "communicator of the CUDA backend (--device cuda, FP8LAB_RENDEZVOUS=file:PATH or tcp:HOST:PORT); "
                  "CPU ranks need an MPI launch (mpirun, or srun --mpi=pmix with Open MPI)",
                  c->rank, c->size, coll, d->launcher);
    return -1;
}

/* device scratch of at least n bytes */
static char *scratch(deferred_impl *d, size_t n) {
    if (n > d->bytes) {
        fp8lab_free(d->be, d->scratch);
        d->scratch = fp8lab_alloc(d->be, n);
        d->bytes = d->scratch ? n : 0;
    }
    return d->scratch;
}

/* Host [send, send+sb) -> device, the collective on the device copies (in place when the caller's are), device
   [recv part] -> host. The device layout mirrors the host's: recv lands at the same offset from send. */
typedef int (*staged_fn)(fp8lab_comm *dev, const void *send, void *recv, size_t count, fp8lab_comm_dtype dt, int arg);

static int staged(fp8lab_comm *c, const char *coll, const void *send, size_t sb, void *recv, size_t rb, size_t count,
                  fp8lab_comm_dtype dt, int arg, staged_fn fn) {
    deferred_impl *d = c->impl;
    if (!d->device) return not_yet(c, coll);
    const int in_place = (const char *)recv >= (const char *)send && (const char *)recv + rb <= (const char *)send + sb;
    const size_t total = in_place ? sb : sb + rb;
    char *dev = scratch(d, total ? total : 1);
    if (!dev) return -1;
    char *dsend = dev, *drecv = in_place ? dev + ((const char *)recv - (const char *)send) : dev + sb;
    if (!in_place && (const char *)send >= (const char *)recv && (const char *)send + sb <= (const char *)recv + rb) {
        /* send inside recv (all_gather in place): stage recv, the send block sits inside it */
        drecv = dev;
        dsend = dev + ((const char *)send - (const char *)recv);
        return fp8lab_copy_h2d(d->be, drecv, recv, rb) || fn(d->device, dsend, drecv, count, dt, arg) ||
                       fp8lab_copy_d2h(d->be, recv, drecv, rb)
                   ? -1
                   : 0;
    }
    return fp8lab_copy_h2d(d->be, dsend, send, sb) || fn(d->device, dsend, drecv, count, dt, arg) ||
                   fp8lab_copy_d2h(d->be, recv, drecv, rb)
               ? -1
               : 0;
}

static int f_all_reduce(fp8lab_comm *dev, const void *s, void *r, size_t n, fp8lab_comm_dtype dt, int op) {
    return fp8lab_all_reduce(dev, s, r, n, dt, (fp8lab_redop)op);
}
static int f_reduce_scatter(fp8lab_comm *dev, const void *s, void *r, size_t n, fp8lab_comm_dtype dt, int op) {
    return fp8lab_reduce_scatter(dev, s, r, n, dt, (fp8lab_redop)op);
}
static int f_all_gather(fp8lab_comm *dev, const void *s, void *r, size_t n, fp8lab_comm_dtype dt, int unused) {
    return fp8lab_all_gather(dev, s, r, n, dt);
}
static int f_all_to_all(fp8lab_comm *dev, const void *s, void *r, size_t n, fp8lab_comm_dtype dt, int unused) {
    return fp8lab_all_to_all(dev, s, r, n, dt);
}

static int d_all_reduce(fp8lab_comm *c, const void *send, void *recv, size_t count, fp8lab_comm_dtype dt,
                        fp8lab_redop op) {
    const size_t b = count * fp8lab_comm_dtype_size(dt);
    return staged(c, "all_reduce", send, b, recv, b, count, dt, (int)op, f_all_reduce);
}

static int d_reduce_scatter(fp8lab_comm *c, const void *send, void *recv, size_t count, fp8lab_comm_dtype dt,
                            fp8lab_redop op) {
    const size_t b = count * fp8lab_comm_dtype_size(dt);
    return staged(c, "reduce_scatter", send, b * (size_t)c->size, recv, b, count, dt, (int)op, f_reduce_scatter);
}

static int d_all_gather(fp8lab_comm *c, const void *send, void *recv, size_t count, fp8lab_comm_dtype dt) {
    const size_t b = count * fp8lab_comm_dtype_size(dt);
    return staged(c, "all_gather", send, b, recv, b * (size_t)c->size, count, dt, 0, f_all_gather);
}

static int d_all_to_all(fp8lab_comm *c, const void *send, void *recv, size_t count, fp8lab_comm_dtype dt) {
    const size_t b = count * fp8lab_comm_dtype_size(dt) * (size_t)c->size;
    return staged(c, "all_to_all", send, b, recv, b, count, dt, 0, f_all_to_all);
}

static int d_broadcast(fp8lab_comm *c, void *buf, size_t count, fp8lab_comm_dtype dt, int root) {
    deferred_impl *d = c->impl;
    if (!d->device) return not_yet(c, "broadcast");
    const size_t b = count * fp8lab_comm_dtype_size(dt);
    char *dev = scratch(d, b ? b : 1);
    return !dev || fp8lab_copy_h2d(d->be, dev, buf, b) || fp8lab_broadcast(d->device, dev, count, dt, root) ||
                   fp8lab_copy_d2h(d->be, buf, dev, b)
               ? -1
               : 0;
}

static int d_barrier(fp8lab_comm *c) {
    deferred_impl *d = c->impl;
    return d->device ? fp8lab_barrier(d->device) : not_yet(c, "barrier");
}

static void d_destroy(fp8lab_comm *c) {
    deferred_impl *d = c->impl;
    if (d->scratch) fp8lab_free(d->be, d->scratch);
    free(d);
    free(c);
}

static const fp8lab_comm_ops DEFERRED_OPS = {
    .all_reduce = d_all_reduce,
    .reduce_scatter = d_reduce_scatter,
    .all_gather = d_all_gather,
    .broadcast = d_broadcast,
    .all_to_all = d_all_to_all,
    .barrier = d_barrier,
    .destroy = d_destroy,
};

fp8lab_comm *fp8lab_comm_deferred(const fp8lab_launch *l) {
    fp8lab_comm *c = malloc(sizeof *c);
    deferred_impl *d = calloc(1, sizeof *d);
    if (!c || !d) {
        free(c);
        free(d);
        FP8LAB_ERR_RT("communicator: out of host memory");
        return NULL;
    }
    d->launcher = !strcmp(l->launcher, "env") ? "FP8LAB_RANK/FP8LAB_WORLD_SIZE" : l->launcher;
    *c = (fp8lab_comm){.name = "deferred", .rank = l->rank, .size = l->size, .ops = &DEFERRED_OPS, .impl = d};
    return c;
}

int fp8lab_comm_is_deferred(const fp8lab_comm *c) { return c && c->ops == &DEFERRED_OPS; }

int fp8lab_comm_attach(fp8lab_comm *c, fp8lab_comm *device, fp8lab_backend *be) {
    if (!fp8lab_comm_is_deferred(c) || !device || device->rank != c->rank || device->size != c->size) {
        FP8LAB_ERR_RT("communicator: attaching a device communicator of rank %d/%d to rank %d/%d (%s)",
                      device ? device->rank : -1, device ? device->size : 0, c ? c->rank : -1, c ? c->size : 0,
                      c ? c->name : "none");
        return -1;
    }
    deferred_impl *d = c->impl;
    d->device = device, d->be = be;
    c->name = "nccl (staged)";
    return 0;
}
