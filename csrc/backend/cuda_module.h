/* The boundary between fp8lab and libfp8lab_cuda.so, the CUDA backend built as a shared library and opened
   with dlopen on first use (cuda_loader.c), so that commands without a GPU never load the CUDA libraries and
   one binary runs where they are absent. The library exports one C symbol, FP8LAB_CUDA_ENTRY.

   The library reports errors through the host's fp8lab_set_error, passed in here: a second copy of
   core/error.c inside the library would keep its own thread-local message, which fp8lab_last_error() in the
   executable would never see. */
#ifndef FP8LAB_CUDA_MODULE_H
#define FP8LAB_CUDA_MODULE_H

#include "backend/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FP8LAB_CUDA_LIB_NAME "libfp8lab_cuda.so"
#define FP8LAB_CUDA_ENTRY "fp8lab_cuda_backend_entry"

typedef struct fp8lab_host_api {
    void (*set_error)(const char *file, int line, int exit_code, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
} fp8lab_host_api;

/* Creates the backend for `device`; NULL with the error reported through host. abi is FP8LAB_BACKEND_ABI as
   the caller was compiled: the library refuses another. */
typedef fp8lab_backend *(*fp8lab_cuda_entry_fn)(int abi, const fp8lab_host_api *host, int device);

#ifdef __cplusplus
}
#endif
#endif
