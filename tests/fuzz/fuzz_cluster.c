/* Fuzz target: the cluster spec loader (sim/cluster.h) on any bytes. Every input goes to
   fp8lab_cluster_from_json; inputs that do not start with '{' also go through the file loader fp8lab_cluster_load
   (see fuzz_model.c for why not all). */
#include <cjson/cJSON.h>

#include "core/error.h"
#include "fuzz_util.h"
#include "sim/cluster.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static fuzz_file file;
    fp8lab_cluster c;
    if (size && data[0] != '{') fp8lab_cluster_load(fuzz_file_set(&file, data, size), &c);
    cJSON *root = cJSON_ParseWithLength((const char *)data, size);
    if (root && fp8lab_cluster_from_json(root, "fuzz-input", &c) == 0) {
        /* what the reports do with a loaded spec */
        for (int p = 0; p < 4; p++) (void)fp8lab_prec_parse(fp8lab_prec_name((fp8lab_prec)p));
    }
    cJSON_Delete(root);
    fp8lab_clear_error();
    return 0;
}
