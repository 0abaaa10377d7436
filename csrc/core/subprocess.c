#define _GNU_SOURCE /* memfd_create */
#include "core/subprocess.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/error.h"

extern char **environ;

/* An anonymous in-memory file: nothing is written to any file system, and it vanishes with its descriptors. */
static int scratch_fd(const char *name) { return memfd_create(name, MFD_CLOEXEC); }

/* The child's standard input: `input` in a scratch file read from its start, or /dev/null. */
static int input_fd(const char *input, size_t len) {
    if (!input) return open("/dev/null", O_RDONLY | O_CLOEXEC);
    int fd = scratch_fd("fp8lab-input");
    if (fd < 0) return -1;
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, input + off, len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            close(fd);
            return -1;
        }
        off += (size_t)w;
    }
    if (lseek(fd, 0, SEEK_SET) != 0) {
        close(fd);
        return -1;
    }
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

static int spawn(const char *const argv[], int in_fd, int out_fd, int err_fd, pid_t *pid) {
    posix_spawn_file_actions_t fa;
    if (posix_spawn_file_actions_init(&fa)) return ENOMEM;
    int rc = posix_spawn_file_actions_adddup2(&fa, in_fd, 0);
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

int fp8lab_subprocess_run(const char *const argv[], const fp8lab_subprocess_io *io, fp8lab_subprocess *r) {
    *r = (fp8lab_subprocess){.status = -1};
    int in_fd = input_fd(io->input, io->input_len);
    int out_fd = scratch_fd("fp8lab-stdout"), err_fd = scratch_fd("fp8lab-stderr"), rc = -1;
    if (in_fd < 0 || out_fd < 0 || err_fd < 0) {
        FP8LAB_ERR_RT("%s: cannot set up its input and output: %s", argv[0], strerror(errno));
        goto out;
    }
    pid_t pid;
    int e = spawn(argv, in_fd, out_fd, err_fd, &pid);
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
    r->out = slurp(out_fd, io->out_max, &r->out_len, &out_big);
    r->err = slurp(err_fd, io->err_max, &r->err_len, &err_big);
    if (!r->out || !r->err) {
        FP8LAB_ERR_RT("%s: cannot read its output: %s", argv[0], strerror(errno));
        goto out;
    }
    if (out_big) {
        FP8LAB_ERR_RT("%s: wrote more than %zu bytes", argv[0], io->out_max);
        goto out;
    }
    rc = 0;
out:
    if (in_fd >= 0) close(in_fd);
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
