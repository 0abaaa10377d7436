/* The NCCL communicator (dist/comm_nccl_module.h): one process per GPU, buffers in the CUDA backend's device
   memory. Each communicator has its own stream; a collective first waits (through events) for the work queued
   on the backend's stream and on the legacy default stream, since those kernels produced its buffers, and is
   finished before it returns, as comm.h promises. The communicator is non-blocking (NCCL's config.blocking = 0)
   and every wait polls ncclCommGetAsyncError with a deadline (FP8LAB_COMM_TIMEOUT seconds, default 600): a
   rank that died or hangs shows up as an error naming this rank and the collective, and the communicator is
   aborted instead of hanging the job. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dist/comm_nccl_module.h"
#include "host_api.cuh"
#include "internal.cuh"

#ifdef FP8LAB_HAVE_NCCL
#include <nccl.h>

#include <new>

/* A non-blocking all-reduce in flight (comm.h): the event recorded on the communicator's stream after it. */
struct fp8lab_comm_req {
    cudaEvent_t done;
    size_t count;
    fp8lab_comm_dtype dt;
};

namespace {

static_assert(sizeof(ncclUniqueId) == FP8LAB_NCCL_ID_BYTES, "ncclUniqueId is not 128 bytes");

struct nccl_impl {
    ncclComm_t comm;         /* NULL once aborted or destroyed */
    cudaStream_t stream;     /* the communicator's own */
    cudaStream_t be_stream;  /* the backend's, whose kernels produce and consume the buffers */
    cudaEvent_t be_ready, legacy_ready, done;
    float *one;              /* barrier: an all_reduce of one float */
    int device;
    double timeout_s;
    const char *aborted;     /* why, once the communicator was aborted; later calls fail with it */
};

/* The call a message is about: "rank R/N all_reduce of COUNT float (nccl): ..." */
struct call_ctx {
    fp8lab_comm *c;
    const char *coll;
    size_t count;
    fp8lab_comm_dtype dt;
    bool sized; /* false for setup and teardown: no "of COUNT dtype" */
};

nccl_impl *impl_of(fp8lab_comm *c) { return (nccl_impl *)c->impl; }

const char *dt_name(fp8lab_comm_dtype dt) {
    static const char *names[FP8LAB_CDT_COUNT] = {"float", "bfloat16", "uint8", "double", "int64", "int128"};
    return (int)dt >= 0 && dt < FP8LAB_CDT_COUNT ? names[dt] : "invalid";
}

size_t dt_size(fp8lab_comm_dtype dt) {
    static const size_t sizes[FP8LAB_CDT_COUNT] = {4, 2, 1, 8, 8, 16};
    return (int)dt >= 0 && dt < FP8LAB_CDT_COUNT ? sizes[dt] : 0;
}

/* NCCL has no 128-bit integers: they travel as bytes (nccl_count), and reductions refuse them (no_i128). */
ncclDataType_t nccl_type(fp8lab_comm_dtype dt) {
    switch (dt) {
    case FP8LAB_CDT_I128: return ncclUint8;
    case FP8LAB_CDT_BF16: return ncclBfloat16;
    case FP8LAB_CDT_U8: return ncclUint8;
    case FP8LAB_CDT_F64: return ncclFloat64;
    case FP8LAB_CDT_I64: return ncclInt64;
    default: return ncclFloat32;
    }
}

size_t nccl_count(fp8lab_comm_dtype dt, size_t count) { return dt == FP8LAB_CDT_I128 ? count * 16 : count; }

ncclRedOp_t nccl_op(fp8lab_redop op) { return op == FP8LAB_RED_MAX ? ncclMax : ncclSum; }

double now_s() {
    timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

__attribute__((format(printf, 4, 5))) int report(const char *file, int line, const call_ctx &k, const char *fmt,
                                                 ...) {
    char cause[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cause, sizeof cause, fmt, ap);
    va_end(ap);
    if (k.sized)
        fp8lab_set_error(file, line, FP8LAB_EXIT_RUNTIME, "rank %d/%d %s of %zu %s (nccl): %s", k.c->rank,
                         k.c->size, k.coll, k.count, dt_name(k.dt), cause);
    else
        fp8lab_set_error(file, line, FP8LAB_EXIT_RUNTIME, "rank %d/%d %s (nccl): %s", k.c->rank, k.c->size, k.coll,
                         cause);
    return -1;
}

/* After an NCCL failure the communicator's state is unknown (peers may be blocked in the same collective):
   abort it so that they fail too rather than hang, and so later calls here fail at once. */
void abort_comm(nccl_impl *m, const char *why) {
    if (m->comm) ncclCommAbort(m->comm);
    m->comm = nullptr;
    m->aborted = why;
}

int nccl_fail(const char *file, int line, const call_ctx &k, const char *call, ncclResult_t r) {
    nccl_impl *m = impl_of(k.c);
    const char *last = m->comm ? ncclGetLastError(m->comm) : "";
    const int name_len = (int)strcspn(call, "(");
    report(file, line, k, "%.*s failed: %s%s%s; communicator aborted", name_len, call, ncclGetErrorString(r),
           last && *last ? ": " : "", last ? last : "");
    abort_comm(m, "an earlier NCCL error");
    return -1;
}

int cuda_fail(const char *file, int line, const call_ctx &k, const char *call, cudaError_t e) {
    const int name_len = (int)strcspn(call, "(");
    report(file, line, k, "%.*s failed: %s: %s (hint: %s)", name_len, call, cudaGetErrorName(e),
           cudaGetErrorString(e), fp8lab_cuda_hint(e));
    return -1;
}

/* ncclInProgress is a non-blocking communicator's "queued, not done": the waits below settle it. */
#define NCCL_CK(k, call)                                                                                      \
    do {                                                                                                      \
        const ncclResult_t r_ = (call);                                                                       \
        if (r_ != ncclSuccess && r_ != ncclInProgress) return nccl_fail(__FILE__, __LINE__, k, #call, r_);    \
    } while (0)

#define CUDA_CK(k, call)                                                                                      \
    do {                                                                                                      \
        const cudaError_t e_ = (call);                                                                        \
        if (e_ != cudaSuccess) return cuda_fail(__FILE__, __LINE__, k, #call, e_);                            \
    } while (0)

void pause_briefly(unsigned spin) {
    if (spin < 1000) return; /* small collectives finish within microseconds: spin first */
    timespec t = {0, 50000};
    nanosleep(&t, nullptr);
}

int timed_out(const call_ctx &k, nccl_impl *m) {
    report(__FILE__, __LINE__, k, "no progress within %g s (FP8LAB_COMM_TIMEOUT); communicator aborted (hint: a "
           "rank died, hangs, or is in another collective)", m->timeout_s);
    abort_comm(m, "a timeout");
    return -1;
}

/* Polls until the communicator's pending call has settled (a non-blocking communicator returns before its work
   is queued) and, when `ev` is given, until that event on its stream has completed. */
int wait_comm(const call_ctx &k, cudaEvent_t ev) {
    nccl_impl *m = impl_of(k.c);
    const double deadline = now_s() + m->timeout_s;
    for (unsigned spin = 0;; spin++) {
        ncclResult_t async = ncclSuccess;
        const ncclResult_t r = ncclCommGetAsyncError(m->comm, &async);
        if (r != ncclSuccess) return nccl_fail(__FILE__, __LINE__, k, "ncclCommGetAsyncError", r);
        if (async != ncclSuccess && async != ncclInProgress)
            return nccl_fail(__FILE__, __LINE__, k, "asynchronous NCCL operation", async);
        if (async == ncclSuccess) {
            const cudaError_t q = ev ? cudaEventQuery(ev) : cudaSuccess;
            if (q == cudaSuccess) return 0;
            if (q != cudaErrorNotReady) {
                cuda_fail(__FILE__, __LINE__, k, "cudaEventQuery", q);
                abort_comm(m, "an earlier CUDA error");
                return -1;
            }
        }
        if (now_s() > deadline) return timed_out(k, m);
        pause_briefly(spin);
    }
}

/* Before enqueueing: the communicator is alive and its stream waits for the kernels that made the buffers. */
int begin(const call_ctx &k) {
    nccl_impl *m = impl_of(k.c);
    if (!m->comm)
        return report(__FILE__, __LINE__, k, "the communicator was aborted after %s",
                      m->aborted ? m->aborted : "a failure");
    CUDA_CK(k, cudaSetDevice(m->device));
    CUDA_CK(k, cudaEventRecord(m->be_ready, m->be_stream));
    CUDA_CK(k, cudaStreamWaitEvent(m->stream, m->be_ready, 0));
    CUDA_CK(k, cudaEventRecord(m->legacy_ready, cudaStreamLegacy));
    CUDA_CK(k, cudaStreamWaitEvent(m->stream, m->legacy_ready, 0));
    return 0;
}

/* After enqueueing: blocking from the caller's view (comm.h), with the deadline. */
int finish(const call_ctx &k) {
    nccl_impl *m = impl_of(k.c);
    if (wait_comm(k, nullptr)) return -1;
    CUDA_CK(k, cudaEventRecord(m->done, m->stream));
    return wait_comm(k, m->done);
}

/* 128-bit fixed-point sums would need a reduction kernel of our own; the MPI communicator has one. */
int no_i128(const call_ctx &k) {
    if (k.dt != FP8LAB_CDT_I128) return 0;
    return report(__FILE__, __LINE__, k, "NCCL cannot reduce 128-bit integers (hint: the MPI communicator "
                  "can; on NCCL sum int64 or double)");
}

/* ---- collectives ------------------------------------------------------------------------------------------- */

int nccl_all_reduce(fp8lab_comm *c, const void *send, void *recv, size_t count, fp8lab_comm_dtype dt,
                    fp8lab_redop op) {
    const call_ctx k = {c, "all_reduce", count, dt, true};
    nccl_impl *m = impl_of(c);
    if (no_i128(k) || begin(k)) return -1;
    NCCL_CK(k, ncclAllReduce(send, recv, count, nccl_type(dt), nccl_op(op), m->comm, m->stream));
    return finish(k);
}

/* The same enqueued on the communicator's stream behind the backend's work, returning at once: the backward's
   next kernels run on the backend's stream while this bucket travels (the overlap of train/dp.h's buckets). */
int nccl_all_reduce_start(fp8lab_comm *c, const void *send, void *recv, size_t count, fp8lab_comm_dtype dt,
                          fp8lab_redop op, fp8lab_comm_req **req) {
    const call_ctx k = {c, "all_reduce_start", count, dt, true};
    nccl_impl *m = impl_of(c);
    *req = nullptr;
    if (no_i128(k) || begin(k)) return -1;
    NCCL_CK(k, ncclAllReduce(send, recv, count, nccl_type(dt), nccl_op(op), m->comm, m->stream));
    if (wait_comm(k, nullptr)) return -1; /* the non-blocking communicator's enqueue settled, not the reduction */
    fp8lab_comm_req *r = new (std::nothrow) fp8lab_comm_req{nullptr, count, dt};
    if (!r) return report(__FILE__, __LINE__, k, "out of host memory for the request");
    const cudaError_t e = cudaEventCreateWithFlags(&r->done, cudaEventDisableTiming);
    const cudaError_t e2 = e == cudaSuccess ? cudaEventRecord(r->done, m->stream) : e;
    if (e2 != cudaSuccess) {
        if (e == cudaSuccess) cudaEventDestroy(r->done);
        delete r;
        return cuda_fail(__FILE__, __LINE__, k, e == cudaSuccess ? "cudaEventRecord" : "cudaEventCreate", e2);
    }
    *req = r;
    return 0;
}

/* Completes and frees r, under the deadline. */
int nccl_wait(fp8lab_comm *c, fp8lab_comm_req *r) {
    const call_ctx k = {c, "all_reduce (wait)", r->count, r->dt, true};
    const int rc = impl_of(c)->comm ? wait_comm(k, r->done) : begin(k);
    cudaEventDestroy(r->done);
    delete r;
    return rc;
}

/* Progress without blocking: an asynchronous NCCL error surfaces here too. */
int nccl_test(fp8lab_comm *c, fp8lab_comm_req *r, int *done) {
    const call_ctx k = {c, "all_reduce (test)", r->count, r->dt, true};
    nccl_impl *m = impl_of(c);
    *done = 0;
    if (!m->comm) return begin(k); /* aborted: reports why */
    ncclResult_t async = ncclSuccess;
    const ncclResult_t res = ncclCommGetAsyncError(m->comm, &async);
    if (res != ncclSuccess) return nccl_fail(__FILE__, __LINE__, k, "ncclCommGetAsyncError", res);
    if (async != ncclSuccess && async != ncclInProgress)
        return nccl_fail(__FILE__, __LINE__, k, "asynchronous NCCL operation", async);
    const cudaError_t q = cudaEventQuery(r->done);
    if (q != cudaSuccess && q != cudaErrorNotReady) return cuda_fail(__FILE__, __LINE__, k, "cudaEventQuery", q);
    *done = q == cudaSuccess;
    return 0;
}

/* NCCL's in-place forms are comm.h's: recv == send + rank * count here, send == recv + rank * count in
   all_gather. */
int nccl_reduce_scatter(fp8lab_comm *c, const void *send, void *recv, size_t count, fp8lab_comm_dtype dt,
                        fp8lab_redop op) {
    const call_ctx k = {c, "reduce_scatter", count, dt, true};
    nccl_impl *m = impl_of(c);
    if (no_i128(k) || begin(k)) return -1;
    NCCL_CK(k, ncclReduceScatter(send, recv, count, nccl_type(dt), nccl_op(op), m->comm, m->stream));
    return finish(k);
}

int nccl_all_gather(fp8lab_comm *c, const void *send, void *recv, size_t count, fp8lab_comm_dtype dt) {
    const call_ctx k = {c, "all_gather", count, dt, true};
    nccl_impl *m = impl_of(c);
    if (begin(k)) return -1;
    NCCL_CK(k, ncclAllGather(send, recv, nccl_count(dt, count), nccl_type(dt), m->comm, m->stream));
    return finish(k);
}

int nccl_broadcast(fp8lab_comm *c, void *buf, size_t count, fp8lab_comm_dtype dt, int root) {
    const call_ctx k = {c, "broadcast", count, dt, true};
    nccl_impl *m = impl_of(c);
    if (begin(k)) return -1;
    NCCL_CK(k, ncclBroadcast(buf, buf, nccl_count(dt, count), nccl_type(dt), root, m->comm, m->stream));
    return finish(k);
}

/* One send and one receive per peer in one group, so that NCCL schedules them together without deadlock. The
   group is closed even after a failed call inside it: an open group would swallow this thread's later calls. */
int send_recv_all(const call_ctx &k, const char *src, char *dst, size_t count, size_t block_bytes) {
    nccl_impl *m = impl_of(k.c);
    NCCL_CK(k, ncclGroupStart());
    ncclResult_t first = ncclSuccess;
    const char *what = "ncclGroupEnd";
    for (int r = 0; r < k.c->size && (first == ncclSuccess || first == ncclInProgress); r++) {
        const size_t off = block_bytes * (size_t)r, n = nccl_count(k.dt, count);
        first = ncclSend(src + off, n, nccl_type(k.dt), r, m->comm, m->stream);
        what = "ncclSend";
        if (first == ncclSuccess || first == ncclInProgress) {
            first = ncclRecv(dst + off, n, nccl_type(k.dt), r, m->comm, m->stream);
            what = "ncclRecv";
        }
    }
    const ncclResult_t end = ncclGroupEnd();
    if (first != ncclSuccess && first != ncclInProgress) return nccl_fail(__FILE__, __LINE__, k, what, first);
    if (end != ncclSuccess && end != ncclInProgress) return nccl_fail(__FILE__, __LINE__, k, "ncclGroupEnd", end);
    return 0;
}

/* In place, a block could be overwritten by a receive before it is sent: the input is copied aside first. */
int nccl_all_to_all(fp8lab_comm *c, const void *send, void *recv, size_t count, fp8lab_comm_dtype dt) {
    const call_ctx k = {c, "all_to_all", count, dt, true};
    nccl_impl *m = impl_of(c);
    const size_t block = count * dt_size(dt), bytes = block * (size_t)c->size;
    if (begin(k)) return -1;
    void *copy = nullptr;
    if (send == recv) {
        CUDA_CK(k, cudaMallocAsync(&copy, bytes, m->stream));
        CUDA_CK(k, cudaMemcpyAsync(copy, send, bytes, cudaMemcpyDeviceToDevice, m->stream));
    }
    int rc = send_recv_all(k, (const char *)(copy ? copy : send), (char *)recv, count, block);
    if (rc == 0) rc = finish(k);
    if (copy) cudaFreeAsync(copy, m->stream); /* stream-ordered: after the sends that read it */
    return rc;
}

int nccl_barrier(fp8lab_comm *c) {
    const call_ctx k = {c, "barrier", 1, FP8LAB_CDT_F32, true};
    nccl_impl *m = impl_of(c);
    if (begin(k)) return -1;
    NCCL_CK(k, ncclAllReduce(m->one, m->one, 1, ncclFloat32, ncclSum, m->comm, m->stream));
    return finish(k);
}

/* Best effort: a destructor cannot report. A clean finalize lets peers finish their last collective; when it
   fails or times out the communicator is aborted instead. */
void release(fp8lab_comm *c) {
    nccl_impl *m = impl_of(c);
    cudaSetDevice(m->device);
    if (m->comm) {
        const call_ctx k = {c, "destroy", 0, FP8LAB_CDT_U8, false};
        const ncclResult_t r = ncclCommFinalize(m->comm);
        if ((r == ncclSuccess || r == ncclInProgress) && wait_comm(k, nullptr) == 0)
            ncclCommDestroy(m->comm);
        else
            abort_comm(m, "destroy");
    }
    if (m->stream) cudaStreamDestroy(m->stream);
    if (m->be_ready) cudaEventDestroy(m->be_ready);
    if (m->legacy_ready) cudaEventDestroy(m->legacy_ready);
    if (m->done) cudaEventDestroy(m->done);
    if (m->one) cudaFree(m->one);
}

void nccl_destroy(fp8lab_comm *c) {
    if (!c) return;
    if (c->impl) release(c);
    free(c->impl);
    free(c);
}

const fp8lab_comm_ops NCCL_OPS = {
    .all_reduce = nccl_all_reduce,
    .reduce_scatter = nccl_reduce_scatter,
    .all_gather = nccl_all_gather,
    .broadcast = nccl_broadcast,
    .all_to_all = nccl_all_to_all,
    .barrier = nccl_barrier,
    .destroy = nccl_destroy,
    .all_reduce_start = nccl_all_reduce_start,
    .wait = nccl_wait,
    .test = nccl_test,
};

/* ---- setup ------------------------------------------------------------------------------------------------- */

/* FP8LAB_COMM_TIMEOUT: seconds, a positive number; the host's parser is not linked into this library. */
int comm_timeout(double *out) {
    const char *s = getenv("FP8LAB_COMM_TIMEOUT");
    *out = 600.0;
    if (!s) return 0;
    char *end = nullptr;
    const double v = strtod(s, &end);
    const bool plain = (s[0] >= '0' && s[0] <= '9') || s[0] == '.'; /* no blanks, signs, "inf" */
    if (plain && end && !*end && isfinite(v) && v > 0 && v <= 1e7) {
        *out = v;
        return 0;
    }
    FP8LAB_ERR("communicator (nccl): FP8LAB_COMM_TIMEOUT='%.40s' is not a number of seconds in (0, 1e7]", s);
    return -1;
}

int setup_cuda(const call_ctx &k, fp8lab_backend *be) {
    nccl_impl *m = impl_of(k.c);
    const fp8lab_cuda_ctx *bc = fp8lab_cuda_ctx_of(be);
    m->device = bc->device;
    m->be_stream = bc->stream;
    CUDA_CK(k, cudaSetDevice(m->device));
    CUDA_CK(k, cudaStreamCreateWithFlags(&m->stream, cudaStreamNonBlocking));
    CUDA_CK(k, cudaEventCreateWithFlags(&m->be_ready, cudaEventDisableTiming));
    CUDA_CK(k, cudaEventCreateWithFlags(&m->legacy_ready, cudaEventDisableTiming));
    CUDA_CK(k, cudaEventCreateWithFlags(&m->done, cudaEventDisableTiming));
    CUDA_CK(k, cudaMalloc(&m->one, sizeof(float)));
    CUDA_CK(k, cudaMemset(m->one, 0, sizeof(float)));
    return 0;
}

/* Every rank blocks here until all have joined (or the deadline passes: the communicator is then aborted). */
int setup_nccl(const call_ctx &k, const unsigned char *id) {
    nccl_impl *m = impl_of(k.c);
    ncclUniqueId uid;
    memcpy(&uid, id, sizeof uid);
    ncclConfig_t cfg = NCCL_CONFIG_INITIALIZER;
    cfg.blocking = 0;
    const ncclResult_t r = ncclCommInitRankConfig(&m->comm, k.c->size, uid, k.c->rank, &cfg);
    if (r != ncclSuccess && r != ncclInProgress) return nccl_fail(__FILE__, __LINE__, k, "ncclCommInitRankConfig", r);
    return wait_comm(k, nullptr);
}

bool args_ok(int rank, int size, fp8lab_backend *be) {
    if (!be || !be->name || strcmp(be->name, "cuda") != 0 || !be->ctx) {
        FP8LAB_ERR("communicator (nccl): needs the CUDA backend, got '%s'", be && be->name ? be->name : "none");
        return false;
    }
    /* a wrapper (the recorder) is named "cuda" too, but its ctx is not ours */
    if (be->mem != &fp8lab_cuda_mem_ops) {
        FP8LAB_ERR("communicator (nccl): backend 'cuda' is a wrapper, not this library's backend (hint: pass the "
                   "inner backend)");
        return false;
    }
    if (size < 1 || rank < 0 || rank >= size) {
        FP8LAB_ERR("communicator (nccl): rank %d is not one of 0..%d", rank, size - 1);
        return false;
    }
    return true;
}

fp8lab_comm *nccl_create(const unsigned char id[FP8LAB_NCCL_ID_BYTES], int rank, int size, fp8lab_backend *be) {
    double timeout = 0;
    if (!id || !args_ok(rank, size, be) || comm_timeout(&timeout)) return nullptr;
    fp8lab_comm *c = (fp8lab_comm *)calloc(1, sizeof *c);
    nccl_impl *m = (nccl_impl *)calloc(1, sizeof *m);
    if (!c || !m) {
        free(c);
        free(m);
        FP8LAB_ERR_RT("communicator (nccl): out of host memory");
        return nullptr;
    }
    m->timeout_s = timeout;
    *c = fp8lab_comm{.name = "nccl", .rank = rank, .size = size, .ops = &NCCL_OPS, .impl = m};
    const call_ctx k = {c, "communicator setup", 0, FP8LAB_CDT_U8, false};
    if (setup_cuda(k, be) || setup_nccl(k, id)) {
        nccl_destroy(c); /* keeps the error: teardown reports nothing */
        return nullptr;
    }
    return c;
}

int nccl_unique_id(unsigned char id[FP8LAB_NCCL_ID_BYTES]) {
    ncclUniqueId uid;
    const ncclResult_t r = ncclGetUniqueId(&uid);
    if (r != ncclSuccess) {
        FP8LAB_ERR_RT("communicator (nccl): ncclGetUniqueId failed: %s (hint: NCCL_DEBUG=WARN tells more; rank 0 "
                      "needs a usable network interface, NCCL_SOCKET_IFNAME picks one)", ncclGetErrorString(r));
        return -1;
    }
    memcpy(id, &uid, sizeof uid);
    return 0;
}

} // namespace

/* The library's second exported symbol (FP8LAB_CUDA_NCCL_ENTRY), beside the backend's. */
extern "C" __attribute__((visibility("default"))) const fp8lab_nccl_module *
fp8lab_cuda_nccl_entry(int abi, const fp8lab_host_api *host) {
    if (!host || !host->set_error) return nullptr;
    fp8lab_cuda_set_host(host);
    if (abi != FP8LAB_NCCL_ABI) {
        FP8LAB_ERR_RT("communicator (nccl): %s was built for NCCL module ABI %d, this fp8lab uses %d (hint: rebuild "
                      "them together)", FP8LAB_CUDA_LIB_NAME, FP8LAB_NCCL_ABI, abi);
        return nullptr;
    }
    static fp8lab_nccl_module mod = {.nccl_version = 0, .get_unique_id = nccl_unique_id, .create = nccl_create};
    if (!mod.nccl_version && ncclGetVersion(&mod.nccl_version) != ncclSuccess) mod.nccl_version = NCCL_VERSION_CODE;
    return &mod;
}

#else /* CMake found no nccl.h / libnccl: the library builds, and says why there is no communicator */

extern "C" __attribute__((visibility("default"))) const fp8lab_nccl_module *
fp8lab_cuda_nccl_entry(int abi, const fp8lab_host_api *host) {
    if (!host || !host->set_error) return nullptr;
    fp8lab_cuda_set_host(host);
    FP8LAB_ERR_RT("communicator (nccl): this build has no NCCL: %s was built without nccl.h/libnccl (hint: install "
                  "NCCL (libnccl-dev), then reconfigure)", FP8LAB_CUDA_LIB_NAME);
    return nullptr;
}

#endif
