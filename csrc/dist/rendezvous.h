/* Rendezvous without MPI: rank 0's 128-byte blob (the NCCL unique id) to every rank of the job, as llm.c does
   under srun. The place is FP8LAB_RENDEZVOUS:
     file:/shared/path   rank 0 writes the file atomically (job id, world size, blob); the others poll for it.
                         A file from another job (SLURM_JOB_ID[.SLURM_STEP_ID], else FP8LAB_JOB_ID, else "none":
                         set one where jobs may share a path) is waited past until the timeout (rank 0 may not
                         have replaced it yet), then refused; one for another world size from this job is
                         refused at once.
     tcp:host:port       rank 0 listens on host:port and answers size - 1 connections, each sending its rank
                         and world size; a mismatched world size or a rank seen twice is refused.
   Both sides give up after FP8LAB_RENDEZVOUS_TIMEOUT seconds (default 60). */
#ifndef FP8LAB_DIST_RENDEZVOUS_H
#define FP8LAB_DIST_RENDEZVOUS_H

#include "dist/launch.h"

#define FP8LAB_RDV_BLOB_BYTES 128

/* Rank 0: sends blob; other ranks: receive it into blob. A job of one rank does nothing. 0, or -1 with an error
   naming the place: exit status 2 for a bad setting or a mismatch between ranks, 1 for a timeout or I/O error. */
int fp8lab_rendezvous(const fp8lab_launch *l, unsigned char blob[FP8LAB_RDV_BLOB_BYTES]);
/* The same with the place given (spec as FP8LAB_RENDEZVOUS) rather than read from the environment. */
int fp8lab_rendezvous_at(const char *spec, const fp8lab_launch *l, unsigned char blob[FP8LAB_RDV_BLOB_BYTES]);

#endif
