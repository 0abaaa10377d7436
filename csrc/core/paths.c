#include "core/paths.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

const char *fp8lab_resolve_data(const char *rel, char *buf, size_t n) {
    if (!rel || rel[0] == '/' || access(rel, R_OK) == 0) return rel;
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len <= 0) return rel;
    exe[len] = 0;
    char *slash = strrchr(exe, '/');
    if (!slash) return rel;
    *slash = 0;
    static const char *const up[] = {"", "/.."};
    for (int i = 0; i < 2; i++) {
        int w = snprintf(buf, n, "%s%s/%s", exe, up[i], rel);
        if (w > 0 && (size_t)w < n && access(buf, R_OK) == 0) return buf;
    }
    return rel;
}
