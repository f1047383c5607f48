/*
 * A stand-in for the HIP backend module, for testing how fp8f_ctx_create
 * chooses a backend on a machine with or without a GPU (test_errors):
 * it counts FP8F_FAKE_HIP_DEVICES devices (default 1) and, like the real
 * module, refuses a context on an ordinal past the last one. It computes
 * nothing: contexts on it are only created and destroyed.
 */
#include <stdlib.h>

#include "backend.h"

#define EXPORT __attribute__((visibility("default")))

static int fake_devices(void) {
    const char *env = getenv("FP8F_FAKE_HIP_DEVICES");
    return env && *env ? atoi(env) : 1;
}

static fp8f_status fake_init(struct fp8f_backend *be) {
    const int count = fake_devices();
    if (count < 1)
        return fp8f_backend_fail(be, FP8F_E_BACKEND, "no fake GPU device is present");
    if (be->device >= count)
        return fp8f_backend_fail(be, FP8F_E_BACKEND, "device %d asked for, %d present",
                                 be->device, count);
    return FP8F_OK;
}

static const struct fp8f_backend_ops fake_ops = {
    .name = "fake-hip",
    .caps = FP8F_CAP_FUSED_NORM_QUANT | FP8F_CAP_QUANTIZED_INPUT,
    .native_fp8 = FP8F_E4M3FN,
    .init = fake_init,
};

EXPORT const struct fp8f_backend_ops *fp8f_backend_module_ops(unsigned abi) {
    return abi == FP8F_BACKEND_ABI ? &fake_ops : NULL;
}

EXPORT int fp8f_backend_module_device_count(void) {
    const int count = fake_devices();
    return count > 0 ? count : 0;
}
