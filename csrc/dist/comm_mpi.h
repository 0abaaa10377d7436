/* The MPI communicator (comm_mpi.c), built only where CMake found MPI (FP8LAB_HAVE_MPI). */
#ifndef FP8LAB_DIST_COMM_MPI_H
#define FP8LAB_DIST_COMM_MPI_H
#include "dist/comm.h"

/* MPI_COMM_WORLD's ranks (a duplicate of it). Starts MPI on first use and finalizes it when the last
   communicator made here is destroyed; MPI cannot start again after that, so a later call fails with an error. */
fp8lab_comm *fp8lab_comm_mpi(void);

#endif
