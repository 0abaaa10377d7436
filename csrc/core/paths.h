/* Finding the repository's data files (configs/...) when a command runs outside the repository root. */
#ifndef FP8LAB_PATHS_H
#define FP8LAB_PATHS_H
#include <stddef.h>

/* rel if it exists from the working directory; else the same path next to the executable's directory or its
   parent (build/fp8lab -> configs/...); else rel unchanged, so the error names the path the user expects. */
const char *fp8lab_resolve_data(const char *rel, char *buf, size_t n);

#endif
