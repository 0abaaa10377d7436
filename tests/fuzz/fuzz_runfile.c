/* Fuzz target: the run files of fp8lab train (train/config.h). The bytes go to fp8lab_train_cfg_from_json (parsed
   here) and, as a file, to fp8lab_train_cfg_load, each over the defaults; the two must agree. A config either
   accepts must pass back through fp8lab_train_cfg_to_json and from_json unchanged, and goes through
   fp8lab_train_cfg_check. Every refusal must name the file. */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/error.h"
#include "fuzz_util.h"
#include "train/config.h"

#define NAME "runfile.json"

/* from_json of cfg's own to_json, through text: the same JSON again */
static void round_trip(const fp8lab_train_cfg *c) {
    cJSON *j = fp8lab_train_cfg_to_json(c);
    char *s = j ? cJSON_PrintUnformatted(j) : NULL;
    cJSON *back = s ? cJSON_Parse(s) : NULL;
    if (!back) abort(); /* out of memory is not expected at these sizes */
    fp8lab_train_cfg d;
    fp8lab_train_cfg_default(&d);
    if (fp8lab_train_cfg_from_json(&d, back, "round trip")) abort();
    cJSON *j2 = fp8lab_train_cfg_to_json(&d);
    if (!j2 || !cJSON_Compare(j, j2, 1)) abort();
    /* check looks at values only: the copy must get the same answer */
    fp8lab_clear_error();
    if ((fp8lab_train_cfg_check(c) == 0) != (fp8lab_train_cfg_check(&d) == 0)) abort();
    fp8lab_clear_error();
    cJSON_Delete(j2);
    fp8lab_train_cfg_free(&d);
    cJSON_Delete(back);
    free(s);
    cJSON_Delete(j);
}

static int names(const char *what) { return strstr(fp8lab_last_error(), what) != NULL; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static fuzz_file file;
    const char *path = fuzz_file_set(&file, data, size);
    fuzz_quiet_begin();
    fp8lab_train_cfg a, b;
    fp8lab_train_cfg_default(&a);
    fp8lab_train_cfg_default(&b);
    cJSON *root = cJSON_ParseWithLength((const char *)data, size);
    int ra = -1;
    if (root) {
        ra = fp8lab_train_cfg_from_json(&a, root, NAME);
        if (ra && !names(NAME)) abort();
        cJSON_Delete(root);
    }
    fp8lab_clear_error();
    const int rb = fp8lab_train_cfg_load(&b, path);
    if (rb && !names(path)) abort();
    fp8lab_clear_error();
    /* the loader parses the same text (cJSON_ParseWithLength stops at a NUL the loader may refuse: only
       "accepted from the file" implies "accepted as JSON") */
    if (rb == 0 && ra != 0) abort();
    if (rb == 0) {
        cJSON *ja = fp8lab_train_cfg_to_json(&a), *jb = fp8lab_train_cfg_to_json(&b);
        if (!ja || !jb || !cJSON_Compare(ja, jb, 1)) abort();
        cJSON_Delete(ja);
        cJSON_Delete(jb);
        round_trip(&b);
        /* a key twice is refused (which of the two would count is anyone's guess) */
        cJSON *r = cJSON_ParseWithLength((const char *)data, size);
        int k = 0;
        for (const cJSON *x = r ? r->child : NULL; x && k < 64; x = x->next, k++)
            for (const cJSON *y = x->next; y && x->string && y->string; y = y->next)
                if (!strcmp(x->string, y->string) && strcmp(x->string, "description") && strcmp(x->string, "comment"))
                    abort();
        cJSON_Delete(r);
        if (fp8lab_train_cfg_check(&b) == 0) {
            /* what check promises the trainer */
            if (fp8lab_train_parse_recipe(b.recipe) < 0 || !b.out || !b.out[0] || b.steps < 1 || b.batch < 1 ||
                b.seq < 1)
                abort();
        }
        fp8lab_clear_error();
    }
    fp8lab_train_cfg_free(&a);
    fp8lab_train_cfg_free(&b);
    fuzz_quiet_end();
    fp8lab_clear_error();
    return 0;
}
