/* Error checking for the CUDA backend (llm.c style, but recording the error and returning instead of exiting).
   Every CUDA runtime and cuBLASLt call and every kernel launch goes through one of these macros; on failure
   they record "file:line: <call> failed: <name>: <string> (hint: ...)" with fp8lab_set_error and return. */
#ifndef FP8LAB_CUDA_CHECK_CUH
#define FP8LAB_CUDA_CHECK_CUH

#include <cublasLt.h>
#include <cuda_runtime.h>

#include "core/error.h"

/* A short, actionable hint for the errors users actually hit. Never NULL. */
static inline const char *fp8lab_cuda_hint(cudaError_t e) {
    switch (e) {
    case cudaErrorMemoryAllocation:
        return "out of device memory: reduce the batch size or sequence length, or free other GPU processes "
               "(nvidia-smi)";
    case cudaErrorNoDevice:
        return "no CUDA device visible: check nvidia-smi and CUDA_VISIBLE_DEVICES";
    case cudaErrorInvalidDevice:
        return "device index out of range: check CUDA_VISIBLE_DEVICES and the --device flag";
    case cudaErrorInsufficientDriver:
        return "no NVIDIA driver is loaded, or it is older than the CUDA 13 runtime this was built with (needs "
               "driver >= 580): check nvidia-smi";
    case cudaErrorNoKernelImageForDevice:
    case cudaErrorInvalidDeviceFunction:
        return "this build contains code for sm_90a (H100/H200) and sm_89 (Ada) only";
    case cudaErrorIllegalAddress:
    case cudaErrorMisalignedAddress:
        return "a kernel touched memory it should not: rerun under compute-sanitizer to find it; the CUDA "
               "context is now unusable";
    case cudaErrorLaunchOutOfResources:
        return "kernel launch configuration too large for this device (registers/shared memory)";
    case cudaErrorInvalidConfiguration:
        return "invalid grid/block/shared-memory configuration (tensor too large for one launch?)";
    case cudaErrorInvalidValue:
        return "bad argument: a NULL or host pointer where a device pointer was expected, or a size of 0";
    default:
        return "see the CUDA runtime documentation for this error";
    }
}

static inline const char *fp8lab_cublas_hint(cublasStatus_t s) {
    switch (s) {
    case CUBLAS_STATUS_NOT_INITIALIZED:
        return "cuBLASLt handle not initialised (driver/runtime problem)";
    case CUBLAS_STATUS_ALLOC_FAILED:
        return "cuBLASLt could not allocate memory: out of host or device memory";
    case CUBLAS_STATUS_INVALID_VALUE:
        return "unsupported dimension/alignment/leading-dimension/scale combination: FP8 needs K and the leading "
               "dimensions multiples of 16 and 16-byte aligned pointers; block scaling needs M, N, K multiples "
               "of 128";
    case CUBLAS_STATUS_ARCH_MISMATCH:
        return "this GEMM needs a newer GPU (FP8: sm_89+, block-scaled FP8: sm_90)";
    case CUBLAS_STATUS_NOT_SUPPORTED:
        return "cuBLASLt has no kernel for this type/layout/scale-mode combination on this GPU";
    case CUBLAS_STATUS_EXECUTION_FAILED:
        return "the GEMM kernel failed to launch or run: rerun under compute-sanitizer";
    case CUBLAS_STATUS_INTERNAL_ERROR:
        return "cuBLASLt internal error (often a prior asynchronous CUDA error)";
    default:
        return "see the cuBLAS documentation for this status";
    }
}

/* For functions returning int (0 / -1). */
#define CUDA_CHECK(call)                                                                                      \
    do {                                                                                                      \
        cudaError_t e_ = (call);                                                                              \
        if (e_ != cudaSuccess) {                                                                              \
            fp8lab_set_error(__FILE__, __LINE__, FP8LAB_EXIT_RUNTIME, "%s failed: %s: %s (hint: %s)", #call, cudaGetErrorName(e_), \
                             cudaGetErrorString(e_), fp8lab_cuda_hint(e_));                                   \
            return -1;                                                                                        \
        }                                                                                                     \
    } while (0)

/* For functions with another failure value (e.g. NULL). */
#define CUDA_CHECK_RET(call, ret)                                                                             \
    do {                                                                                                      \
        cudaError_t e_ = (call);                                                                              \
        if (e_ != cudaSuccess) {                                                                              \
            fp8lab_set_error(__FILE__, __LINE__, FP8LAB_EXIT_RUNTIME, "%s failed: %s: %s (hint: %s)", #call, cudaGetErrorName(e_), \
                             cudaGetErrorString(e_), fp8lab_cuda_hint(e_));                                   \
            return ret;                                                                                       \
        }                                                                                                     \
    } while (0)

/* Right after a <<<...>>> launch: catches bad configurations (synchronous launch errors). Errors raised while
   the kernel runs surface at the next synchronising call (sync, copy_d2h). */
#define CUDA_CHECK_LAUNCH(kernel_name)                                                                        \
    do {                                                                                                      \
        cudaError_t e_ = cudaGetLastError();                                                                  \
        if (e_ != cudaSuccess) {                                                                              \
            fp8lab_set_error(__FILE__, __LINE__, FP8LAB_EXIT_RUNTIME, "launch of %s failed: %s: %s (hint: %s)", kernel_name,       \
                             cudaGetErrorName(e_), cudaGetErrorString(e_), fp8lab_cuda_hint(e_));             \
            return -1;                                                                                        \
        }                                                                                                     \
    } while (0)

#define CUBLAS_CHECK_RET(call, ret)                                                                           \
    do {                                                                                                      \
        cublasStatus_t s_ = (call);                                                                           \
        if (s_ != CUBLAS_STATUS_SUCCESS) {                                                                    \
            fp8lab_set_error(__FILE__, __LINE__, FP8LAB_EXIT_RUNTIME, "%s failed: %s: %s (hint: %s)", #call,                       \
                             cublasLtGetStatusName(s_), cublasLtGetStatusString(s_), fp8lab_cublas_hint(s_)); \
            return ret;                                                                                       \
        }                                                                                                     \
    } while (0)

#define CUBLAS_CHECK(call) CUBLAS_CHECK_RET(call, -1)

#endif
