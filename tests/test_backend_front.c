/* The front functions' plumbing (backend/backend.h): a NULL backend, an op a backend lacks, backend creation by
   name, and the CUDA backend's loader: a library that cannot be loaded gives a "no GPU" error (exit status 1),
   and an error raised inside libfp8lab_cuda.so reaches fp8lab_last_error() here. Runs in every build: without
   a GPU (or CUDA) the loader's errors are what is tested. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "backend/backend.h"
#include "core/error.h"
#include "fp8/quant.h"

static void assert_error(const char *expect, int exit_code) {
    printf("  %s\n", fp8lab_last_error());
    assert_non_null(strstr(fp8lab_last_error(), expect));
    assert_int_equal(fp8lab_last_error_exit(), exit_code);
}

static void test_null_backend(void **state) {
    (void)state;
    float x[128] = {0};
    fp8lab_clear_error();
    assert_int_equal(fp8lab_amax(NULL, x, 128, x), -1);
    assert_error("amax: the backend is NULL", FP8LAB_EXIT_USAGE);
    assert_null(fp8lab_alloc(NULL, 16));
    assert_error("alloc: the backend is NULL", FP8LAB_EXIT_USAGE);
    assert_int_equal(fp8lab_sync(NULL), -1);
    fp8lab_free(NULL, x); /* cleanup paths: nothing happens */
    fp8lab_backend_destroy(NULL);
}

/* A backend with part of the CPU backend's ops: what it has works, what it lacks is reported by name. */
static void test_missing_op(void **state) {
    (void)state;
    fp8lab_backend *cpu = fp8lab_cpu_backend_create();
    assert_non_null(cpu);
    fp8lab_quant_ops quant = *cpu->quant;
    quant.quantize_1x128 = NULL;
    fp8lab_backend partial = *cpu;
    partial.name = "partial";
    partial.quant = &quant;
    partial.gemm = NULL;
    float *x = fp8lab_alloc(&partial, sizeof(float) * 128 * 128), *s = fp8lab_alloc(&partial, sizeof(float) * 128);
    uint8_t *q = fp8lab_alloc(&partial, 128 * 128);
    assert_true(x && s && q);
    memset(x, 0, sizeof(float) * 128 * 128);
    assert_int_equal(fp8lab_amax(&partial, x, 128 * 128, s), 0);
    assert_int_equal(fp8lab_quantize_1x128(&partial, x, 128, 128, FP8_E4M3, 0, q, s), -1);
    assert_error("op quantize_1x128 is not implemented by backend partial", FP8LAB_EXIT_RUNTIME);
    assert_int_equal(fp8lab_gemm_f32(&partial, x, x, 8, 8, 8, x), -1);
    assert_error("op gemm_f32 is not implemented by backend partial", FP8LAB_EXIT_RUNTIME);
    /* the op is missing whatever the arguments: reported before they are checked */
    assert_int_equal(fp8lab_quantize_1x128(&partial, NULL, 0, 0, 9, 0, NULL, NULL), -1);
    assert_error("not implemented by backend partial", FP8LAB_EXIT_RUNTIME);
    fp8lab_free(&partial, x);
    fp8lab_free(&partial, s);
    fp8lab_free(&partial, q);
    fp8lab_backend_destroy(cpu);
}

static void test_create_by_name(void **state) {
    (void)state;
    assert_null(fp8lab_backend_create("tpu"));
    assert_error("unknown device 'tpu'", FP8LAB_EXIT_USAGE);
    fp8lab_backend *be = fp8lab_backend_create("cpu");
    assert_non_null(be);
    assert_string_equal(be->name, "cpu");
    fp8lab_device_info di;
    assert_int_equal(fp8lab_backend_info(be, &di), 0);
    assert_non_null(strstr(di.name, "CPU"));
    fp8lab_backend_destroy(be);
    be = fp8lab_backend_create("auto"); /* the GPU when there is one, else the CPU */
    assert_non_null(be);
    printf("  auto: %s\n", be->name);
    fp8lab_backend_destroy(be);
}

/* FP8LAB_CUDA_LIB names the library; nothing else is tried when it is set. It is read when the library is first
   opened (a library that loaded stays loaded), so this runs before anything else asks for a GPU. */
static void test_loader_bad_path(void **state) {
    (void)state;
    setenv("FP8LAB_CUDA_LIB", "/nonexistent/libfp8lab_cuda.so", 1);
    fp8lab_clear_error();
    assert_null(fp8lab_cuda_backend_create(0));
    assert_error("no GPU: ", FP8LAB_EXIT_RUNTIME);
    unsetenv("FP8LAB_CUDA_LIB");
}

/* The real library (the link beside this test in a CUDA build): either a GPU backend, or an error that was
   set inside the library (cudaGetDeviceCount, an unsupported GPU) or by the loader, visible here. */
static void test_loader_reports(void **state) {
    (void)state;
    fp8lab_clear_error();
    fp8lab_backend *be = fp8lab_cuda_backend_create(0);
    if (be) {
        printf("  cuda backend on this machine\n");
        assert_string_equal(be->name, "cuda");
        fp8lab_backend_destroy(be);
        return;
    }
    printf("  %s\n", fp8lab_last_error());
    assert_non_null(strstr(fp8lab_last_error(), "GPU"));
    assert_int_not_equal(strcmp(fp8lab_last_error(), "unknown error"), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loader_bad_path), /* first: the library is opened once, by the first load */
        cmocka_unit_test(test_loader_reports),
        cmocka_unit_test(test_null_backend),
        cmocka_unit_test(test_missing_op),
        cmocka_unit_test(test_create_by_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
