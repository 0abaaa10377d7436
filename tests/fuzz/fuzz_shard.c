/* Fuzz target: any bytes as an llm.c token shard file (data/shard.h: fp8lab_shard_open with and without a vocabulary),
   then, when it opens, the loader over it (data/loader.h): shuffled batches, a position saved as JSON and restored
   into a second loader (whose batches must be the same), and every evaluation row. */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/error.h"
#include "data/loader.h"
#include "data/shard.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static fuzz_file file;
    const char *path = fuzz_file_set(&file, data, size);
    fuzz_quiet_begin();
    fp8lab_shard s;
    if (fp8lab_shard_open(&s, path, 0) == 0) {
        /* what a shard that opens promises: its size, its ids within min..max */
        if (s.map_len != (size_t)(FP8LAB_SHARD_HEADER_BYTES + s.ntok * s.width) || s.ntok < 2) abort();
        for (int64_t i = 0; i < s.ntok; i++) {
            uint32_t v = fp8lab_shard_token(&s, i);
            if (v < s.min_tok || v > s.max_tok) abort();
        }
        uint32_t hi = s.max_tok;
        fp8lab_shard_close(&s);
        fp8lab_clear_error();
        /* with a vocabulary: refused exactly when an id reaches it */
        int64_t vocab = (int64_t)(size % 3 == 0 ? 256 : 50257);
        int rc = fp8lab_shard_open(&s, path, vocab);
        if ((rc == 0) != ((int64_t)hi < vocab)) abort();
        if (rc == 0) fp8lab_shard_close(&s);
        fp8lab_clear_error();

        const int T = 1 + (int)(size % 7), B = 1 + (int)(size % 3);
        const char *paths[] = {path};
        fp8lab_loader a, b;
        if (fp8lab_loader_open(&a, paths, 1, B, T, 0, size, 1) == 0) {
            int32_t *in = malloc(4 * sizeof *in * (size_t)B * T), *tg = in + B * T, *in2 = tg + B * T,
                    *tg2 = in2 + B * T;
            if (!in) abort();
            for (int k = 0; k < 3; k++)
                if (fp8lab_loader_next(&a, in, tg)) abort();
            cJSON *j = fp8lab_loader_pos_to_json(&a);
            if (j && fp8lab_loader_open(&b, paths, 1, B, T, 0, size, 1) == 0) {
                if (fp8lab_loader_pos_from_json(&b, j, "pos")) abort();
                for (int k = 0; k < 3; k++) {
                    if (fp8lab_loader_next(&a, in, tg) || fp8lab_loader_next(&b, in2, tg2)) abort();
                    if (memcmp(in, in2, sizeof *in * (size_t)B * T) || memcmp(tg, tg2, sizeof *tg * (size_t)B * T))
                        abort();
                }
                fp8lab_loader_close(&b);
            }
            cJSON_Delete(j);
            fp8lab_eval_pos it = {0, 0};
            int64_t rows = 0;
            while (fp8lab_loader_eval_next(&a, &it, in, tg)) {
                for (int t = 0; t + 1 < T; t++)
                    if (tg[t] != in[t + 1]) abort();
                rows++;
            }
            if (rows != fp8lab_eval_rows(a.total_tokens, T)) abort();
            free(in);
            fp8lab_loader_close(&a);
        }
    }
    fuzz_quiet_end();
    fp8lab_clear_error();
    return 0;
}
