/* The communicator of a job started without MPI (srun, or FP8LAB_RANK / FP8LAB_WORLD_SIZE; dist/launch.h): its
   rank and size come from the environment, and its collectives wait for a device communicator (NCCL on the CUDA
   backend) that only exists once the backend does. Until fp8lab_comm_attach every collective fails, naming the
   cause; after it, each collective on host buffers is staged through device memory: copied in, run by the device
   communicator, copied back (the trainer's few host-side sums: losses, stop flags, weight CRCs). */
#ifndef FP8LAB_DIST_COMM_DEFERRED_H
#define FP8LAB_DIST_COMM_DEFERRED_H

#include "backend/backend.h"
#include "dist/comm.h"
#include "dist/launch.h"

fp8lab_comm *fp8lab_comm_deferred(const fp8lab_launch *l);
/* 1 when c is such a communicator (attached or not) */
int fp8lab_comm_is_deferred(const fp8lab_comm *c);
/* c's collectives from now on through `device` (borrowed: it must outlive c's use; same rank and size) on be. */
int fp8lab_comm_attach(fp8lab_comm *c, fp8lab_comm *device, fp8lab_backend *be);

#endif
