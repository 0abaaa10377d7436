/* Shared by the cmocka tests. */
#ifndef FP8LAB_TEST_UTIL_H
#define FP8LAB_TEST_UTIL_H
#include <stdio.h>

/* ctest maps exit code 77 to "Skipped" (SKIP_RETURN_CODE in tests/CMakeLists.txt). */
#define FP8LAB_SKIP_EXIT 77
#define FP8LAB_SKIP(...)                                                                                      \
    do {                                                                                                      \
        printf("skipped: " __VA_ARGS__);                                                                      \
        printf("\n");                                                                                         \
        fflush(stdout);                                                                                       \
        return FP8LAB_SKIP_EXIT;                                                                              \
    } while (0)

#endif
