/* Fuzz target: the safetensors reader (io/safetensors.h) on any bytes as a file (an in-memory file opened by
   path), then, for every file it accepts, every tensor looked up by name and read as float32 (tensors of other
   dtypes are refused by fp8lab_st_read_f32, which exercises that path too) and every metadata pair. The bytes
   read are bounded by the input: an accepted file's tensors tile its data buffer. */
#include <stdlib.h>

#include "core/error.h"
#include "fuzz_util.h"
#include "io/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static fuzz_file file;
    fuzz_quiet_begin();
    fp8lab_st *st = NULL;
    if (fp8lab_st_open(fuzz_file_set(&file, data, size), &st) == 0) {
        volatile float sink = 0;
        for (int i = 0; i < fp8lab_st_count(st); i++) {
            const fp8lab_st_tensor *t = fp8lab_st_at(st, i);
            if (fp8lab_st_find(st, t->name) != t) abort();
            float *dst = malloc(((size_t)t->numel + 1) * sizeof *dst);
            if (!dst) abort();
            if (fp8lab_st_read_f32(st, t->name, dst, t->ndim, t->shape) == 0 && t->numel) sink += dst[t->numel - 1];
            fp8lab_st_read_f32(st, t->name, dst, -1, NULL);
            free(dst);
        }
        for (int i = 0; i < fp8lab_st_meta_count(st); i++) {
            const char *k, *v;
            fp8lab_st_meta_at(st, i, &k, &v);
            if (!k || !v || fp8lab_st_meta(st, k) == NULL) abort();
        }
        (void)sink;
        fp8lab_st_close(st);
    }
    fuzz_quiet_end();
    fp8lab_clear_error();
    return 0;
}
