#include "core/atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"

int fp8lab_write_file_atomic(const char *path, const char *data, long len) {
    size_t pl = strlen(path);
    char *tmp = malloc(pl + 32);
    if (!tmp) {
        FP8LAB_ERR_RT("%s: out of memory", path);
        return -1;
    }
    snprintf(tmp, pl + 32, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        FP8LAB_ERR("%s: cannot create: %s", tmp, strerror(errno));
        free(tmp);
        return -1;
    }
    long off = 0;
    while (off < len) {
        ssize_t w = write(fd, data + off, (size_t)(len - off));
        if (w < 0) {
            if (errno == EINTR) continue;
            FP8LAB_ERR("%s: write failed: %s", tmp, strerror(errno));
            close(fd);
            unlink(tmp);
            free(tmp);
            return -1;
        }
        off += w;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        FP8LAB_ERR("%s: fsync/close failed: %s", tmp, strerror(errno));
        unlink(tmp);
        free(tmp);
        return -1;
    }
    if (rename(tmp, path) != 0) {
        FP8LAB_ERR("%s: rename to %s failed: %s", tmp, path, strerror(errno));
        unlink(tmp);
        free(tmp);
        return -1;
    }
    free(tmp);
    return 0;
}
