#define _GNU_SOURCE /* O_NOFOLLOW, O_DIRECTORY, getrandom */
#include "core/atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/error.h"

/* Tries before giving up on finding an unused temporary name (each collision is a 2^-64 event or an
   attacker filling the directory). */
#define TMP_TRIES 64

/* Errors about the path itself are the user's to fix (exit 2); the rest are failures of the machine. */
static int path_errno(int e) { return e == ENOENT || e == ENOTDIR || e == EISDIR || e == ENAMETOOLONG || e == ELOOP; }

#define FAIL_ERRNO(e, ...)                                                                                    \
    do {                                                                                                      \
        if (path_errno(e)) FP8LAB_ERR(__VA_ARGS__);                                                           \
        else FP8LAB_ERR_RT(__VA_ARGS__);                                                                      \
    } while (0)

static int write_all(int fd, const char *data, long len) {
    long off = 0;
    while (off < len) {
        ssize_t w = write(fd, data + off, (size_t)(len - off));
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            if (w == 0) errno = EIO;
            return -1;
        }
        off += w;
    }
    return 0;
}

/* Unpredictable, so nobody can plant something at the name first; O_EXCL makes a collision harmless anyway. */
static uint64_t random_suffix(void) {
    static uint64_t counter;
    uint64_t r = 0;
    if (getrandom(&r, sizeof r, GRND_NONBLOCK) == (ssize_t)sizeof r) return r;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    r = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ ((uint64_t)getpid() << 16) ^ ++counter;
    return r * 0x9e3779b97f4a7c15ull;
}

/* path = dir + '/' + base; dir "." when there is no slash. Returns 0, or -1 when base is empty. */
static int split_path(const char *path, char *dir, size_t cap, const char **base) {
    const char *slash = strrchr(path, '/');
    *base = slash ? slash + 1 : path;
    if (!slash) snprintf(dir, cap, ".");
    else if (slash == path) snprintf(dir, cap, "/");
    else snprintf(dir, cap, "%.*s", (int)(slash - path), path);
    return **base ? 0 : -1;
}

static int sync_dir(const char *dir) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    /* some file systems cannot sync a directory; the rename is as durable as they make it */
    int rc = fsync(fd) != 0 && errno != EINVAL && errno != EROFS ? -1 : 0;
    close(fd);
    return rc;
}

/* A fresh temporary file next to the target; its name goes to tmp. */
static int create_temp(const char *path, const char *dir, const char *base, mode_t mode, char *tmp, size_t cap) {
    for (int i = 0; i < TMP_TRIES; i++) {
        /* the base name is cut so the temporary name stays within NAME_MAX */
        snprintf(tmp, cap, "%s/.%.200s.%016llx.tmp", dir, base, (unsigned long long)random_suffix());
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
        if (fd >= 0 || errno != EEXIST) {
            if (fd < 0 && errno == ENOENT) FP8LAB_ERR("%s: directory '%s' does not exist", path, dir);
            else if (fd < 0) FAIL_ERRNO(errno, "%s: cannot create a file in '%s': %s", path, dir, strerror(errno));
            return fd;
        }
    }
    FP8LAB_ERR_RT("%s: no unused temporary name in '%s' after %d tries", path, dir, TMP_TRIES);
    return -1;
}

static int fill_temp(int fd, const struct stat *old, const char *data, long len) {
    /* fchmod ignores the umask: a replaced file keeps exactly the bits it had */
    if (old && fchmod(fd, old->st_mode & 0777) != 0) return -1;
    return write_all(fd, data, len) || fsync(fd) != 0 ? -1 : 0;
}

/* Replaces (or creates) the regular file `path`; `old` is its stat, or NULL when it does not exist. */
static int replace_file(const char *path, const struct stat *old, const char *data, long len) {
    size_t cap = strlen(path) + 256;
    char *dir = malloc(cap), *tmp = malloc(cap);
    const char *base;
    int rc = -1, fd = -1;
    if (!dir || !tmp) {
        FP8LAB_ERR_RT("%s: out of memory", path);
        goto out;
    }
    if (split_path(path, dir, cap, &base)) {
        FP8LAB_ERR("%s: not a file name (it ends in '/')", path);
        goto out;
    }
    fd = create_temp(path, dir, base, 0666, tmp, cap);
    if (fd < 0) goto out;
    if (fill_temp(fd, old, data, len)) {
        FP8LAB_ERR_RT("%s: writing %s failed: %s", path, tmp, strerror(errno));
        goto drop;
    }
    int closed = close(fd);
    fd = -1;
    if (closed != 0) {
        FP8LAB_ERR_RT("%s: writing %s failed: %s", path, tmp, strerror(errno));
        goto drop;
    }
    if (rename(tmp, path) != 0) {
        FAIL_ERRNO(errno, "%s: cannot move %s into place: %s", path, tmp, strerror(errno));
        goto drop;
    }
    if (sync_dir(dir)) {
        FP8LAB_ERR_RT("%s: written, but syncing its directory '%s' failed: %s", path, dir, strerror(errno));
        goto out;
    }
    rc = 0;
    goto out;
drop:
    if (fd >= 0) close(fd);
    fd = -1;
    unlink(tmp);
out:
    if (fd >= 0) close(fd);
    free(dir);
    free(tmp);
    return rc;
}

/* Devices and FIFOs are sinks, not files: written where they are, never created, truncated or replaced. */
static int write_in_place(const char *path, const char *data, long len) {
    int fd = open(path, O_WRONLY | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        FAIL_ERRNO(errno, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    /* swapped for a regular file (or worse) since we looked: that must go through replace_file */
    if (fstat(fd, &st) != 0 || !(S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode))) {
        close(fd);
        FP8LAB_ERR_RT("%s: changed while it was being opened; not written", path);
        return -1;
    }
    int rc = write_all(fd, data, len);
    if (rc) FP8LAB_ERR_RT("%s: write failed: %s", path, strerror(errno));
    if (close(fd) != 0 && !rc) {
        FP8LAB_ERR_RT("%s: write failed: %s", path, strerror(errno));
        rc = -1;
    }
    return rc;
}

/* What the (link-free) path names decides how it is written. */
static int write_to(const char *path, const char *data, long len) {
    struct stat st;
    if (lstat(path, &st) != 0) {
        if (errno == ENOENT) return replace_file(path, NULL, data, len);
        FAIL_ERRNO(errno, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (S_ISREG(st.st_mode)) return replace_file(path, &st, data, len);
    if (S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode)) return write_in_place(path, data, len);
    FP8LAB_ERR("%s: is a %s, not a file; refusing to write over it", path,
               S_ISDIR(st.st_mode) ? "directory" : S_ISBLK(st.st_mode) ? "block device"
               : S_ISSOCK(st.st_mode) ? "socket" : "special file");
    return -1;
}

int fp8lab_write_file_atomic(const char *path, const char *data, long len) {
    if (!path || !*path) {
        FP8LAB_ERR("empty file name");
        return -1;
    }
    if (len < 0 || (len > 0 && !data)) {
        FP8LAB_ERR("%s: nothing to write (%ld bytes)", path, len);
        return -1;
    }
    struct stat st;
    if (lstat(path, &st) != 0 || !S_ISLNK(st.st_mode)) return write_to(path, data, len);
    /* /dev/stdout on a pipe links to "pipe:[N]", which no path names: open the link itself */
    if (stat(path, &st) == 0 && (S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode)))
        return write_in_place(path, data, len);
    char *target = realpath(path, NULL);
    if (!target) {
        if (errno == ENOENT) FP8LAB_ERR("%s: a symbolic link to a missing file; refusing to create its target", path);
        else FAIL_ERRNO(errno, "%s: cannot follow the symbolic link: %s", path, strerror(errno));
        return -1;
    }
    int rc = write_to(target, data, len);
    free(target);
    return rc;
}
