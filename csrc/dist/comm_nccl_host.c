/* fp8lab_comm_nccl: the NCCL entry of the library that made the backend, rank 0's id to every rank, then the
   communicator (comm_nccl_host.h). */
#define _GNU_SOURCE /* dladdr, RTLD_NOLOAD */
#include "dist/comm_nccl_host.h"

#include <dlfcn.h>
#include <string.h>

#include "backend/cuda_module.h"
#include "core/error.h"
#include "dist/comm_nccl_module.h"
#include "dist/rendezvous.h"

_Static_assert(FP8LAB_RDV_BLOB_BYTES == FP8LAB_NCCL_ID_BYTES, "rendezvous carries exactly one NCCL id");

int fp8lab_comm_nccl_built(void) {
#ifdef FP8LAB_HAVE_NCCL
    return 1;
#else
    return 0;
#endif
}

/* The backend's ops live in the library the loader opened (FP8LAB_CUDA_LIB, beside the executable or by name):
   dladdr on one of them names that very file, and RTLD_NOLOAD takes a reference to the loaded copy instead of
   searching again and perhaps finding another. The reference is kept: the loader never unloads it either. */
static const fp8lab_nccl_module *nccl_module(fp8lab_backend *be) {
    void *fn;
    memcpy(&fn, &be->destroy, sizeof fn); /* ISO C has no function-to-object pointer cast */
    Dl_info info;
    void *h = fn && dladdr(fn, &info) && info.dli_fname ? dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD) : NULL;
    void *sym = h ? dlsym(h, FP8LAB_CUDA_NCCL_ENTRY) : NULL;
    if (!sym) {
        FP8LAB_ERR_RT("communicator (nccl): the CUDA backend's library has no %s (hint: the backend is wrapped, "
                      "e.g. by the recorder: pass the inner backend; or %s predates the NCCL communicator: "
                      "rebuild it)", FP8LAB_CUDA_NCCL_ENTRY, FP8LAB_CUDA_LIB_NAME);
        if (h) dlclose(h);
        return NULL;
    }
    fp8lab_cuda_nccl_entry_fn entry;
    memcpy(&entry, &sym, sizeof entry);
    static const fp8lab_host_api host = {.set_error = fp8lab_set_error};
    return entry(FP8LAB_NCCL_ABI, &host);
}

static int args_ok(fp8lab_backend *be, const fp8lab_launch *l) {
    if (!be || !be->name || strcmp(be->name, "cuda") != 0) {
        FP8LAB_ERR("communicator (nccl): needs the CUDA backend, not '%s' (hint: --backend cuda; CPU ranks use "
                   "the MPI communicator)", be && be->name ? be->name : "none");
        return 0;
    }
    if (!l || l->size < 1 || l->rank < 0 || l->rank >= l->size) {
        FP8LAB_ERR("communicator (nccl): invalid launch: rank %d of %d", l ? l->rank : -1, l ? l->size : 0);
        return 0;
    }
    return 1;
}

/* rank 0's id to every rank: over the host communicator when the job has one (mpirun), else by rendezvous */
static int share_id(fp8lab_comm *host, const fp8lab_launch *l, unsigned char *id) {
    if (host && host->size > 1 && strcmp(host->name, "deferred"))
        return fp8lab_broadcast(host, id, FP8LAB_NCCL_ID_BYTES, FP8LAB_CDT_U8, 0);
    return fp8lab_rendezvous(l, id); /* one rank: nothing to exchange */
}

fp8lab_comm *fp8lab_comm_nccl(fp8lab_backend *be, const fp8lab_launch *l, fp8lab_comm *host) {
    if (!args_ok(be, l)) return NULL;
    const fp8lab_nccl_module *m = nccl_module(be);
    if (!m) return NULL;
    unsigned char id[FP8LAB_NCCL_ID_BYTES] = {0};
    if (l->rank == 0 && m->get_unique_id(id)) return NULL;
    if (share_id(host, l, id)) return NULL;
    return m->create(id, l->rank, l->size, be);
}
