/* Built only when the CUDA backend is not (no nvcc at configure time): keeps the CPU build free of CUDA. */
#include "backend/backend.h"
#include "core/error.h"

fp8lab_backend *fp8lab_cuda_backend_create(int device) {
    (void)device;
    FP8LAB_ERR_RT("no GPU: this fp8lab was built without the CUDA backend (reconfigure with nvcc on PATH, "
               "-DFP8LAB_CUDA=ON)");
    return 0;
}
