#define _GNU_SOURCE
#include "fuzz_util.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef FP8LAB_FUZZ_CONFIGS
#define FP8LAB_FUZZ_CONFIGS "configs"
#endif

const char *fuzz_file_set(fuzz_file *f, const void *data, size_t size) {
    if (!f->fd) {
        f->fd = memfd_create("fp8lab-fuzz", MFD_CLOEXEC);
        if (f->fd < 0) {
            perror("fuzz: memfd_create");
            abort();
        }
        snprintf(f->path, sizeof f->path, "/proc/self/fd/%d", f->fd);
    }
    if (ftruncate(f->fd, 0) != 0) {
        perror("fuzz: ftruncate");
        abort();
    }
    const char *p = data;
    size_t done = 0;
    while (done < size) {
        ssize_t w = pwrite(f->fd, p + done, size - done, (off_t)done);
        if (w <= 0) {
            perror("fuzz: pwrite");
            abort();
        }
        done += (size_t)w;
    }
    return f->path;
}

static FILE *g_null, *g_out, *g_err;
static int g_verbose = -1;

void fuzz_quiet_begin(void) {
    if (g_verbose < 0) {
        const char *v = getenv("FP8LAB_FUZZ_VERBOSE");
        g_verbose = v && *v && strcmp(v, "0");
    }
    if (g_verbose) return;
    if (!g_null) g_null = fopen("/dev/null", "w");
    if (!g_null) return;
    g_out = stdout;
    g_err = stderr;
    stdout = g_null;
    stderr = g_null;
}

void fuzz_quiet_end(void) {
    if (!g_out) return;
    fflush(g_null);
    stdout = g_out;
    stderr = g_err;
    g_out = g_err = NULL;
}

int fuzz_split(const uint8_t *data, size_t size, const char *seps, size_t nseps, char ***out) {
    size_t n = 1;
    for (size_t i = 0; i < size; i++)
        if (memchr(seps, data[i], nseps)) n++;
    char **argv = calloc(n + 1, sizeof *argv);
    if (!argv) return -1;
    int argc = 0;
    size_t start = 0;
    for (size_t i = 0; i <= size; i++) {
        if (i < size && !memchr(seps, data[i], nseps)) continue;
        if (i == size && start == size && argc > 0) break; /* input ends in a separator */
        char *s = malloc(i - start + 1);
        if (!s) {
            fuzz_split_free(argc, argv);
            return -1;
        }
        memcpy(s, data + start, i - start);
        s[i - start] = 0;
        argv[argc++] = s;
        start = i + 1;
    }
    if (argc == 1 && !argv[0][0]) { /* empty input: no arguments */
        free(argv[0]);
        argv[0] = NULL;
        argc = 0;
    }
    *out = argv;
    return argc;
}

void fuzz_split_free(int argc, char **argv) {
    for (int i = 0; i < argc; i++) free(argv[i]);
    free(argv);
}

int fuzz_section(const uint8_t *data, size_t size, uint8_t sep, int n, size_t *off, size_t *len) {
    size_t start = 0;
    for (int k = 0;; k++) {
        const uint8_t *e = start < size ? memchr(data + start, sep, size - start) : NULL;
        size_t end = e ? (size_t)(e - data) : size;
        if (k == n) {
            if (start > size) return 0;
            *off = start;
            *len = end - start;
            return 1;
        }
        if (!e) return 0;
        start = end + 1;
    }
}

const char *fuzz_configs_dir(void) {
    static char dir[4096];
    if (!dir[0]) {
        const char *src = getenv("FP8LAB_SOURCE_DIR");
        if (src && *src) snprintf(dir, sizeof dir, "%s/configs", src);
        else snprintf(dir, sizeof dir, "%s", FP8LAB_FUZZ_CONFIGS);
    }
    return dir;
}

static char g_scratch[4096];

static void scratch_remove(void) {
    DIR *d = opendir(g_scratch);
    if (d) {
        struct dirent *e;
        char p[8192];
        while ((e = readdir(d)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
                snprintf(p, sizeof p, "%s/%s", g_scratch, e->d_name);
                unlink(p);
            }
        closedir(d);
    }
    rmdir(g_scratch);
}

const char *fuzz_scratch_dir(void) {
    if (!g_scratch[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(g_scratch, sizeof g_scratch, "%s/fp8lab-fuzz-XXXXXX", t && *t ? t : "/tmp");
        if (!mkdtemp(g_scratch)) {
            perror("fuzz: mkdtemp");
            abort();
        }
        atexit(scratch_remove);
    }
    return g_scratch;
}
