/* `fp8lab train --ranks N`: a quick local data-parallel run without typing the launcher, by re-running this
   command as N Open MPI ranks on this machine. */
#ifndef FP8LAB_CLI_TRAIN_RANKS_H
#define FP8LAB_CLI_TRAIN_RANKS_H

/* Replaces the process with `mpirun -np N [--oversubscribe] -x OMP_NUM_THREADS <this fp8lab> train <argv without
   --ranks>`, OMP_NUM_THREADS set to cores / N (at least 1) unless already set. Returns only on failure: exit
   status 2 (under a launcher already) or 1 (mpirun could not be started), with the error set. */
int train_launch_ranks(int ranks, int argc, char **argv);

#endif
