/* Reading JSON config files with errors that name the file and the key (exit-code-2 style messages).
   Shared by the model loader and the simulator's cluster/calibration loaders. */
#ifndef FP8LAB_JSON_GET_H
#define FP8LAB_JSON_GET_H
#include <cjson/cJSON.h>

/* Parses a whole file; on failure sets the error ("FILE: cannot read ..." / "FILE: invalid JSON near ...") and
   returns NULL. The caller frees with cJSON_Delete. */
cJSON *fp8lab_json_load(const char *path);

/* Number at obj[key]. `where` is the "FILE: key PREFIX" context printed in errors. min_excl: the value must be
   > min_excl (use -1 for ">= 0"-style checks with integers, or a huge negative to disable). When the key is
   absent: returns 1 and leaves *out unchanged if optional, else sets an error and returns -1. Returns 0 when
   read, -1 on a bad value. */
int fp8lab_json_num(const char *file, const cJSON *obj, const char *prefix, const char *key, int optional,
                    double min_excl, double *out);
#define FP8LAB_JSON_NONNEG (-1e-300) /* min_excl that accepts 0 */
/* Same for integers (rejects fractions). */
int fp8lab_json_long(const char *file, const cJSON *obj, const char *prefix, const char *key, int optional,
                     long min_excl, long *out);
/* String at obj[key] copied into out[cap]. */
int fp8lab_json_str(const char *file, const cJSON *obj, const char *prefix, const char *key, int optional,
                    char *out, int cap);

/* Writes data to path atomically: temp file in the same directory, fsync, rename. Returns 0 or -1. */
int fp8lab_write_file_atomic(const char *path, const char *data, long len);

#endif
