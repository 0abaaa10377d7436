/* A communicator: the ranks of one training job and the collectives between them, behind one C interface with
   three implementations (issue: data parallel training):
     - single process (comm_single.c): size 1, every collective a copy or nothing;
     - MPI (comm_mpi.c, Open MPI): one process per rank, buffers in host memory (the CPU backend's "device");
     - NCCL (cuda/, behind the CUDA backend): one process per GPU, buffers on the device (later).
   Buffers are the backend's device pointers; counts are elements. Collectives are blocking from the caller's
   view (an implementation may overlap internally), except fp8lab_all_reduce_start, which returns while the
   reduction runs so that gradient buckets can travel during the backward pass. Every function returns 0, or -1
   with fp8lab_last_error() naming the rank, the collective and the cause (exit status 1: a runtime failure). */
#ifndef FP8LAB_DIST_COMM_H
#define FP8LAB_DIST_COMM_H
#include <stddef.h>

/* FP8LAB_CDT_I128: 16-byte two's-complement integers in the native __int128 layout, for exact fixed-point sums
   (wrapping around on overflow). The reductions (all_reduce, all_reduce_start, reduce_scatter) take it with SUM
   only; the collectives that move data take it like any other dtype. */
typedef enum { FP8LAB_CDT_F32 = 0, FP8LAB_CDT_BF16 = 1, FP8LAB_CDT_U8 = 2, FP8LAB_CDT_F64 = 3, FP8LAB_CDT_I64 = 4,
               FP8LAB_CDT_I128 = 5, FP8LAB_CDT_COUNT } fp8lab_comm_dtype;
typedef enum { FP8LAB_RED_SUM = 0, FP8LAB_RED_MAX = 1 } fp8lab_redop;

typedef struct fp8lab_comm fp8lab_comm;
/* A non-blocking all-reduce in flight, from fp8lab_all_reduce_start to fp8lab_comm_wait; each implementation
   defines its own. */
typedef struct fp8lab_comm_req fp8lab_comm_req;

typedef struct fp8lab_comm_ops {
    /* recv[i] = op over ranks of send[i], i < count, on every rank (send == recv: in place) */
    int (*all_reduce)(fp8lab_comm *c, const void *send, void *recv, size_t count, fp8lab_comm_dtype dt,
                      fp8lab_redop op);
    /* send holds size * count elements; rank r gets the reduction of block r (count elements) in recv */
    int (*reduce_scatter)(fp8lab_comm *c, const void *send, void *recv, size_t count, fp8lab_comm_dtype dt,
                          fp8lab_redop op);
    /* every rank's count elements, in rank order, into recv (size * count elements) on every rank */
    int (*all_gather)(fp8lab_comm *c, const void *send, void *recv, size_t count, fp8lab_comm_dtype dt);
    /* root's buf to every rank */
    int (*broadcast)(fp8lab_comm *c, void *buf, size_t count, fp8lab_comm_dtype dt, int root);
    /* block r of send (count elements) to rank r; recv's block r from rank r */
    int (*all_to_all)(fp8lab_comm *c, const void *send, void *recv, size_t count, fp8lab_comm_dtype dt);
    int (*barrier)(fp8lab_comm *c);
    void (*destroy)(fp8lab_comm *c);
    /* Optional, all three or none: all_reduce started, *req set (NULL when it already completed); wait completes
       and frees req; test sets *done to 1 once wait would not block. None: the front runs all_reduce instead. */
    int (*all_reduce_start)(fp8lab_comm *c, const void *send, void *recv, size_t count, fp8lab_comm_dtype dt,
                            fp8lab_redop op, fp8lab_comm_req **req);
    int (*wait)(fp8lab_comm *c, fp8lab_comm_req *req);
    int (*test)(fp8lab_comm *c, fp8lab_comm_req *req, int *done);
} fp8lab_comm_ops;

struct fp8lab_comm {
    const char *name; /* "single", "mpi", "nccl" */
    int rank, size;
    const fp8lab_comm_ops *ops;
    void *impl;
};

size_t fp8lab_comm_dtype_size(fp8lab_comm_dtype dt);
/* "float", "bfloat16", "uint8", "double", "int64", "int128"; "invalid" outside the enum */
const char *fp8lab_comm_dtype_name(fp8lab_comm_dtype dt);

/* One process, rank 0 of 1. */
fp8lab_comm *fp8lab_comm_single(void);
/* The job's ranks from the launcher (dist/launch.h): under mpirun (OMPI_COMM_WORLD_*) or srun --mpi=pmix (PMIX_RANK)
   the MPI communicator (MPI_Init on first use, MPI_Finalize at destroy); one rank: single; several without MPI
   (srun, FP8LAB_RANK/FP8LAB_WORLD_SIZE): the deferred communicator (dist/comm_deferred.h), which the trainer
   attaches to NCCL on the CUDA backend. NULL with an error when MPI
   is asked for but not built in or fails to start, or when FP8LAB_COMM_TIMEOUT is set but not a positive number.
   The MPI communicator's collectives give up after FP8LAB_COMM_TIMEOUT seconds (default 300): the rank prints
   which ranks have not reached the collective (or have gone silent in it) and aborts the job (MPI_Abort), so a
   rank that dies or hangs never leaves the others waiting forever. */
fp8lab_comm *fp8lab_comm_from_env(void);
void fp8lab_comm_destroy(fp8lab_comm *c); /* NULL: nothing */
/* 1 when this build has the MPI communicator (CMake found MPI), else 0. */
int fp8lab_comm_mpi_built(void);

/* Front functions: argument checks (counts, pointers, root, dtype/op), then the implementation. count 0 does
   nothing. Send and recv either do not overlap or are in place, as in NCCL: all_reduce and all_to_all
   send == recv; reduce_scatter recv == send + rank * count elements; all_gather send == recv + rank * count. */
int fp8lab_all_reduce(fp8lab_comm *c, const void *send, void *recv, size_t count, fp8lab_comm_dtype dt,
                      fp8lab_redop op);
int fp8lab_reduce_scatter(fp8lab_comm *c, const void *send, void *recv, size_t count, fp8lab_comm_dtype dt,
                          fp8lab_redop op);
int fp8lab_all_gather(fp8lab_comm *c, const void *send, void *recv, size_t count, fp8lab_comm_dtype dt);
int fp8lab_broadcast(fp8lab_comm *c, void *buf, size_t count, fp8lab_comm_dtype dt, int root);
int fp8lab_all_to_all(fp8lab_comm *c, const void *send, void *recv, size_t count, fp8lab_comm_dtype dt);
int fp8lab_barrier(fp8lab_comm *c);

/* fp8lab_all_reduce without waiting for it: the same checks and results, but send and recv must stay untouched
   until fp8lab_comm_wait returns. Every rank starts its non-blocking all-reduces in the same order as its other
   collectives. *req is NULL on failure, and may be NULL on success when the reduction is already complete (one
   rank, count 0, an implementation without a non-blocking form): wait and test accept NULL. Open MPI moves data
   only inside MPI calls: to overlap, call fp8lab_comm_test between pieces of work (each layer's backward). */
int fp8lab_all_reduce_start(fp8lab_comm *c, const void *send, void *recv, size_t count, fp8lab_comm_dtype dt,
                            fp8lab_redop op, fp8lab_comm_req **req);
/* Blocks until req completes (the MPI communicator's time limit counts from this call), then frees it (also when
   it fails). NULL: nothing, 0. */
int fp8lab_comm_wait(fp8lab_comm *c, fp8lab_comm_req *req);
/* Progress without blocking: *done = 1 when req (NULL too) has completed, else 0. req stays valid either way:
   fp8lab_comm_wait still frees it (at once when done). */
int fp8lab_comm_test(fp8lab_comm *c, fp8lab_comm_req *req, int *done);

#endif
