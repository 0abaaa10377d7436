/* Fuzz target: the calibration loader (fp8lab_kernel_model_calibrate, a `fp8lab bench gemm --json` file) on any
   bytes, then the GEMM time model with whatever it fitted. */
#include "core/error.h"
#include "fuzz_util.h"
#include "sim/kernel_model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static fuzz_file file;
    fp8lab_kernel_model km;
    fp8lab_kernel_model_default(&km);
    /* H100 SXM's 132 SMs: the SM count of the configs/clusters files the calibration is used with */
    if (fp8lab_kernel_model_calibrate(&km, fuzz_file_set(&file, data, size), 132) == 0) {
        const fp8lab_gpu g = {"fuzz", {989, 989, 1979, 67}, 80, 3350, 132};
        static const double shapes[][3] = {{1, 1, 1}, {128, 128, 128}, {4096, 7168, 2048}, {1e6, 1e6, 1e6}};
        for (int p = 0; p < 4; p++)
            for (int s = 0; s < 4; s++) {
                (void)fp8lab_gemm_eff(&km, fp8lab_recipe_for((fp8lab_prec)p), shapes[s][0], shapes[s][1], shapes[s][2],
                                      1 + 131 * (s & 1));
                const fp8lab_gemm_call c = {.m = shapes[s][0], .n = shapes[s][1], .k = shapes[s][2],
                                            .prec = (fp8lab_prec)p, .sms = 100, .wgrad = s & 1};
                (void)fp8lab_gemm_time(&km, &g, &c);
            }
    }
    fp8lab_clear_error();
    return 0;
}
