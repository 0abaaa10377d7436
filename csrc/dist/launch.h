/* Which rank of which job this process is, from the environment its launcher set (issue 10, data parallel):
     mpirun  Open MPI: OMPI_COMM_WORLD_RANK / OMPI_COMM_WORLD_SIZE / OMPI_COMM_WORLD_LOCAL_RANK
     srun    Slurm:    SLURM_PROCID / SLURM_NTASKS / SLURM_LOCALID
     env     explicit: FP8LAB_RANK / FP8LAB_WORLD_SIZE / FP8LAB_LOCAL_RANK (local rank defaults to the rank: one node)
     none    none of them: rank 0 of 1.
   Several may be set at once (srun starting Open MPI ranks sets both); they must then agree. */
#ifndef FP8LAB_DIST_LAUNCH_H
#define FP8LAB_DIST_LAUNCH_H

typedef struct fp8lab_launch {
    int rank, size, local_rank;
    const char *launcher; /* "env", "mpirun", "srun" or "none": the first of these that is set */
} fp8lab_launch;

/* 0 and *out filled, or -1 with an error (exit status 2) naming the variable and its value: not a plain decimal
   integer (fractions, signs, blanks, overflow and empty values are refused), rank or local rank outside
   [0, size), a set size without its rank, or two launchers that disagree ("mismatched world size"). */
int fp8lab_launch_from_env(fp8lab_launch *out);

#endif
