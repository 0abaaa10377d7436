/* Rotary position embedding (layer_ops.h), in place on x[B][T][H][D], pairs (i, i + D/2), angle
   t * theta^(-2i/D); the backward rotates by -angle.
   As in the CPU reference, each (t, i) angle's cosine and sine are computed in double (t * freq is large for
   long sequences) and rounded to float; the rotation itself is FP32.
   Launch: one thread per (t, i) pair, grid-stride over T * D/2 (consecutive threads: consecutive i, so the
   accesses to a row's halves are coalesced); each thread computes its sincos once and rotates that pair in
   every (b, h). */
#include "device_util.cuh"

namespace {

__global__ void rope_kernel(float *x, int B, int T, int H, int D, double theta, float sign) {
    const int half = D / 2;
    const long long pairs = (long long)T * half;
    const long long row_stride = (long long)H * D; /* between tokens */
    const long long batch_stride = (long long)T * row_stride;
    for (long long p = (long long)blockIdx.x * blockDim.x + threadIdx.x; p < pairs;
         p += (long long)gridDim.x * blockDim.x) {
        const int t = (int)(p / half), i = (int)(p % half);
        const double ang = (double)t * pow(theta, -2.0 * i / D);
        double sd, cd;
        sincos(ang, &sd, &cd);
        const float c = (float)cd, s = sign * (float)sd;
        for (int b = 0; b < B; b++) {
            float *xr = x + b * batch_stride + t * row_stride + i;
            for (int h = 0; h < H; h++, xr += D) {
                const float x1 = xr[0], x2 = xr[half];
                xr[0] = x1 * c - x2 * s;
                xr[half] = x2 * c + x1 * s;
            }
        }
    }
}

int rope_launch(fp8lab_backend *be, float *x, int B, int T, int H, int D, float theta, float sign) {
    fp8lab_cuda_ctx *c = fp8lab_cuda_ctx_of(be);
    CUDA_USE_DEVICE(c);
    const long long pairs = (long long)T * (D / 2);
    rope_kernel<<<fp8lab_grid_stride_blocks(c, pairs, 128), 128, 0, c->stream>>>(x, B, T, H, D, (double)theta, sign);
    CUDA_CHECK_LAUNCH("rope_kernel");
    return 0;
}

} // namespace

int fp8lab_cuda_rope_fwd(fp8lab_backend *be, float *x, int B, int T, int H, int D, float theta) {
    return rope_launch(be, x, B, T, H, D, theta, 1.0f);
}

int fp8lab_cuda_rope_bwd(fp8lab_backend *be, float *dx, int B, int T, int H, int D, float theta) {
    return rope_launch(be, dx, B, T, H, D, theta, -1.0f);
}
