#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char g_err[1024];
static _Thread_local int g_exit = FP8LAB_EXIT_USAGE;

void fp8lab_set_error(const char *file, int line, int exit_code, const char *fmt, ...) {
    g_exit = exit_code;
    const char *base = strrchr(file, '/');
    int n = snprintf(g_err, sizeof g_err, "%s:%d: ", base ? base + 1 : file, line);
    if (n < 0 || (size_t)n >= sizeof g_err) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_err + n, sizeof g_err - (size_t)n, fmt, ap);
    va_end(ap);
}

const char *fp8lab_last_error(void) { return g_err[0] ? g_err : "unknown error"; }

int fp8lab_last_error_exit(void) { return g_exit; }

void fp8lab_clear_error(void) {
    g_err[0] = 0;
    g_exit = FP8LAB_EXIT_USAGE;
}
