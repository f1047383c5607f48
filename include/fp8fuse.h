/*
 * fp8fuse — residual add + RMSNorm + per-token FP8 quantization, and the
 * FP8 GEMM with per-token activation and per-channel weight scales (PTPC).
 *
 * This is the only header users include. Every call validates all of its
 * arguments before it writes any byte of output; a failing call returns a
 * status, leaves every output (and the residual) untouched, and sets a
 * message readable with fp8f_last_error(). (The one exception: a device
 * failure in the GEMM step of fp8f_prepare_linear, see there.) Nothing
 * aborts the process.
 *
 * Memory: every array an operation reads or writes as data lives in the
 * memory of the context's backend (host memory for the CPU backend, device
 * memory of the context's device for the HIP backend). `scale_ub` is a
 * parameter: a host pointer to one float, read during the call.
 *
 * Threads: a context is used by one thread at a time; different contexts may
 * run concurrently. A weight is read-only after creation, belongs to its
 * context and is used only through it, so it follows the same rule.
 */
#ifndef FP8FUSE_H
#define FP8FUSE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define FP8F_API
#elif defined(__GNUC__)
#define FP8F_API __attribute__((visibility("default")))
#else
#define FP8F_API
#endif

#define FP8F_VERSION_MAJOR 0
#define FP8F_VERSION_MINOR 1
#define FP8F_VERSION_PATCH 0

/** Status of every call. FP8F_OK is zero. */
typedef enum {
    FP8F_OK = 0,
    FP8F_E_INVALID,     /* bad argument: NULL, unknown enum, bad shape/dtype/stride */
    FP8F_E_UNSUPPORTED, /* valid request this backend refuses */
    FP8F_E_FORMAT,      /* activation format or fp8 type does not fit the operation */
    FP8F_E_BACKEND,     /* requested backend unavailable (not built, no device) */
    FP8F_E_NOMEM,       /* allocation failed */
    FP8F_E_DEVICE       /* GPU runtime error (launch, fault, out of device memory) */
} fp8f_status;

typedef enum { FP8F_BACKEND_AUTO = 0, FP8F_BACKEND_CPU, FP8F_BACKEND_HIP } fp8f_backend_id;

typedef enum {
    FP8F_F32 = 0,
    FP8F_BF16,
    FP8F_F16,
    FP8F_E4M3FN,  /* OCP e4m3: max 448, NaN 0x7f/0xff (NVIDIA, MI350)  */
    FP8F_E4M3FNUZ /* e4m3 "fnuz": max 240, NaN 0x80, no -0 (MI300)     */
} fp8f_dtype;

typedef enum { FP8F_QF_NONE = 0, FP8F_QF_FP8_PER_TOKEN } fp8f_quant_format;

typedef struct fp8f_ctx fp8f_ctx;       /* opaque */
typedef struct fp8f_weight fp8f_weight; /* opaque, owned by one ctx */

/** Capability bits returned by fp8f_ctx_caps(). */
#define FP8F_CAP_FUSED_NORM_QUANT 0x1u /* norm+quant runs as one device pass */
#define FP8F_CAP_QUANTIZED_INPUT 0x2u  /* the GEMM accepts a (q, scale) activation */

/** A 2-D row-major tensor in the backend's memory. `stride` is in elements
 *  (>= cols); element (r, c) is at data + (r * stride + c) * sizeof(dtype). */
typedef struct fp8f_tensor {
    void *data;
    fp8f_dtype dtype;
    int64_t rows, cols, stride;
} fp8f_tensor;

/** The (q, scale) pair, always together: x[r][c] ~= q[r][c] * scale[r]. */
typedef struct fp8f_qtensor {
    fp8f_tensor q;            /* rows x cols, FP8F_E4M3FN or FP8F_E4M3FNUZ */
    float *scale;             /* q.rows floats */
    fp8f_quant_format format; /* FP8F_QF_FP8_PER_TOKEN; in an output only
                                 written (its value on entry is not read) */
} fp8f_qtensor;

typedef enum { FP8F_ACT_DENSE = 0, FP8F_ACT_QUANTIZED } fp8f_act_kind;

/** A GEMM activation: either dense (bf16/f16/f32) or quantized (q, scale). */
typedef struct fp8f_act {
    fp8f_act_kind kind;
    fp8f_tensor dense;  /* used when kind == FP8F_ACT_DENSE */
    fp8f_qtensor quant; /* used when kind == FP8F_ACT_QUANTIZED */
} fp8f_act;

/** Context options; a zero-initialized struct (or NULL) means defaults. */
typedef struct fp8f_options {
    fp8f_backend_id backend; /* AUTO: HIP when its module loads and a device exists,
                                else CPU (a GPU that is there but refuses the context,
                                e.g. `device` past the last one, is FP8F_E_BACKEND, not
                                a CPU context); env FP8F_BACKEND=cpu|hip|auto overrides
                                AUTO */
    int device;              /* GPU ordinal (HIP backend) */
    void *stream;            /* hipStream_t / cudaStream_t; NULL = default stream */
    int num_threads;         /* CPU threads; 0 = OpenMP's default */
    fp8f_dtype fp8_dtype;    /* 0 (FP8F_F32) = the backend's native fp8 type;
                                else FP8F_E4M3FN or FP8F_E4M3FNUZ */
} fp8f_options;

/* ---- contexts, errors ------------------------------------------------- */

/** Creates a context on the backend chosen by `opt` (NULL = defaults).
 *  Errors: FP8F_E_INVALID (NULL out, bad option, an FP8F_BACKEND or
 *  FP8F_CPU_ISA value that is not a name), FP8F_E_BACKEND (HIP asked for
 *  but its module is missing or no device is present, or a present GPU
 *  refused the context; never a silent fallback), FP8F_E_NOMEM. The
 *  message is read with fp8f_last_error(NULL). */
FP8F_API fp8f_status fp8f_ctx_create(const fp8f_options *opt, fp8f_ctx **out);
/** Destroys a context (NULL is a no-op). Destroy its weights first. */
FP8F_API void fp8f_ctx_destroy(fp8f_ctx *ctx);
/** "cpu", "hip", or a test backend's name; NULL for a NULL context. */
FP8F_API const char *fp8f_ctx_backend_name(const fp8f_ctx *ctx);
/** FP8F_CAP_* bits of the context's backend (0 for a NULL context). */
FP8F_API unsigned fp8f_ctx_caps(const fp8f_ctx *ctx);
/** The context's fp8 type (FP8F_E4M3FN or FP8F_E4M3FNUZ): its weights are
 *  stored in it and fp8f_prepare quantizes to it (fp8f_quant_per_token and
 *  fp8f_rmsnorm_quant quantize to out->q.dtype). FP8F_E4M3FN for NULL. */
FP8F_API fp8f_dtype fp8f_ctx_fp8_dtype(const fp8f_ctx *ctx);
/** Message of the last failure on `ctx` ("" if none). With NULL: this
 *  thread's last failure of a call that had no usable context. The string
 *  stays valid until the next call on the same context / thread. */
FP8F_API const char *fp8f_last_error(const fp8f_ctx *ctx);
/** Static name of a status, e.g. "FP8F_E_INVALID". */
FP8F_API const char *fp8f_status_str(fp8f_status s);
/** Waits for the context's queued work (no-op on the CPU backend). */
FP8F_API fp8f_status fp8f_ctx_sync(fp8f_ctx *ctx);

/** "x.y.z" of the library that is running. */
FP8F_API const char *fp8f_version(void);
/** Whether a backend is compiled in / loadable on this machine (1) or not (0).
 *  For HIP this loads the module and creates (and destroys) a context on
 *  device 0: it costs what a context creation costs. */
FP8F_API int fp8f_backend_available(fp8f_backend_id id);

/* ---- backend memory -------------------------------------------------- */
/* Conveniences for callers without their own allocator (tools, tests,
 * simple programs): memory in the context's backend (host memory on the
 * CPU backend, device memory on the HIP backend) and copies to and from it.
 * Copies are ordered on the context's stream; a download returns when the
 * bytes are on the host; an upload from ordinary (pageable) host memory
 * has read its source when it returns, one from page-locked memory may
 * still be reading it (keep it until fp8f_ctx_sync). Errors: FP8F_E_INVALID (NULL ctx or pointer; an
 * allocation of 0 bytes), FP8F_E_NOMEM, FP8F_E_DEVICE. */
FP8F_API fp8f_status fp8f_mem_alloc(fp8f_ctx *ctx, size_t bytes, void **out);
/* Frees memory of fp8f_mem_alloc with the context that allocated it. A NULL
 * ptr is a no-op, and so is a NULL ctx (which cannot free anything). */
FP8F_API void fp8f_mem_free(fp8f_ctx *ctx, void *ptr);
FP8F_API fp8f_status fp8f_mem_upload(fp8f_ctx *ctx, void *dst, const void *host_src,
                                     size_t bytes);
FP8F_API fp8f_status fp8f_mem_download(fp8f_ctx *ctx, void *host_dst, const void *src,
                                       size_t bytes);

/* ---- quantization formats ---------------------------------------------- */

/** Exact, case-sensitive match of "none" or "fp8_per_token".
 *  Errors: FP8F_E_INVALID (NULL), FP8F_E_FORMAT (any other string). */
FP8F_API fp8f_status fp8f_quant_format_parse(const char *name, fp8f_quant_format *out);
/** "none", "fp8_per_token", or NULL for an unknown value. */
FP8F_API const char *fp8f_quant_format_name(fp8f_quant_format f);

/* ---- normalization and quantization ------------------------------------ */

/** h = x + residual (and residual <- h rounded to its dtype) when residual is
 *  not NULL, else h = x; out = h / sqrt(mean(h^2) + eps) * weight.
 *  x, residual, out: rows x H in BF16/F16/F32; weight: 1 x H. `out` may be
 *  `x` itself (same data and stride); other overlaps are undefined. */
FP8F_API fp8f_status fp8f_rmsnorm(fp8f_ctx *ctx, const fp8f_tensor *x, fp8f_tensor *residual,
                                  const fp8f_tensor *weight, float eps, fp8f_tensor *out);
/** Dynamic per-token quantization of x to out->q's fp8 type: per row,
 *  amax = max|x| (clipped to *scale_ub when scale_ub is not NULL),
 *  scale = max(amax / FP8_MAX, 1 / (FP8_MAX * 512)), q = rne_sat(x / scale).
 *  On success out->format is set to FP8F_QF_FP8_PER_TOKEN. */
FP8F_API fp8f_status fp8f_quant_per_token(fp8f_ctx *ctx, const fp8f_tensor *x,
                                          const float *scale_ub, fp8f_qtensor *out);
/** fp8f_rmsnorm followed by fp8f_quant_per_token of its output, without
 *  writing the normalized activation anywhere. */
FP8F_API fp8f_status fp8f_rmsnorm_quant(fp8f_ctx *ctx, const fp8f_tensor *x,
                                        fp8f_tensor *residual, const fp8f_tensor *weight,
                                        float eps, const float *scale_ub, fp8f_qtensor *out);

/* ---- PTPC GEMM --------------------------------------------------------- */

/** Creates a weight for `ctx`: q is N x K fp8 ([out_features, in_features]),
 *  scale has N floats, bias NULL or 1 x N (BF16/F16/F32). The arrays are
 *  copied (and may be repacked): the caller may free them afterwards. A
 *  weight whose fp8 type differs from the context's is converted once here
 *  (e4m3fn -> e4m3fnuz: bits kept, scale doubled, 0x80 -> 0; the reverse is
 *  refused with FP8F_E_FORMAT where a code is not representable). */
FP8F_API fp8f_status fp8f_weight_create(fp8f_ctx *ctx, const fp8f_tensor *q,
                                        const float *scale, const fp8f_tensor *bias,
                                        fp8f_weight **out);
/** Frees a weight (NULL is a no-op). Call before destroying its context. */
FP8F_API void fp8f_weight_destroy(fp8f_weight *w);

/** out[m,n] = sum_k qa[m,k] * qw[n,k] * sa[m] * sw[n] (+ bias[n]).
 *  A DENSE activation (M x K, BF16/F16/F32) is first quantized per token to
 *  the weight's fp8 type. A QUANTIZED one must be FP8F_QF_FP8_PER_TOKEN in
 *  the weight's fp8 type (else FP8F_E_FORMAT) and needs a backend with
 *  FP8F_CAP_QUANTIZED_INPUT (else FP8F_E_UNSUPPORTED). out: M x N. */
FP8F_API fp8f_status fp8f_linear_ptpc(fp8f_ctx *ctx, const fp8f_act *a, const fp8f_weight *w,
                                      fp8f_tensor *out);

/** Which format the input of layer `layer_name` (a Linear module's full
 *  name, e.g. "model.layers.3.self_attn.q_proj") uses, read from a Hugging
 *  Face config.json text (the whole file or its quantization_config object).
 *  FP8F_QF_FP8_PER_TOKEN: a compressed-tensors group covers the layer with
 *  weights {float, 8 bits, strategy channel} and input activations {float,
 *  8 bits, strategy token, dynamic}. FP8F_QF_NONE: no quantization config, the
 *  layer is in `ignore`, or no group covers it. Targets and ignore entries are
 *  exact names, "Linear", or "re:<pattern>" with Python re.match semantics
 *  (anchored at the start only). Errors: FP8F_E_FORMAT for any other scheme
 *  (the message says what was seen), FP8F_E_INVALID for NULL arguments or
 *  malformed JSON (json-c's strict mode: trailing garbage is refused; it
 *  still takes a few non-standard forms, e.g. NaN or "1." as numbers). *out is written only
 *  on success; the message is read with fp8f_last_error(NULL). */
FP8F_API fp8f_status fp8f_quant_format_detect(const char *config_json, const char *layer_name,
                                              fp8f_quant_format *out);

/** The layer step of an engine (SGLang's prepare_attn / prepare_mlp): when the
 *  backend has both capabilities and fmt is exactly FP8F_QF_FP8_PER_TOKEN,
 *  fused norm+quant into *quant_buf (out->kind = QUANTIZED); otherwise
 *  rmsnorm into *dense_buf (out->kind = DENSE). The buffer of the path not
 *  taken may be NULL. *out points into the buffer that was used. */
FP8F_API fp8f_status fp8f_prepare(fp8f_ctx *ctx, fp8f_quant_format fmt, const fp8f_tensor *x,
                                  fp8f_tensor *residual, const fp8f_tensor *weight, float eps,
                                  fp8f_tensor *dense_buf, fp8f_qtensor *quant_buf,
                                  fp8f_act *out);

/** One decode step in one call: fp8f_prepare with FP8F_QF_FP8_PER_TOKEN
 *  (add + RMSNorm of x with norm_weight, residual updated, into *quant_buf
 *  on a backend with both capabilities, else into *dense_buf), then
 *  fp8f_linear_ptpc of that activation with w into out (M x N). Same
 *  numerics as the two calls. Every argument of both steps is validated
 *  before anything is written; the steps are queued back to back on the
 *  context's stream, with no host round trip between them. The second
 *  step's host memory is taken before the first step runs (FP8F_E_NOMEM
 *  with nothing written); only a device failure in the second step
 *  (FP8F_E_DEVICE, or FP8F_E_NOMEM for device memory) can leave the first
 *  step's results (residual, buffer) written and out not. */
FP8F_API fp8f_status fp8f_prepare_linear(fp8f_ctx *ctx, const fp8f_tensor *x,
                                         fp8f_tensor *residual, const fp8f_tensor *norm_weight,
                                         float eps, fp8f_tensor *dense_buf,
                                         fp8f_qtensor *quant_buf, const fp8f_weight *w,
                                         fp8f_tensor *out);

#ifdef __cplusplus
}
#endif
#endif /* FP8FUSE_H */
