/* Where each tile's scale lives in the backends' scale tensors: the one place this index arithmetic is written.
   The layouts are the ones cuBLASLt consumes, so the CUDA path passes them on unchanged:
   - 1x128 tiles of x[rows][cols] (one scale per row and 128 columns): s[cols/128][rows], rows contiguous
     (cuBLASLt VEC128_32F).
   - 128x128 blocks of x[rows][cols]: s[rows/128][ld], ld = roundup(cols/128, 4); the entries past cols/128 in
     each row are padding and hold 0 (cuBLASLt BLK128x128_32F).
   The numerics core (fp8/quant.h, fp8/gemm_ref.h) keeps its own row-major [rows][cols/128] layout.
   Plain C with no dependencies, so CUDA kernels include it too (the functions are then __host__ __device__). */
#ifndef FP8LAB_SCALE_LAYOUT_H
#define FP8LAB_SCALE_LAYOUT_H
#include <stddef.h>

#ifdef __CUDACC__
#define FP8LAB_HD __host__ __device__
#else
#define FP8LAB_HD
#endif

/* The tile width of every block-scaled format. */
#define FP8LAB_TILE 128

/* Row stride of 128x128 scales: cuBLASLt wants the K-block count padded to a multiple of 4. */
FP8LAB_HD static inline int fp8lab_blk_scale_ld(int cols) { return (cols / FP8LAB_TILE + 3) / 4 * 4; }

/* 1x128: the scale of the tile in row r, column block kb (columns kb*128 .. kb*128+127). */
FP8LAB_HD static inline size_t fp8lab_scale_1x128_tile(size_t r, size_t kb, size_t rows) { return kb * rows + r; }

/* 1x128: the scale that applies to element (r, c). */
FP8LAB_HD static inline size_t fp8lab_scale_1x128_at(size_t r, size_t c, size_t rows) {
    return fp8lab_scale_1x128_tile(r, c / FP8LAB_TILE, rows);
}

/* 1x128: entries in the scale tensor of x[rows][cols]. */
FP8LAB_HD static inline size_t fp8lab_scale_1x128_count(size_t rows, size_t cols) {
    return cols / FP8LAB_TILE * rows;
}

/* 128x128: the scale of block (rb, kb), with ld = fp8lab_blk_scale_ld(cols). */
FP8LAB_HD static inline size_t fp8lab_scale_128x128_tile(size_t rb, size_t kb, size_t ld) { return rb * ld + kb; }

/* 128x128: the scale that applies to element (r, c) of x[..][cols]. */
FP8LAB_HD static inline size_t fp8lab_scale_128x128_at(size_t r, size_t c, int cols) {
    return fp8lab_scale_128x128_tile(r / FP8LAB_TILE, c / FP8LAB_TILE, (size_t)fp8lab_blk_scale_ld(cols));
}

/* 128x128: entries in the scale tensor of x[rows][cols], padding included. */
FP8LAB_HD static inline size_t fp8lab_scale_128x128_count(size_t rows, int cols) {
    return rows / FP8LAB_TILE * (size_t)fp8lab_blk_scale_ld(cols);
}

#endif
