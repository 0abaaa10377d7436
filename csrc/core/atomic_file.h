/* Output files written whole or not at all. */
#ifndef FP8LAB_CORE_ATOMIC_FILE_H
#define FP8LAB_CORE_ATOMIC_FILE_H

/* Writes data to path atomically: temp file in the same directory, fsync, rename. Returns 0 or -1. */
int fp8lab_write_file_atomic(const char *path, const char *data, long len);

#endif
