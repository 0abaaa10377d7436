/* The NCCL communicator from the host's side (no CUDA or NCCL headers): one process per GPU, on the CUDA
   backend's device, its ranks from the launcher (launch.h) and rank 0's NCCL id handed out by rendezvous
   (rendezvous.h, FP8LAB_RENDEZVOUS). The collectives themselves live in libfp8lab_cuda.so (cuda/comm_nccl.cu).

     fp8lab_launch l;
     if (fp8lab_launch_from_env(&l)) fail();
     fp8lab_backend *be = fp8lab_cuda_backend_create(l.local_rank);   // one GPU per local rank
     fp8lab_comm *c = fp8lab_comm_nccl(be, &l, NULL);                  // NULL: fp8lab_last_error()
     ... fp8lab_all_reduce(c, grads, grads, n, FP8LAB_CDT_F32, FP8LAB_RED_SUM) on device buffers ...
     fp8lab_comm_destroy(c);   // before the backend
     fp8lab_backend_destroy(be); */
#ifndef FP8LAB_DIST_COMM_NCCL_HOST_H
#define FP8LAB_DIST_COMM_NCCL_HOST_H

#include "backend/backend.h"
#include "dist/comm.h"
#include "dist/launch.h"

/* This rank's NCCL communicator on be (the CUDA backend itself, not a wrapper around it). Rank 0's NCCL id
   travels over host when it is a communicator of the job's ranks (Open MPI under mpirun), else by rendezvous
   (FP8LAB_RENDEZVOUS: srun without MPI). Blocks until every rank has joined. NULL with an error: not a CUDA
   backend or no NCCL in this build (exit status 2 / 1), rendezvous or NCCL setup failed. */
fp8lab_comm *fp8lab_comm_nccl(fp8lab_backend *be, const fp8lab_launch *l, fp8lab_comm *host);
/* 1 when this build's CUDA library has the NCCL communicator (CMake found NCCL), else 0. */
int fp8lab_comm_nccl_built(void);

#endif
