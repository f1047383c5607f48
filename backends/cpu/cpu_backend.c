/*
 * The OpenMP CPU backend: always built, synchronous, host memory. It has
 * neither capability bit: norm+quant is computed (useful on its own) but
 * the GEMM takes only dense activations and quantizes them itself.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_isa.h"
#include "cpu_kernels.h"
#include "internal.h"

#define CPU_ALIGN 64

/* Chooses the kernel table once per context: the highest level the CPU and
 * OS support (cpu_isa.c), capped by FP8F_CPU_ISA=generic|avx2|avx512|
 * avx512bf16|amx (so that CI runs the lower paths on any machine).
 * FP8F_VERBOSE=1 prints the choice on stderr. */
static fp8f_status cpu_init(struct fp8f_backend *be) {
    const enum cpu_isa detected = fp8f_cpu_isa_detect();
    enum cpu_isa want = detected, used;
    const char *env = getenv("FP8F_CPU_ISA");
    if (env && *env) {
        int cap = fp8f_cpu_isa_from_name(env);
        if (cap < 0)
            return fp8f_backend_fail(be, FP8F_E_INVALID,
                                     "FP8F_CPU_ISA=\"%s\" is not one of generic, avx2, avx512, "
                                     "avx512bf16, amx",
                                     env);
        if ((enum cpu_isa)cap < want)
            want = (enum cpu_isa)cap;
    }
    struct cpu_state *st = calloc(1, sizeof *st);
    if (!st)
        return fp8f_backend_fail(be, FP8F_E_NOMEM, "out of memory for the CPU backend state");
    st->kern = fp8f_cpu_kernels_for(want, &used);
    st->isa = (int)used;
    st->detected = (int)detected;
    be->state = st;
    const char *verbose = getenv("FP8F_VERBOSE");
    if (verbose && *verbose && strcmp(verbose, "0") != 0) {
        char line[512];
        be->ops->describe(be, line, sizeof line);
        fprintf(stderr, "fp8fuse: cpu backend: %s\n", line);
    }
    return FP8F_OK;
}

static void cpu_destroy(struct fp8f_backend *be) {
    struct cpu_state *st = be->state;
    if (st) {
        for (int i = 0; i < CPU_SCRATCH_SLOTS; i++)
            free(st->scratch[i]);
        free(st->reserved_act);
        free(st);
        be->state = NULL;
    }
}

static void cpu_describe(struct fp8f_backend *be, char *buf, size_t len) {
    const struct cpu_state *st = be->state;
#ifdef FP8F_HAVE_KERNELS_AMX
    const int amx_built = 1;
#else
    const int amx_built = 0;
#endif
    const char *env = getenv("FP8F_CPU_ISA");
    snprintf(buf, len, "%s; isa %s (cpu supports %s%s%s%s); kernels: norm/quant %s, gemm %s",
             fp8f_cpu_isa_model(), fp8f_cpu_isa_name((enum cpu_isa)st->isa),
             fp8f_cpu_isa_name((enum cpu_isa)st->detected), env && *env ? ", FP8F_CPU_ISA=" : "",
             env && *env ? env : "",
             st->detected == CPU_ISA_AMX && !amx_built ? "; no AMX kernels in this build" : "",
             st->kern->name,
             st->kern->gemm_name);
}

void *fp8f_cpu_scratch(struct fp8f_backend *be, enum cpu_scratch_slot slot, size_t bytes) {
    struct cpu_state *st = be->state;
    if (bytes <= st->scratch_bytes[slot])
        return st->scratch[slot];
    /* page-aligned: where the GEMM's regions fall relative to each other
     * (and to 4 KiB aliasing) must not depend on the heap (cpu_gemm.c) */
    void *p = NULL;
    if (posix_memalign(&p, 4096, bytes ? bytes : 1) != 0)
        return NULL;
    free(st->scratch[slot]);
    st->scratch[slot] = p;
    st->scratch_bytes[slot] = bytes;
    return p;
}

static fp8f_status cpu_mem_alloc(struct fp8f_backend *be, size_t bytes, void **out) {
    void *p = NULL;
    if (posix_memalign(&p, CPU_ALIGN, bytes) != 0)
        return fp8f_backend_fail(be, FP8F_E_NOMEM, "out of memory allocating %zu bytes", bytes);
    *out = p;
    return FP8F_OK;
}

static void cpu_mem_free(struct fp8f_backend *be, void *ptr) {
    (void)be;
    free(ptr);
}

static fp8f_status cpu_mem_copy(struct fp8f_backend *be, void *dst, const void *src,
                                size_t bytes) {
    (void)be;
    memmove(dst, src, bytes);
    return FP8F_OK;
}

/* Copies the codes into the context's fp8 type (see fp8_codec.h for the
 * bit mappings) and returns the factor the scale takes, or 0 when a code
 * has no equivalent in the target type. */
static float convert_codes(const fp8f_tensor *q, fp8f_dtype to, uint8_t *dst, int64_t *bad_row,
                           int64_t *bad_col) {
    for (int64_t r = 0; r < q->rows; r++) {
        const uint8_t *src = cpu_row(q, r);
        uint8_t *d = dst + (size_t)r * (size_t)q->cols;
        for (int64_t c = 0; c < q->cols; c++) {
            if (q->dtype == to) {
                d[c] = src[c];
            } else if (to == FP8F_E4M3FNUZ) {
                d[c] = fp8f_fn_bits_to_fnuz(src[c]);
            } else {
                int v = fp8f_fnuz_bits_to_fn(src[c]);
                if (v < 0) {
                    *bad_row = r;
                    *bad_col = c;
                    return 0.0f;
                }
                d[c] = (uint8_t)v;
            }
        }
    }
    if (q->dtype == to)
        return 1.0f;
    return to == FP8F_E4M3FNUZ ? 2.0f : 0.5f;
}

static void free_weight(struct cpu_weight *cw) {
    if (cw) {
        free(cw->q);
        free(cw->scale);
        free(cw->bias);
        free(cw);
    }
}

/* Whether the codes hold a NaN, which the SIMD kernels' in-register
 * decoding does not reproduce (it decodes the 7-bit magnitude and ORs the
 * sign in); such a weight is kept for the generic kernels. */
static int has_nan(const uint8_t *q, size_t bytes, fp8f_dtype t) {
    if (t == FP8F_E4M3FNUZ)
        return memchr(q, 0x80, bytes) != NULL;
    for (size_t i = 0; i < bytes; i++)
        if ((q[i] & 0x7fu) == 0x7fu)
            return 1;
    return 0;
}

static fp8f_status cpu_weight_create(struct fp8f_backend *be, const fp8f_tensor *q,
                                     const float *scale, const fp8f_tensor *bias,
                                     struct fp8f_weight_desc *desc) {
    const size_t n = (size_t)desc->n, k = (size_t)desc->k;
    const struct cpu_kernels *kr = cpu_kern(be);
    struct cpu_weight *cw = calloc(1, sizeof *cw);
    uint8_t *plain = NULL;
    if (n > SIZE_MAX / (k ? k : 1))
        return fp8f_backend_fail(be, FP8F_E_NOMEM, "a %zu x %zu weight overflows", n, k);
    if (cw) {
        plain = malloc(n * k);
        cw->scale = NULL;
    }
    if (!cw || !plain) {
        free(plain);
        free_weight(cw);
        return fp8f_backend_fail(be, FP8F_E_NOMEM, "out of memory for a %zu x %zu weight", n, k);
    }
    int64_t bad_row = 0, bad_col = 0;
    float factor = convert_codes(q, desc->fp8_dtype, plain, &bad_row, &bad_col);
    if (factor != 0.0f && has_nan(plain, n * k, desc->fp8_dtype))
        kr = &fp8f_cpu_kernels_generic;
    const size_t nr = (size_t)kr->nr, panels = (n + nr - 1) / nr, pb = kr->panel_bytes(desc->k);
    cw->kern = kr;
    cw->panels = (int64_t)panels;
    cw->panel_bytes = pb;
    if (factor != 0.0f) {
        if (kr == &fp8f_cpu_kernels_generic) {
            cw->q = plain; /* the plain layout is the generic one */
            plain = NULL;
        } else if (panels <= SIZE_MAX / pb &&
                   posix_memalign((void **)&cw->q, CPU_ALIGN, panels * pb) == 0) {
            for (size_t p = 0; p < panels; p++)
                kr->pack_panel(plain, desc->n, desc->k, (int64_t)(p * nr), cw->q + p * pb);
        }
        cw->scale = calloc(panels * nr, sizeof(float));
        cw->bias = bias ? calloc(panels * nr, sizeof(float)) : NULL;
    }
    free(plain);
    if (factor != 0.0f && (!cw->q || !cw->scale || (bias && !cw->bias))) {
        free_weight(cw);
        return fp8f_backend_fail(be, FP8F_E_NOMEM, "out of memory for a %zu x %zu weight", n, k);
    }
    if (factor == 0.0f) {
        free_weight(cw);
        return fp8f_backend_fail(be, FP8F_E_FORMAT,
                                 "weight code at row %lld, col %lld is +-240 in E4M3FNUZ, which "
                                 "E4M3FN (max 448 after the scale is halved: 480) cannot hold; "
                                 "create the context with fp8_dtype = FP8F_E4M3FNUZ",
                                 (long long)bad_row, (long long)bad_col);
    }
    for (size_t i = 0; i < n; i++) {
        cw->scale[i] = scale[i] * factor;
        if (bias)
            cw->bias[i] = fp8f_load_float(bias->dtype, bias->data, (int64_t)i);
    }
    desc->impl = cw;
    return FP8F_OK;
}

static void cpu_weight_destroy(struct fp8f_backend *be, struct fp8f_weight_desc *desc) {
    (void)be;
    free_weight(desc->impl);
}

const struct fp8f_backend_ops fp8f_cpu_backend_ops = {
    .name = "cpu",
    .caps = 0,
    .native_fp8 = FP8F_E4M3FN,
    .init = cpu_init,
    .destroy = cpu_destroy,
    .describe = cpu_describe,
    .mem_alloc = cpu_mem_alloc,
    .mem_free = cpu_mem_free,
    .mem_upload = cpu_mem_copy,
    .mem_download = cpu_mem_copy,
    .rmsnorm = fp8f_cpu_rmsnorm,
    .quant_per_token = fp8f_cpu_quant_per_token,
    .rmsnorm_quant = fp8f_cpu_rmsnorm_quant,
    .weight_create = cpu_weight_create,
    .weight_destroy = cpu_weight_destroy,
    .linear_ptpc = fp8f_cpu_linear_ptpc,
    .linear_reserve = fp8f_cpu_linear_reserve,
};
