#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char g_err[1024];

void fp8lab_set_error(const char *file, int line, const char *fmt, ...) {
    const char *base = strrchr(file, '/');
    int n = snprintf(g_err, sizeof g_err, "%s:%d: ", base ? base + 1 : file, line);
    if (n < 0 || (size_t)n >= sizeof g_err) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_err + n, sizeof g_err - (size_t)n, fmt, ap);
    va_end(ap);
}

const char *fp8lab_last_error(void) { return g_err[0] ? g_err : "unknown error"; }

void fp8lab_clear_error(void) { g_err[0] = 0; }
