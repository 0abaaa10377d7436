/* The executable's services, as the library received them at entry (backend_cuda.cu). */
#ifndef FP8LAB_CUDA_HOST_API_CUH
#define FP8LAB_CUDA_HOST_API_CUH

#include "backend/cuda_module.h"

void fp8lab_cuda_set_host(const fp8lab_host_api *host);

#endif
