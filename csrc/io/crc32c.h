/* CRC-32C (Castagnoli, the polynomial of iSCSI, ext4 and SSE4.2's crc32 instruction): the checksum fp8lab puts
   in the files it writes (safetensors' "fp8lab_crc32c"). Written here, table-driven (slicing by 8), with the
   SSE4.2 instruction where the CPU has it; both give the same value. */
#ifndef FP8LAB_IO_CRC32C_H
#define FP8LAB_IO_CRC32C_H
#include <stddef.h>
#include <stdint.h>

/* Continues a CRC: start with crc = 0; fp8lab_crc32c(fp8lab_crc32c(0, a, n), b, m) is the CRC of a then b.
   The standard check value: fp8lab_crc32c(0, "123456789", 9) == 0xE3069283. */
uint32_t fp8lab_crc32c(uint32_t crc, const void *data, size_t n);

/* The portable table-driven path alone (tests compare it with the dispatching function). */
uint32_t fp8lab_crc32c_sw(uint32_t crc, const void *data, size_t n);

#endif
