/*
 * Run-time loading of GPU backend modules. The HIP backend is installed as
 * a separate shared object so that one libfp8fuse works on machines without
 * any GPU runtime: it is opened here with dlopen, never linked.
 *
 * Where: $FP8F_BACKEND_PATH (a directory holding the module, or the module
 * file itself), else the install directory FP8F_MODULE_DIR.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define HIP_MODULE_FILE "libfp8fuse-hip.so"

static void module_path(char *buf, size_t len) {
    const char *env = getenv("FP8F_BACKEND_PATH");
    size_t n = env ? strlen(env) : 0;
    if (env && n > 3 && strcmp(env + n - 3, ".so") == 0)
        snprintf(buf, len, "%s", env);
    else
        snprintf(buf, len, "%s/%s", env && *env ? env : FP8F_MODULE_DIR, HIP_MODULE_FILE);
}

const struct fp8f_backend_ops *fp8f__load_hip(void **module, char *why, size_t why_len) {
    char path[4096];
    module_path(path, sizeof path);
    void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        const char *err = dlerror();
        snprintf(why, why_len, "cannot load the module (%s)", err ? err : path);
        return NULL;
    }
    union {
        void *obj;
        fp8f_backend_module_fn fn;
    } entry;
    entry.obj = dlsym(handle, FP8F_BACKEND_MODULE_SYMBOL);
    const struct fp8f_backend_ops *ops = entry.obj ? entry.fn(FP8F_BACKEND_ABI) : NULL;
    if (!ops) {
        snprintf(why, why_len, "%s is not a fp8fuse backend of ABI %d", path, FP8F_BACKEND_ABI);
        dlclose(handle);
        return NULL;
    }
    *module = handle;
    return ops;
}

int fp8f__module_device_count(void *module) {
    union {
        void *obj;
        fp8f_backend_device_count_fn fn;
    } entry;
    entry.obj = dlsym(module, FP8F_BACKEND_DEVICE_COUNT_SYMBOL);
    return entry.obj ? entry.fn() : -1;
}

void fp8f__unload_module(void *module) {
    if (module)
        dlclose(module);
}
