/*
 * The HIP backend: a run-time module (libfp8fuse-hip.so) that the core
 * loads with dlopen. It exports two symbols, the vtable entry and the device
 * count (lib/backend.h); everything else is hidden.
 *
 * Work is enqueued on the context's stream and never waited for, except in
 * the operations that must: sync, a download, and weight creation (which
 * reports unconvertible codes). A runtime error becomes FP8F_E_DEVICE with
 * the runtime's own name and text; a failed device allocation FP8F_E_NOMEM.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hip_internal.h"

#define FP8F_HIP_EXPORT extern "C" __attribute__((visibility("default")))

/* --------------------------------------------------------- errors */

/* The runtime also keeps a call's error as the thread's "last error" until
 * it is read: read it here, so that a failure fp8fuse has reported is not
 * found again by the application's own check (every operation also clears
 * what is left before its launches: hip_use_device). */
fp8f_status hip_fail_rt(struct fp8f_backend *be, hipError_t e, const char *what) {
    (void)hipGetLastError();
    return fp8f_backend_fail(be, FP8F_E_DEVICE, "%s failed: %s: %s", what, hipGetErrorName(e),
                             hipGetErrorString(e));
}

/* Every operation starts here. An error left unread on this thread (by
 * the application, whose runtime this is too, or by a failure already
 * reported) is cleared, so that the operation's launch checks report only
 * their own launches; a device fault is sticky and comes back at them. */
fp8f_status hip_use_device(struct fp8f_backend *be) {
    (void)hipGetLastError();
    int cur = -1;
    const int dev = hip_st(be)->device;
    if (hipGetDevice(&cur) == hipSuccess && cur == dev)
        return FP8F_OK;
    HIP_TRY(be, hipSetDevice(dev));
    return FP8F_OK;
}

/* The calling thread's current device, as the application set it, is put
 * back after every entry point: an engine that works on GPU 0 and gives
 * fp8fuse a context on GPU 1 must not find its later allocations and
 * launches moved to GPU 1. (A thread with no device set reads device 0.) */
struct saved_device {
    int device, valid;
};

static struct saved_device save_device(void) {
    struct saved_device d = {-1, 0};
    d.valid = hipGetDevice(&d.device) == hipSuccess;
    if (!d.valid)
        (void)hipGetLastError();
    return d;
}

static void restore_device(struct saved_device d) {
    int cur = -1;
    if (d.valid && hipGetDevice(&cur) == hipSuccess && cur != d.device)
        (void)hipSetDevice(d.device);
}

/* Puts the saved device back when it goes out of scope. */
struct device_kept {
    const struct saved_device saved = save_device();
    ~device_kept() { restore_device(saved); }
};

/* Op wrapped so that it keeps the caller's current device (see above). */
template <auto Op> struct keeps_device;
template <typename R, typename... Args, R (*Op)(struct fp8f_backend *, Args...)>
struct keeps_device<Op> {
    static R call(struct fp8f_backend *be, Args... args) {
        device_kept kept;
        return Op(be, args...);
    }
};

/* ------------------------------------------------------- lifecycle */

/* The power of two in [lo, hi] the variable `name` holds, else 0 (unset). */
static int env_power_of_two(const char *name, int lo, int hi) {
    const char *v = getenv(name);
    const int x = v ? atoi(v) : 0;
    return x >= lo && x <= hi && (x & (x - 1)) == 0 ? x : 0;
}

static void read_env(struct hip_state *st) {
    const char *cfg = getenv("FP8F_HIP_ROWCFG"); /* "vpt,tpr[,rows]" or ",,rows" */
    if (cfg && *cfg) {
        int v = 0, t = 0, r = 0;
        if (sscanf(cfg, "%d,%d,%d", &v, &t, &r) >= 2) {
            st->cfg_vpt = v;
            st->cfg_tpr = t;
            st->cfg_rows = r;
        } else if (sscanf(cfg, ",,%d", &r) == 1) {
            st->cfg_rows = r;
        }
    }
    const char *gen = getenv("FP8F_HIP_GENERIC");
    st->force_generic = gen && strcmp(gen, "1") == 0;
    const char *gemm = getenv("FP8F_HIP_GEMM");
    st->gemm_force = -1;
    if (gemm && strcmp(gemm, "tiled") == 0)
        st->gemm_force = HIP_GEMM_TILED;
    else if (gemm && strcmp(gemm, "stream") == 0)
        st->gemm_force = HIP_GEMM_STREAM;
    else if (gemm && strcmp(gemm, "blaslt") == 0)
        st->gemm_force = HIP_GEMM_BLASLT;
    const char *strict = getenv("FP8F_HIP_GEMM_STRICT");
    st->gemm_strict = st->gemm_force >= 0 && strict && strcmp(strict, "1") == 0;
    const char *pdl = getenv("FP8F_HIP_PDL");
    st->pdl = !(pdl && strcmp(pdl, "0") == 0);
    st->stream_tokens = env_power_of_two("FP8F_HIP_STREAM_TOKENS", 8, 32);
    st->stream_rows = env_power_of_two("FP8F_HIP_STREAM_ROWS", 16, 32);
    st->row_cluster = env_power_of_two("FP8F_HIP_ROW_CLUSTER", 1, 8);
}

static void describe_device(struct hip_state *st) {
    hipDeviceProp_t p;
    int rt = 0, drv = 0;
    if (hipGetDeviceProperties(&p, st->device) != hipSuccess) {
        (void)hipGetLastError();
        snprintf(st->describe, sizeof st->describe, "%s GPU %d", FP8F_GPU_VENDOR, st->device);
        return;
    }
    (void)hipRuntimeGetVersion(&rt);
    (void)hipDriverGetVersion(&drv);
#if defined(FP8F_GPU_AMD)
    snprintf(st->describe, sizeof st->describe,
             "%.96s (%.32s), %d CUs, %.0f GiB, wave%d, HIP runtime %d, driver %d", p.name,
             p.gcnArchName, p.multiProcessorCount, (double)p.totalGlobalMem / 1073741824.0,
             FP8F_WARP_SIZE, rt, drv);
#else
    snprintf(st->describe, sizeof st->describe,
             "%.96s, sm_%d%d, %d SMs, %.0f GiB, %d MiB L2, CUDA runtime %d.%d, driver %d.%d", p.name,
             p.major, p.minor, p.multiProcessorCount, (double)p.totalGlobalMem / 1073741824.0,
             p.l2CacheSize >> 20, rt / 1000, (rt % 1000) / 10, drv / 1000, (drv % 1000) / 10);
#endif
}

/* Whether the current device (be->device) can run this module: its waves
 * as wide as the kernels were written for (FP8F_WARP_SIZE: a wave32 AMD
 * GPU would split their 64-lane reductions), and code for it in the
 * module (the build's architectures, or on NVIDIA PTX the driver can
 * compile for a newer GPU). Without this a GPU of another kind would take
 * the context and fail every launch. */
static fp8f_status device_runs_module(struct fp8f_backend *be) {
    int warp = 0;
    if (hipDeviceGetAttribute(&warp, hipDeviceAttributeWarpSize, be->device) == hipSuccess &&
        warp != FP8F_WARP_SIZE)
        return fp8f_backend_fail(be, FP8F_E_BACKEND,
                                 "GPU %d runs %d-lane waves; this module is built for %d",
                                 be->device, warp, FP8F_WARP_SIZE);
    const hipError_t e = hip_module_has_code();
    if (e != hipSuccess) {
        (void)hipGetLastError();
        return fp8f_backend_fail(be, FP8F_E_BACKEND,
                                 "this module has no code GPU %d can run (%s: %s); rebuild "
                                 "with --with-gpu-arch naming its architecture",
                                 be->device, hipGetErrorName(e), hipGetErrorString(e));
    }
    return FP8F_OK;
}

static fp8f_status hip_init(struct fp8f_backend *be) {
    int count = 0;
    hipError_t e = hipGetDeviceCount(&count);
    if (e != hipSuccess) {
        (void)hipGetLastError();
        return fp8f_backend_fail(be, FP8F_E_BACKEND, "no usable %s GPU: %s: %s",
                                 FP8F_GPU_VENDOR, hipGetErrorName(e), hipGetErrorString(e));
    }
    if (count < 1)
        return fp8f_backend_fail(be, FP8F_E_BACKEND, "no %s GPU device is present",
                                 FP8F_GPU_VENDOR);
    if (be->device >= count)
        return fp8f_backend_fail(be, FP8F_E_BACKEND, "device %d asked for, %d present",
                                 be->device, count);
    e = hipSetDevice(be->device);
    if (e != hipSuccess) {
        (void)hipGetLastError();
        return fp8f_backend_fail(be, FP8F_E_BACKEND, "cannot use GPU %d: %s: %s", be->device,
                                 hipGetErrorName(e), hipGetErrorString(e));
    }
    const fp8f_status usable = device_runs_module(be);
    if (usable != FP8F_OK)
        return usable;
    struct hip_state *st = (struct hip_state *)calloc(1, sizeof *st);
    if (!st)
        return fp8f_backend_fail(be, FP8F_E_NOMEM, "out of memory creating the HIP state");
    st->device = be->device;
    st->stream = (hipStream_t)be->stream;
    if (hipDeviceGetAttribute(&st->sm_count, hipDeviceAttributeMultiprocessorCount,
                              be->device) != hipSuccess ||
        st->sm_count < 1)
        st->sm_count = 64;
    if (hipDeviceGetAttribute(&st->l2_bytes, hipDeviceAttributeL2CacheSize, be->device) !=
        hipSuccess)
        st->l2_bytes = 0;
    (void)hipGetLastError();
    read_env(st);
    st->gemm_stream_ok = hip_gemm_stream_supported();
#if defined(FP8F_GPU_NVIDIA)
    /* sm_90+: programmatic dependent launch and thread block clusters */
    int major = 0;
    if (hipDeviceGetAttribute(&major, hipDeviceAttributeComputeCapabilityMajor, be->device) !=
        hipSuccess) {
        (void)hipGetLastError();
        major = 0;
    }
    st->pdl = st->pdl && major >= 9;
    st->clusters_ok = major >= 9;
#else
    st->pdl = 0;
    st->clusters_ok = 0;
#endif
    if (st->gemm_force != HIP_GEMM_TILED && st->gemm_force != HIP_GEMM_STREAM)
        st->blaslt = hip_blaslt_open(st->blaslt_why, sizeof st->blaslt_why);
    if (st->gemm_strict && st->gemm_force == HIP_GEMM_BLASLT && !st->blaslt) {
        fp8f_status r = fp8f_backend_fail(be, FP8F_E_BACKEND,
                                          "FP8F_HIP_GEMM=blaslt with FP8F_HIP_GEMM_STRICT=1: %s",
                                          st->blaslt_why);
        free(st); /* nothing else is held yet */
        return r;
    }
    describe_device(st);
    be->state = st;
    return FP8F_OK;
}

static void hip_destroy(struct fp8f_backend *be) {
    struct hip_state *st = hip_st(be);
    if (!st)
        return;
    if (hip_use_device(be) == FP8F_OK) {
        if (st->scratch)
            (void)hipFree(st->scratch);
        hip_blaslt_close(st->blaslt);
    }
    free(st);
    be->state = nullptr;
}

static fp8f_status hip_sync(struct fp8f_backend *be) {
    fp8f_status s = hip_use_device(be);
    if (s != FP8F_OK)
        return s;
    HIP_TRY(be, hipStreamSynchronize(hip_st(be)->stream));
    return FP8F_OK;
}

/* --------------------------------------------------------- memory */

static fp8f_status hip_mem_alloc(struct fp8f_backend *be, size_t bytes, void **out) {
    fp8f_status s = hip_use_device(be);
    if (s != FP8F_OK)
        return s;
    void *p = nullptr;
    hipError_t e = hipMalloc(&p, bytes);
    if (e == hipErrorMemoryAllocation) {
        (void)hipGetLastError();
        return fp8f_backend_fail(be, FP8F_E_NOMEM, "out of device memory allocating %zu bytes",
                                 bytes);
    }
    if (e != hipSuccess)
        return hip_fail_rt(be, e, "hipMalloc");
    *out = p;
    return FP8F_OK;
}

static void hip_mem_free(struct fp8f_backend *be, void *ptr) {
    if (hip_use_device(be) == FP8F_OK)
        (void)hipFree(ptr);
}

/* From pageable host memory the runtime stages the source before it
 * returns, so the caller may reuse its buffer at once. */
static fp8f_status hip_mem_upload(struct fp8f_backend *be, void *dst, const void *src,
                                  size_t bytes) {
    fp8f_status s = hip_use_device(be);
    if (s != FP8F_OK)
        return s;
    HIP_TRY(be, hipMemcpyAsync(dst, src, bytes, hipMemcpyHostToDevice, hip_st(be)->stream));
    return FP8F_OK;
}

static fp8f_status hip_mem_download(struct fp8f_backend *be, void *dst, const void *src,
                                    size_t bytes) {
    fp8f_status s = hip_use_device(be);
    if (s != FP8F_OK)
        return s;
    HIP_TRY(be, hipMemcpyAsync(dst, src, bytes, hipMemcpyDeviceToHost, hip_st(be)->stream));
    HIP_TRY(be, hipStreamSynchronize(hip_st(be)->stream));
    return FP8F_OK;
}

/* ------------------------------------------------------ operations */

static fp8f_status hip_rmsnorm(struct fp8f_backend *be, const fp8f_tensor *x,
                               fp8f_tensor *residual, const fp8f_tensor *weight, float eps,
                               fp8f_tensor *out) {
    return hip_row_op(be, HIP_NORM, x, residual, weight, eps, nullptr, out, nullptr);
}

static fp8f_status hip_quant_per_token(struct fp8f_backend *be, const fp8f_tensor *x,
                                       const float *scale_ub, fp8f_qtensor *out) {
    return hip_row_op(be, HIP_QUANT, x, nullptr, nullptr, 0.0f, scale_ub, nullptr, out);
}

static fp8f_status hip_rmsnorm_quant(struct fp8f_backend *be, const fp8f_tensor *x,
                                     fp8f_tensor *residual, const fp8f_tensor *weight, float eps,
                                     const float *scale_ub, fp8f_qtensor *out) {
    return hip_row_op(be, HIP_NORM_QUANT, x, residual, weight, eps, scale_ub, nullptr, out);
}

/* ---------------------------------------------- events, description */

static fp8f_status hip_event_create(struct fp8f_backend *be, void **ev) {
    fp8f_status s = hip_use_device(be);
    if (s != FP8F_OK)
        return s;
    hipEvent_t e = nullptr;
    HIP_TRY(be, hipEventCreate(&e));
    *ev = (void *)e;
    return FP8F_OK;
}

static void hip_event_destroy(struct fp8f_backend *be, void *ev) {
    (void)be;
    if (ev)
        (void)hipEventDestroy((hipEvent_t)ev);
}

static fp8f_status hip_event_record(struct fp8f_backend *be, void *ev) {
    HIP_TRY(be, hipEventRecord((hipEvent_t)ev, hip_st(be)->stream));
    return FP8F_OK;
}

static fp8f_status hip_event_elapsed_ms(struct fp8f_backend *be, void *start, void *stop,
                                        float *ms) {
    HIP_TRY(be, hipEventSynchronize((hipEvent_t)stop));
    HIP_TRY(be, hipEventElapsedTime(ms, (hipEvent_t)start, (hipEvent_t)stop));
    return FP8F_OK;
}

/* For tools only: the context's stream is swapped for a private one while
 * the calls are captured (a legacy default stream cannot be captured). */
static fp8f_status hip_time_graph(struct fp8f_backend *be, void (*call)(void *arg, int i),
                                  void *arg, int calls, int reps, double *us) {
    struct hip_state *st = hip_st(be);
    hipStream_t s = nullptr, old = st->stream;
    hipGraph_t g = nullptr;
    hipGraphExec_t ge = nullptr;
    hipEvent_t e0 = nullptr, e1 = nullptr;
    fp8f_status rc = hip_use_device(be);
    if (rc != FP8F_OK)
        return rc;
    hipError_t e = hipStreamCreateWithFlags(&s, hipStreamNonBlocking);
    if (e == hipSuccess)
        e = hipStreamBeginCapture(s, hipStreamCaptureModeThreadLocal);
    if (e == hipSuccess) {
        st->stream = s;
        for (int i = 0; i < calls; i++)
            call(arg, i);
        st->stream = old;
        e = hipStreamEndCapture(s, &g);
    }
    if (e == hipSuccess)
        e = fp8f_graph_instantiate(&ge, g);
    if (e == hipSuccess)
        e = hipEventCreate(&e0);
    if (e == hipSuccess)
        e = hipEventCreate(&e1);
    for (int w = 0; w < 3 && e == hipSuccess; w++)
        e = hipGraphLaunch(ge, s);
    for (int r = 0; r < reps && e == hipSuccess; r++) {
        float ms = 0.0f;
        e = hipEventRecord(e0, s);
        if (e == hipSuccess)
            e = hipGraphLaunch(ge, s);
        if (e == hipSuccess)
            e = hipEventRecord(e1, s);
        if (e == hipSuccess)
            e = hipEventSynchronize(e1);
        if (e == hipSuccess)
            e = hipEventElapsedTime(&ms, e0, e1);
        us[r] = (double)ms * 1e3 / calls;
    }
    if (e != hipSuccess)
        rc = hip_fail_rt(be, e, "graph timing");
    if (s)
        (void)hipStreamSynchronize(s);
    if (e0)
        (void)hipEventDestroy(e0);
    if (e1)
        (void)hipEventDestroy(e1);
    if (ge)
        (void)hipGraphExecDestroy(ge);
    if (g)
        (void)hipGraphDestroy(g);
    if (s)
        (void)hipStreamDestroy(s);
    st->stream = old;
    return rc;
}

static void hip_describe(struct fp8f_backend *be, char *buf, size_t len) {
    const struct hip_state *st = hip_st(be);
    static const char *const forced[] = {" [FP8F_HIP_GEMM=stream]", " [FP8F_HIP_GEMM=blaslt]",
                                         " [FP8F_HIP_GEMM=tiled]"};
    char stream[96] = "", blaslt[160];
    if (st->gemm_stream_ok)
        snprintf(stream, sizeof stream,
                 "weight-streaming mma.sync%s up to M = %d (%d where N <= %d; e4m3fn), ",
                 st->pdl ? " + PDL" : "", HIP_GEMM_STREAM_MAX_M, HIP_GEMM_STREAM_NARROW_MAX_M,
                 HIP_GEMM_STREAM_NARROW_MAX_N);
    if (st->blaslt)
        snprintf(blaslt, sizeof blaslt, "%s%s", FP8F_BLASLT_NAME, st->gemm_stream_ok ? " above" : "");
    else
        snprintf(blaslt, sizeof blaslt, "no %s (%s)", FP8F_BLASLT_NAME, st->blaslt_why);
    char rows[64] = "";
    if (st->clusters_ok && st->row_cluster == 1)
        snprintf(rows, sizeof rows, "; rows: one block each [FP8F_HIP_ROW_CLUSTER=1]");
    else if (st->clusters_ok && st->row_cluster)
        snprintf(rows, sizeof rows, "; rows: %d-block clusters [FP8F_HIP_ROW_CLUSTER]",
                 st->row_cluster);
    else if (st->clusters_ok)
        snprintf(rows, sizeof rows, "; rows: wide rows over block clusters");
    snprintf(buf, len, "%s; GEMM: %s%s, tiled SIMT otherwise%s%s%s", st->describe, stream,
             blaslt, st->gemm_force >= 0 ? forced[st->gemm_force] : "",
             st->gemm_strict ? " [FP8F_HIP_GEMM_STRICT=1]" : "", rows);
}

/* ---------------------------------------------------- module entry */

/* The native fp8 type: e4m3fn on NVIDIA and gfx950 (MI355), e4m3fnuz on
 * gfx940/941/942 (MI300). Read off device 0 when the module is loaded. */
static fp8f_dtype native_fp8(void) {
#if defined(FP8F_GPU_AMD)
    hipDeviceProp_t p;
    int count = 0;
    if (hipGetDeviceCount(&count) == hipSuccess && count > 0 &&
        hipGetDeviceProperties(&p, 0) == hipSuccess && strncmp(p.gcnArchName, "gfx94", 5) == 0)
        return FP8F_E4M3FNUZ;
    (void)hipGetLastError();
#endif
    return FP8F_E4M3FN;
}

/* Every entry that touches a device keeps the caller's current device. */
static struct fp8f_backend_ops make_ops(void) {
    struct fp8f_backend_ops o;
    memset(&o, 0, sizeof o);
    o.name = "hip";
    o.caps = FP8F_CAP_FUSED_NORM_QUANT | FP8F_CAP_QUANTIZED_INPUT;
    o.native_fp8 = native_fp8();
    o.init = keeps_device<hip_init>::call;
    o.destroy = keeps_device<hip_destroy>::call;
    o.sync = keeps_device<hip_sync>::call;
    o.mem_alloc = keeps_device<hip_mem_alloc>::call;
    o.mem_free = keeps_device<hip_mem_free>::call;
    o.mem_upload = keeps_device<hip_mem_upload>::call;
    o.mem_download = keeps_device<hip_mem_download>::call;
    o.rmsnorm = keeps_device<hip_rmsnorm>::call;
    o.quant_per_token = keeps_device<hip_quant_per_token>::call;
    o.rmsnorm_quant = keeps_device<hip_rmsnorm_quant>::call;
    o.weight_create = keeps_device<hip_weight_create>::call;
    o.weight_destroy = keeps_device<hip_weight_destroy>::call;
    o.linear_ptpc = keeps_device<hip_linear_ptpc>::call;
    o.event_create = keeps_device<hip_event_create>::call;
    o.event_destroy = hip_event_destroy;
    o.event_record = hip_event_record;
    o.event_elapsed_ms = hip_event_elapsed_ms;
    o.time_graph = keeps_device<hip_time_graph>::call;
    o.describe = hip_describe;
    return o;
}

FP8F_HIP_EXPORT const struct fp8f_backend_ops *fp8f_backend_module_ops(unsigned abi) {
    if (abi != FP8F_BACKEND_ABI)
        return nullptr;
    static const struct fp8f_backend_ops ops = make_ops(); /* once, thread-safe */
    return &ops;
}

/* Whether device d can run this module, told from its properties alone (a
 * count must not create a context on every GPU of the host). On NVIDIA: a
 * compute capability at least the lowest architecture compiled, whose PTX
 * the driver compiles for a newer GPU. On AMD the code objects are not
 * known before a context: every device counts, and device_runs_module
 * refuses a context on one without code. */
static int device_has_code(int d) {
#if defined(FP8F_GPU_NVIDIA) && defined(__CUDA_ARCH_LIST__)
    static const int archs[] = {__CUDA_ARCH_LIST__};
    int lowest = archs[0];
    for (size_t i = 1; i < sizeof archs / sizeof archs[0]; i++)
        lowest = archs[i] < lowest ? archs[i] : lowest;
    int major = 0, minor = 0;
    if (hipDeviceGetAttribute(&major, hipDeviceAttributeComputeCapabilityMajor, d) != hipSuccess ||
        hipDeviceGetAttribute(&minor, hipDeviceAttributeComputeCapabilityMinor, d) != hipSuccess) {
        (void)hipGetLastError();
        return 0;
    }
    return major * 100 + minor * 10 >= lowest;
#else
    (void)d;
    return 1;
#endif
}

/* The devices this module can run on (0 without a runtime or driver): AUTO
 * falls back to the CPU only where there is none. */
FP8F_HIP_EXPORT int fp8f_backend_module_device_count(void) {
    int count = 0;
    if (hipGetDeviceCount(&count) != hipSuccess) {
        (void)hipGetLastError();
        return 0;
    }
    int usable = 0;
    for (int d = 0; d < count; d++)
        usable += device_has_code(d);
    return usable;
}
