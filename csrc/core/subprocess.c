#define _GNU_SOURCE /* mkostemp */
#include "core/subprocess.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/error.h"

extern char **environ;

const char *fp8lab_tmpdir(void) {
    const char *d = getenv("TMPDIR");
    return d && d[0] == '/' ? d : "/tmp";
}

/* An unlinked scratch file: nobody else can open it by name, and it vanishes with the descriptor. */
static int scratch_fd(void) {
    char path[4096];
    if (snprintf(path, sizeof path, "%s/fp8lab-capture-XXXXXX", fp8lab_tmpdir()) >= (int)sizeof path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int fd = mkostemp(path, O_CLOEXEC);
    if (fd >= 0) unlink(path);
    return fd;
}

/* The first `max` bytes of a capture file, NUL-terminated; *too_big when there was more. */
static char *slurp(int fd, size_t max, size_t *len, int *too_big) {
    struct stat st;
    if (fstat(fd, &st) != 0) return NULL;
    size_t size = (size_t)st.st_size;
    *too_big = size > max;
    if (*too_big) size = max;
    char *buf = malloc(size + 1);
    if (!buf) return NULL;
    size_t got = 0;
    while (got < size) {
        ssize_t n = pread(fd, buf + got, size - got, (off_t)got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += (size_t)n;
    }
    buf[got] = 0;
    *len = got;
    return buf;
}

static int spawn(const char *const argv[], int out_fd, int err_fd, pid_t *pid) {
    posix_spawn_file_actions_t fa;
    if (posix_spawn_file_actions_init(&fa)) return ENOMEM;
    int rc = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    if (!rc) rc = posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
    if (!rc) rc = posix_spawn_file_actions_adddup2(&fa, err_fd, 2);
    /* argv is not modified by exec; the prototype predates const */
    if (!rc) rc = posix_spawnp(pid, argv[0], &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    return rc;
}

static int wait_for(pid_t pid, int *status) {
    int ws;
    while (waitpid(pid, &ws, 0) < 0)
        if (errno != EINTR) return -1;
    *status = WIFEXITED(ws) ? WEXITSTATUS(ws) : WIFSIGNALED(ws) ? 128 + WTERMSIG(ws) : 255;
    return 0;
}

int fp8lab_subprocess_run(const char *const argv[], size_t out_max, size_t err_max, fp8lab_subprocess *r) {
    *r = (fp8lab_subprocess){.status = -1};
    int out_fd = scratch_fd(), err_fd = out_fd >= 0 ? scratch_fd() : -1, rc = -1;
    if (out_fd < 0 || err_fd < 0) {
        FP8LAB_ERR_RT("%s: cannot create a capture file in %s: %s", argv[0], fp8lab_tmpdir(), strerror(errno));
        goto out;
    }
    pid_t pid;
    int e = spawn(argv, out_fd, err_fd, &pid);
    if (e) {
        FP8LAB_ERR_RT("%s: cannot run it%s: %s", argv[0], e == ENOENT ? " (is it installed and on PATH?)" : "",
                      strerror(e));
        goto out;
    }
    if (wait_for(pid, &r->status)) {
        FP8LAB_ERR_RT("%s: waiting for it failed: %s", argv[0], strerror(errno));
        goto out;
    }
    int out_big = 0, err_big = 0;
    r->out = slurp(out_fd, out_max, &r->out_len, &out_big);
    r->err = slurp(err_fd, err_max, &r->err_len, &err_big);
    if (!r->out || !r->err) {
        FP8LAB_ERR_RT("%s: cannot read its output: %s", argv[0], strerror(errno));
        goto out;
    }
    if (out_big) {
        FP8LAB_ERR_RT("%s: wrote more than %zu bytes", argv[0], out_max);
        goto out;
    }
    rc = 0;
out:
    if (out_fd >= 0) close(out_fd);
    if (err_fd >= 0) close(err_fd);
    if (rc) fp8lab_subprocess_free(r);
    return rc;
}

void fp8lab_subprocess_free(fp8lab_subprocess *r) {
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
    r->out_len = r->err_len = 0;
}
