#include "backend/backend.h"

#include <string.h>

#include "backend/check.h"
#include "core/error.h"

fp8lab_backend *fp8lab_backend_create(const char *kind) {
    if (!kind || !strcmp(kind, "auto")) {
        fp8lab_backend *be = fp8lab_cuda_backend_create(0);
        return be ? be : fp8lab_cpu_backend_create();
    }
    if (!strcmp(kind, "cpu")) return fp8lab_cpu_backend_create();
    if (!strcmp(kind, "cuda")) return fp8lab_cuda_backend_create(0);
    FP8LAB_ERR("unknown device '%s' (expected cpu, cuda or auto)", kind);
    return 0;
}

void fp8lab_backend_destroy(fp8lab_backend *be) {
    if (be && be->destroy) be->destroy(be);
}

int fp8lab_backend_info(fp8lab_backend *be, fp8lab_device_info *out) {
    if (fp8lab_check_op(be, "info", be && be->info) || fp8lab_check_ptr("info", "out", out)) return -1;
    return be->info(be, out);
}
