/* Fuzz target: the model config loader (model/config.h) on any bytes, then the architecture-only counts
   (sim/flops.h) of every config it accepts. Every input goes to fp8lab_model_from_json (as a parsed JSON value
   of any type); inputs that do not start with '{' also go through the file loader fp8lab_model_load (its
   reading, top-level and error-line code; it allocates 8 MiB per call, which would slow every run ~30x). */
#include <cjson/cJSON.h>

#include "core/error.h"
#include "fuzz_util.h"
#include "model/config.h"
#include "sim/flops.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static fuzz_file file;
    fp8lab_model m;
    if (size && data[0] != '{') fp8lab_model_load(fuzz_file_set(&file, data, size), &m);
    cJSON *root = cJSON_ParseWithLength((const char *)data, size);
    if (root && fp8lab_model_from_json(root, "fuzz-input", &m) == 0) {
        long moe = fp8lab_model_moe_layers(&m);
        long dims = fp8lab_model_qk_dim(&m) + fp8lab_model_v_dim(&m);
        int first = fp8lab_model_is_moe_layer(&m, 0), last = fp8lab_model_is_moe_layer(&m, m.layers - 1);
        fp8lab_params p;
        fp8lab_count_params(&m, &p);
        fp8lab_flops f;
        fp8lab_count_flops(&m, m.max_pos < 4096 ? m.max_pos : 4096, &f);
        (void)moe, (void)dims, (void)first, (void)last;
    }
    cJSON_Delete(root);
    fp8lab_clear_error();
    return 0;
}
