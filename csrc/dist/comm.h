/* A communicator: the ranks of one training job and the collectives between them, behind one C interface with
   three implementations (issue: data parallel training):
     - single process (comm_single.c): size 1, every collective a copy or nothing;
     - MPI (comm_mpi.c, Open MPI): one process per rank, buffers in host memory (the CPU backend's "device");
     - NCCL (cuda/, behind the CUDA backend): one process per GPU, buffers on the device (later).
   Buffers are the backend's device pointers; counts are elements. Collectives are blocking from the caller's
   view (an implementation may overlap internally). Every function returns 0, or -1 with fp8lab_last_error()
   naming the rank, the collective and the cause (exit status 1: a runtime failure). */
#ifndef FP8LAB_DIST_COMM_H
#define FP8LAB_DIST_COMM_H
#include <stddef.h>

typedef enum { FP8LAB_CDT_F32 = 0, FP8LAB_CDT_BF16 = 1, FP8LAB_CDT_U8 = 2, FP8LAB_CDT_F64 = 3, FP8LAB_CDT_I64 = 4,
               FP8LAB_CDT_COUNT } fp8lab_comm_dtype;
typedef enum { FP8LAB_RED_SUM = 0, FP8LAB_RED_MAX = 1 } fp8lab_redop;

typedef struct fp8lab_comm fp8lab_comm;

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
} fp8lab_comm_ops;

struct fp8lab_comm {
    const char *name; /* "single", "mpi", "nccl" */
    int rank, size;
    const fp8lab_comm_ops *ops;
    void *impl;
};

size_t fp8lab_comm_dtype_size(fp8lab_comm_dtype dt);
const char *fp8lab_comm_dtype_name(fp8lab_comm_dtype dt); /* "float", "bfloat16", "uint8", "double", "int64" */

/* One process, rank 0 of 1. */
fp8lab_comm *fp8lab_comm_single(void);
/* The job's ranks from the launcher: under mpirun (OMPI_COMM_WORLD_SIZE and friends in the environment) the MPI
   communicator (MPI_Init on first use, MPI_Finalize at destroy); otherwise single. NULL with an error when MPI
   is asked for but not built in or fails to start. */
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

#endif
