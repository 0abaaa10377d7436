/* The job's geometry from the launcher's environment (launch.h). */
#include "dist/launch.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

typedef struct {
    const char *launcher, *rank, *size, *local_rank;
} launcher_vars;

/* First match names the launcher: explicit settings win over what a launcher exported. */
static const launcher_vars LAUNCHERS[] = {
    {.launcher = "env", .rank = "FP8LAB_RANK", .size = "FP8LAB_WORLD_SIZE", .local_rank = "FP8LAB_LOCAL_RANK"},
    {.launcher = "mpirun", .rank = "OMPI_COMM_WORLD_RANK", .size = "OMPI_COMM_WORLD_SIZE",
     .local_rank = "OMPI_COMM_WORLD_LOCAL_RANK"},
    {.launcher = "srun", .rank = "SLURM_PROCID", .size = "SLURM_NTASKS", .local_rank = "SLURM_LOCALID"},
};
enum { N_LAUNCHERS = sizeof LAUNCHERS / sizeof LAUNCHERS[0] };

/* Launchers write plain decimal digits; anything else (" 1", "+1", "1.0", "1e3") is a broken script, not a
   spelling to accept. */
static int parse_nonneg(const char *var, const char *s, int *out) {
    long v = 0;
    if (!*s) {
        FP8LAB_ERR("launcher environment: %s is empty (hint: a non-negative integer, or unset it)", var);
        return -1;
    }
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9') {
            FP8LAB_ERR("launcher environment: %s='%.40s' is not a non-negative integer", var, s);
            return -1;
        }
        v = v * 10 + (*p - '0');
        if (v > INT_MAX) {
            FP8LAB_ERR("launcher environment: %s='%.40s' is too large (at most %d)", var, s, INT_MAX);
            return -1;
        }
    }
    *out = (int)v;
    return 0;
}

/* 1 and *out set when this launcher's variables are present, 0 when absent, -1 on an error. */
static int read_launcher(const launcher_vars *lv, fp8lab_launch *out) {
    const char *rank = getenv(lv->rank), *size = getenv(lv->size), *local = getenv(lv->local_rank);
    if (!rank && !size) return 0;
    if (!rank || !size) {
        FP8LAB_ERR("launcher environment: %s is set but %s is not (hint: set both, or neither)",
                   rank ? lv->rank : lv->size, rank ? lv->size : lv->rank);
        return -1;
    }
    fp8lab_launch l = {.launcher = lv->launcher};
    if (parse_nonneg(lv->size, size, &l.size) || parse_nonneg(lv->rank, rank, &l.rank)) return -1;
    l.local_rank = l.rank;
    if (local && parse_nonneg(lv->local_rank, local, &l.local_rank)) return -1;
    if (l.size < 1) {
        FP8LAB_ERR("launcher environment: %s=%s: a job has at least one rank", lv->size, size);
        return -1;
    }
    if (l.rank >= l.size || l.local_rank >= l.size) {
        const int bad_rank = l.rank >= l.size;
        FP8LAB_ERR("launcher environment: %s=%s is not below %s=%s", bad_rank ? lv->rank : lv->local_rank,
                   bad_rank ? rank : local, lv->size, size);
        return -1;
    }
    *out = l;
    return 1;
}

static int agree(const fp8lab_launch *a, const launcher_vars *va, const fp8lab_launch *b, const launcher_vars *vb) {
    if (a->size != b->size) {
        FP8LAB_ERR("launcher environment: mismatched world size: %s=%d but %s=%d (hint: two launchers are "
                   "stacked; unset the stale variables)", va->size, a->size, vb->size, b->size);
        return 0;
    }
    if (a->rank != b->rank) {
        FP8LAB_ERR("launcher environment: mismatched rank: %s=%d but %s=%d", va->rank, a->rank, vb->rank, b->rank);
        return 0;
    }
    return 1;
}

int fp8lab_launch_from_env(fp8lab_launch *out) {
    fp8lab_launch found = {.rank = 0, .size = 1, .local_rank = 0, .launcher = "none"};
    const launcher_vars *first = NULL;
    for (int i = 0; i < N_LAUNCHERS; i++) {
        fp8lab_launch l;
        const int rc = read_launcher(&LAUNCHERS[i], &l);
        if (rc < 0) return -1;
        if (rc == 0) continue;
        if (!first) {
            first = &LAUNCHERS[i];
            found = l;
        } else if (!agree(&found, first, &l, &LAUNCHERS[i])) {
            return -1;
        }
    }
    *out = found;
    return 0;
}
