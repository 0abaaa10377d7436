/* Reading JSON files (configs, calibration, and soon checkpoints' metadata) with errors that name the file, the key,
   the value and its allowed range. Every number goes through the ranges of core/num.h. */
#ifndef FP8LAB_CORE_JSON_H
#define FP8LAB_CORE_JSON_H
#include <cjson/cJSON.h>

#include "core/num.h"

/* Parses a whole file; on failure sets the error ("FILE: cannot read ..." / "FILE: invalid JSON near ...") and
   returns NULL. The caller frees with cJSON_Delete. */
cJSON *fp8lab_json_load(const char *path);

/* Number at obj[key], checked against r. `prefix` is printed before the key in errors ("gpu." for nested keys).
   When the key is absent: returns 1 and leaves *out unchanged if optional, else sets an error and returns -1.
   Returns 0 when read, -1 with an error naming the file, key, value and range on a bad value. */
int fp8lab_json_num(const char *file, const cJSON *obj, const char *prefix, const char *key, int optional,
                    fp8lab_range r, double *out);
/* Same for integers (refuses fractions); r must lie within +-2^53. */
int fp8lab_json_int(const char *file, const cJSON *obj, const char *prefix, const char *key, int optional,
                    fp8lab_range r, long *out);
/* String at obj[key] copied into out[cap]. */
int fp8lab_json_str(const char *file, const cJSON *obj, const char *prefix, const char *key, int optional,
                    char *out, int cap);

/* Writing: one number member of an object, so that a report's numbers are a table of {key, value}. */
typedef struct {
    const char *key;
    double value;
} fp8lab_json_field;

/* Adds f[0 .. n) to o as number members, in order (o NULL: nothing, as cJSON_Add* do on an allocation failure). */
void fp8lab_json_add_numbers(cJSON *o, const fp8lab_json_field *f, int n);
/* The same with each number written in 17 significant digits, so that it reads back bit for bit (cJSON's printer
   stops at 15 digits when those come within an epsilon of the value); a non-finite value as null. */
void fp8lab_json_add_exact(cJSON *o, const fp8lab_json_field *f, int n);

/* adder(o, the fields given, their count): the table of {key, value} written in place */
#define FP8LAB_JSON_ADD_FIELDS_(adder, o, ...)                                                                        \
    do {                                                                                                               \
        const fp8lab_json_field fields_[] = {__VA_ARGS__};                                                             \
        adder((o), fields_, (int)(sizeof fields_ / sizeof fields_[0]));                                                \
    } while (0)
#define FP8LAB_JSON_ADD_NUMBERS(o, ...) FP8LAB_JSON_ADD_FIELDS_(fp8lab_json_add_numbers, o, __VA_ARGS__)
#define FP8LAB_JSON_ADD_EXACT(o, ...) FP8LAB_JSON_ADD_FIELDS_(fp8lab_json_add_exact, o, __VA_ARGS__)

#endif
