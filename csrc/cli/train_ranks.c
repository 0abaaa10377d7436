#include "cli/train_ranks.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"

/* argv[i] is --ranks (its value follows) or --ranks=N: how many words to drop there, else 0 */
static int ranks_words(char **argv, int i, int argc) {
    if (!strcmp(argv[i], "--ranks")) return i + 1 < argc ? 2 : 1;
    return !strncmp(argv[i], "--ranks=", 8) ? 1 : 0;
}

int train_launch_ranks(int ranks, int argc, char **argv) {
    if (getenv("OMPI_COMM_WORLD_SIZE") || getenv("SLURM_PROCID")) {
        FP8LAB_ERR("--ranks %d: this process was started by a launcher already (mpirun/srun choose the ranks; drop "
                   "--ranks)",
                   ranks);
        return -1;
    }
    char exe[4096];
    const ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) {
        FP8LAB_ERR_RT("--ranks: cannot find this program (/proc/self/exe): %s", strerror(errno));
        return -1;
    }
    exe[n] = 0;
    const long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (!getenv("OMP_NUM_THREADS")) {
        char t[24];
        snprintf(t, sizeof t, "%ld", cores > ranks ? cores / ranks : 1);
        setenv("OMP_NUM_THREADS", t, 1);
    }
    char np[16];
    snprintf(np, sizeof np, "%d", ranks);
    char **av = calloc((size_t)argc + 10, sizeof *av);
    if (!av) {
        FP8LAB_ERR_RT("--ranks: out of memory");
        return -1;
    }
    int k = 0;
    av[k++] = "mpirun";
    av[k++] = "-np";
    av[k++] = np;
    if (ranks > cores) av[k++] = "--oversubscribe";
    av[k++] = "-x";
    av[k++] = "OMP_NUM_THREADS";
    av[k++] = exe;
    av[k++] = "train";
    for (int i = 0; i < argc;) {
        const int skip = ranks_words(argv, i, argc);
        if (skip) {
            i += skip;
            continue;
        }
        av[k++] = argv[i++];
    }
    av[k] = NULL;
    fflush(NULL);
    execvp("mpirun", av);
    FP8LAB_ERR_RT("--ranks %d: cannot start mpirun: %s (hint: apt-get install openmpi-bin; as root Open MPI also "
                  "needs OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1)",
                  ranks, strerror(errno));
    free(av);
    return -1;
}
