/* The library's fp8lab_set_error: every FP8LAB_ERR and CUDA_CHECK in cuda/ lands here and is handed to the
   executable's own (fp8lab_host_api, given at entry), so fp8lab_last_error() there sees it. A copy of
   core/error.c linked in here would keep a second thread-local message that nobody reads. The library is
   built with hidden visibility: this definition never interposes on the executable's. */
#include <stdarg.h>
#include <stdio.h>

#include "internal.cuh"
#include "host_api.cuh"

namespace {
const fp8lab_host_api *g_host;
}

void fp8lab_cuda_set_host(const fp8lab_host_api *host) { g_host = host; }

extern "C" void fp8lab_set_error(const char *file, int line, int exit_code, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (g_host) g_host->set_error(file, line, exit_code, "%s", msg);
}
