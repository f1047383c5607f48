/*
 * fp8fuse-demo: one GLM-4.7 decoder layer step on synthetic data, on the
 * best backend present (FP8F_BACKEND=cpu|hip overrides). Prints the path
 * and time of each step and the largest difference of the fused path's
 * GEMM outputs from the unfused path (rmsnorm -> dense -> GEMM).
 *
 *   fp8fuse-demo [M] [--config config.json] [--layer L] [--iters N]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "glm_layer.h"

struct demo_args {
    long m, layer, iters;
    const char *config;
};

static void usage(void) {
    fprintf(stderr, "usage: fp8fuse-demo [M (default 16)] [--config config.json] [--layer L] "
                    "[--iters N]\n");
    exit(2);
}

static long parse_count(const char *s, long min) {
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < min)
        usage();
    return v;
}

static struct demo_args parse_args(int argc, char **argv) {
    struct demo_args a = {16, 0, 5, NULL};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            a.config = argv[++i];
        else if (strcmp(argv[i], "--layer") == 0 && i + 1 < argc)
            a.layer = parse_count(argv[++i], 0);
        else if (strcmp(argv[i], "--iters") == 0 && i + 1 < argc)
            a.iters = parse_count(argv[++i], 1);
        else if (argv[i][0] != '-')
            a.m = parse_count(argv[i], 1);
        else
            usage();
    }
    return a;
}

static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(1);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *s = malloc((size_t)n + 1);
    if (!s || fread(s, 1, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "%s: read error\n", path);
        exit(1);
    }
    s[n] = '\0';
    fclose(f);
    return s;
}

/* The input format of a projection, from the model's config. */
static fp8f_quant_format detect(const char *config, long layer, const char *module) {
    char name[256];
    fp8f_quant_format f;
    snprintf(name, sizeof name, "model.layers.%ld.%s", layer, module);
    tu_check(NULL, fp8f_quant_format_detect(config, name, &f), name);
    printf("  %-36s %s\n", name, fp8f_quant_format_name(f));
    return f;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* max |a - b| / max |b| over n values. */
static double max_rel_diff(const float *a, const float *b, size_t n) {
    double diff = 0.0, mag = 0.0;
    for (size_t i = 0; i < n; i++) {
        diff = fmax(diff, fabs((double)a[i] - (double)b[i]));
        mag = fmax(mag, fabs((double)b[i]));
    }
    return mag > 0.0 ? diff / mag : diff;
}

int main(int argc, char **argv) {
    struct demo_args args = parse_args(argc, argv);
    fp8f_quant_format attn_fmt = FP8F_QF_FP8_PER_TOKEN, mlp_fmt = FP8F_QF_FP8_PER_TOKEN;
    if (args.config) {
        char *config = read_file(args.config);
        printf("formats from %s:\n", args.config);
        attn_fmt = detect(config, args.layer, "self_attn.q_proj");
        mlp_fmt = detect(config, args.layer, "mlp.gate_proj");
        free(config);
    }

    fp8f_ctx *ctx = NULL;
    tu_check(NULL, fp8f_ctx_create(NULL, &ctx), "fp8f_ctx_create");
    unsigned caps = fp8f_ctx_caps(ctx);
    printf("fp8fuse %s demo: GLM-4.7 layer %ld, M = %ld tokens, backend %s (caps:%s%s), %s\n",
           fp8f_version(), args.layer, args.m, fp8f_ctx_backend_name(ctx),
           caps & FP8F_CAP_FUSED_NORM_QUANT ? " fused-norm-quant" : "",
           caps & FP8F_CAP_QUANTIZED_INPUT ? " quantized-input" : (caps ? "" : " none"),
           fp8f_ctx_fp8_dtype(ctx) == FP8F_E4M3FNUZ ? "e4m3fnuz" : "e4m3fn");

    struct glm_layer L;
    glm_layer_init(&L, ctx, args.m, attn_fmt, mlp_fmt, 42);
    size_t n_out = glm_layer_outputs_len(&L);
    float *unfused = malloc(n_out * sizeof *unfused), *chosen = malloc(n_out * sizeof *chosen);
    double *times = malloc((size_t)args.iters * GLM_STEPS * sizeof *times);
    if (!unfused || !chosen || !times)
        tu_check(ctx, FP8F_E_NOMEM, "host buffers");

    struct glm_step_result res[GLM_STEPS];
    glm_layer_run(&L, 1, res); /* unfused reference path (also the warm-up) */
    glm_layer_outputs(&L, unfused);
    for (long it = 0; it < args.iters; it++) {
        glm_layer_run(&L, 0, res);
        for (int s = 0; s < GLM_STEPS; s++)
            times[s * args.iters + it] = res[s].seconds;
    }
    glm_layer_outputs(&L, chosen);

    printf("\n%-16s %-6s %11s %10s %10s\n", "step", "path", "time (us)", "GB/s", "TFLOP/s");
    double total = 0.0;
    for (int s = 0; s < GLM_STEPS; s++) {
        qsort(times + s * args.iters, (size_t)args.iters, sizeof *times, cmp_double);
        double t = times[s * args.iters + args.iters / 2];
        total += t;
        printf("%-16s %-6s %11.1f %10.1f %10.3f\n", res[s].name, res[s].path, t * 1e6,
               res[s].bytes / t * 1e-9, res[s].flops / t * 1e-12);
    }
    printf("%-16s %-6s %11.1f   (median of %ld runs per step)\n", "layer step", "", total * 1e6,
           args.iters);

    const size_t qkv = (size_t)(args.m * GLM_QKV), gate_up = (size_t)(args.m * GLM_GATE_UP);
    printf("\nmax |difference| / max |unfused| of the path taken vs the unfused path:\n");
    printf("  qkv_proj %.3g, gate_up_proj %.3g, down_proj %.3g\n",
           max_rel_diff(chosen, unfused, qkv), max_rel_diff(chosen + qkv, unfused + qkv, gate_up),
           max_rel_diff(chosen + qkv + gate_up, unfused + qkv + gate_up,
                        n_out - qkv - gate_up));
    if (strcmp(res[0].path, "dense") == 0)
        printf("  (the %s backend has no fused norm+quant: both runs took the dense path)\n",
               fp8f_ctx_backend_name(ctx));

    free(unfused);
    free(chosen);
    free(times);
    glm_layer_free(&L);
    fp8f_ctx_destroy(ctx);
    return 0;
}
