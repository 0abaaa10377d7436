/* fp8lab_cuda_backend_create: opens libfp8lab_cuda.so on first use (cuda_module.h), so the CUDA libraries are
   loaded by the commands that ask for a GPU and by no other, and a binary runs where they are missing.
   The first successful load is kept for the life of the process. Where the library is looked for, first hit
   wins (no RPATH, no LD_LIBRARY_PATH needed):
     1. $FP8LAB_CUDA_LIB, a path to the library (tests, unusual installs); nothing else is tried when it is set;
     2. the directory of the running executable (/proc/self/exe), where the build puts it;
     3. the plain name, through the dynamic linker's search (an installed copy). */
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/cuda_module.h"
#include "core/error.h"

#if FP8LAB_HAVE_CUDA

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static fp8lab_cuda_entry_fn g_entry; /* set once the library is open; it stays open until exit */

/* "<directory of the executable>/libfp8lab_cuda.so" into buf; 0, or -1 when /proc/self/exe is unreadable. */
static int path_next_to_exe(char *buf, size_t n) {
    char exe[PATH_MAX];
    const ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len <= 0) return -1;
    exe[len] = 0;
    char *slash = strrchr(exe, '/');
    if (!slash) return -1;
    *slash = 0;
    const int w = snprintf(buf, n, "%s/%s", exe, FP8LAB_CUDA_LIB_NAME);
    return w > 0 && (size_t)w < n ? 0 : -1;
}

static void *open_at(const char *path, const char *how) {
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h)
        FP8LAB_ERR_RT("no GPU: cannot load %s (%s): %s (hint: the CUDA backend needs the CUDA 13 runtime libraries "
                      "(libcublasLt.so.13) on the library path and an NVIDIA driver)",
                      path, how, dlerror());
    return h;
}

static void *open_module(void) {
    const char *env = getenv("FP8LAB_CUDA_LIB");
    if (env && *env) {
        if (access(env, F_OK) == 0) return open_at(env, "FP8LAB_CUDA_LIB");
        FP8LAB_ERR_RT("no GPU: FP8LAB_CUDA_LIB=%s: no such file (hint: it names %s itself, or leave it unset to "
                      "use the copy beside the executable)",
                      env, FP8LAB_CUDA_LIB_NAME);
        return NULL;
    }
    char path[PATH_MAX + 32];
    const int have_path = path_next_to_exe(path, sizeof path) == 0;
    if (have_path && access(path, F_OK) == 0) return open_at(path, "next to the executable");
    void *h = dlopen(FP8LAB_CUDA_LIB_NAME, RTLD_NOW | RTLD_LOCAL);
    if (!h)
        FP8LAB_ERR_RT("no GPU: %s not found next to the executable (%s) and not loadable by name: %s (hint: keep "
                      "it beside the fp8lab executable, or set FP8LAB_CUDA_LIB to its path)",
                      FP8LAB_CUDA_LIB_NAME, have_path ? path : "/proc/self/exe unreadable", dlerror());
    return h;
}

static fp8lab_cuda_entry_fn load_entry(void) {
    pthread_mutex_lock(&g_lock);
    if (!g_entry) {
        void *h = open_module();
        if (h) {
            g_entry = (fp8lab_cuda_entry_fn)dlsym(h, FP8LAB_CUDA_ENTRY);
            if (!g_entry) {
                FP8LAB_ERR_RT("no GPU: %s has no symbol %s: %s (hint: it is not fp8lab's CUDA backend)",
                              FP8LAB_CUDA_LIB_NAME, FP8LAB_CUDA_ENTRY, dlerror());
                dlclose(h);
            }
        }
    }
    fp8lab_cuda_entry_fn e = g_entry;
    pthread_mutex_unlock(&g_lock);
    return e;
}

fp8lab_backend *fp8lab_cuda_backend_create(int device) {
    static const fp8lab_host_api host = {.set_error = fp8lab_set_error};
    const fp8lab_cuda_entry_fn entry = load_entry();
    return entry ? entry(FP8LAB_BACKEND_ABI, &host, device) : NULL;
}

#else /* a build without nvcc: there is no library to look for */

fp8lab_backend *fp8lab_cuda_backend_create(int device) {
    (void)device;
    FP8LAB_ERR_RT("no GPU: this fp8lab was built without the CUDA backend (reconfigure with nvcc on PATH, "
                  "-DFP8LAB_CUDA=ON)");
    return NULL;
}

#endif
