/* The NCCL communicator's boundary with libfp8lab_cuda.so (cuda/comm_nccl.cu): a second exported symbol beside
   the backend's (backend/cuda_module.h), opened by dist/comm_nccl_host.c from the library that already holds
   the CUDA backend. C only, no CUDA or NCCL types: the host side compiles without either. */
#ifndef FP8LAB_DIST_COMM_NCCL_MODULE_H
#define FP8LAB_DIST_COMM_NCCL_MODULE_H

#include "backend/cuda_module.h"
#include "dist/comm.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FP8LAB_CUDA_NCCL_ENTRY "fp8lab_cuda_nccl_entry"
/* Bump when the table below or fp8lab_comm changes: the library refuses a caller built from other headers. */
#define FP8LAB_NCCL_ABI 1
#define FP8LAB_NCCL_ID_BYTES 128 /* sizeof(ncclUniqueId) */

typedef struct fp8lab_nccl_module {
    int nccl_version; /* ncclGetVersion of the loaded libnccl, e.g. 22809 for 2.28.9 */
    /* rank 0 only: a fresh NCCL unique id; 0 or -1 with the error reported */
    int (*get_unique_id)(unsigned char id[FP8LAB_NCCL_ID_BYTES]);
    /* This rank of `size`, on be's device (be must be the CUDA backend of this library); collectives are
       ordered after the work already queued on be's stream and finished when they return. Blocks until every
       rank has called it (or FP8LAB_COMM_TIMEOUT passes). NULL with the error reported. */
    fp8lab_comm *(*create)(const unsigned char id[FP8LAB_NCCL_ID_BYTES], int rank, int size, fp8lab_backend *be);
} fp8lab_nccl_module;

/* The exported entry: the table, or NULL with the error reported through host (wrong abi; a library built
   without NCCL says "this build has no NCCL"). */
typedef const fp8lab_nccl_module *(*fp8lab_cuda_nccl_entry_fn)(int abi, const fp8lab_host_api *host);

#ifdef __cplusplus
}
#endif
#endif
