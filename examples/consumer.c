/*
 * A small program built against the *installed* fp8fuse:
 *   cc consumer.c $(pkg-config --cflags --libs fp8fuse)
 * It normalizes and quantizes two tokens, runs a tiny PTPC GEMM, checks the
 * result against a direct computation, shows the clear refusal of a
 * (q, scale) activation on a backend that cannot take one, and reads a
 * layer's input format from a model config. CI also links it against the
 * static library (examples/Makefile: consumer-static).
 */
#include <fp8fuse.h>
#include <math.h>
#include <stdio.h>

#define M 2
#define K 8
#define N 3

static int fail(fp8f_ctx *ctx, fp8f_status s, const char *what) {
    fprintf(stderr, "%s: %s: %s\n", what, fp8f_status_str(s), fp8f_last_error(ctx));
    return 1;
}

int main(void) {
    fp8f_ctx *ctx;
    fp8f_options opt = {.backend = FP8F_BACKEND_CPU};
    fp8f_status s = fp8f_ctx_create(&opt, &ctx);
    if (s != FP8F_OK)
        return fail(NULL, s, "fp8f_ctx_create");

    float x[M][K], w_norm[K], y[M][K];
    for (int m = 0; m < M; m++)
        for (int k = 0; k < K; k++)
            x[m][k] = (float)(k - 3 * m) * 0.5f;
    for (int k = 0; k < K; k++)
        w_norm[k] = 1.0f;
    fp8f_tensor xt = {x, FP8F_F32, M, K, K}, wt = {w_norm, FP8F_F32, 1, K, K};
    fp8f_tensor yt = {y, FP8F_F32, M, K, K};
    if ((s = fp8f_rmsnorm(ctx, &xt, NULL, &wt, 1e-6f, &yt)) != FP8F_OK)
        return fail(ctx, s, "fp8f_rmsnorm");

    /* weights: N x K codes 0x38 (= 1.0 in e4m3fn), per-channel scales */
    unsigned char wq[N][K];
    float wscale[N] = {1.0f, 0.5f, 2.0f};
    for (int n = 0; n < N; n++)
        for (int k = 0; k < K; k++)
            wq[n][k] = 0x38;
    fp8f_tensor wqt = {wq, FP8F_E4M3FN, N, K, K};
    fp8f_weight *w;
    if ((s = fp8f_weight_create(ctx, &wqt, wscale, NULL, &w)) != FP8F_OK)
        return fail(ctx, s, "fp8f_weight_create");

    float out[M][N];
    fp8f_tensor ot = {out, FP8F_F32, M, N, N};
    fp8f_act a = {.kind = FP8F_ACT_DENSE, .dense = yt};
    if ((s = fp8f_linear_ptpc(ctx, &a, w, &ot)) != FP8F_OK)
        return fail(ctx, s, "fp8f_linear_ptpc");
    for (int m = 0; m < M; m++) {
        for (int n = 0; n < N; n++) {
            double want = 0.0;
            for (int k = 0; k < K; k++)
                want += y[m][k] * wscale[n];
            if (fabs(out[m][n] - want) > 0.05 * (fabs(want) + 1.0)) {
                fprintf(stderr, "out[%d][%d] = %g, expected about %g\n", m, n, out[m][n], want);
                return 1;
            }
        }
    }

    /* A (q, scale) activation on the CPU backend: refused, nothing written. */
    unsigned char q[M][K];
    float qscale[M];
    fp8f_qtensor qt = {{q, FP8F_E4M3FN, M, K, K}, qscale, FP8F_QF_NONE};
    if ((s = fp8f_quant_per_token(ctx, &yt, NULL, &qt)) != FP8F_OK)
        return fail(ctx, s, "fp8f_quant_per_token");
    fp8f_act qa = {.kind = FP8F_ACT_QUANTIZED, .quant = qt};
    s = fp8f_linear_ptpc(ctx, &qa, w, &ot);
    printf("quantized input on %s: %s (%s)\n", fp8f_ctx_backend_name(ctx), fp8f_status_str(s),
           fp8f_last_error(ctx));
    fp8f_weight_destroy(w);
    fp8f_ctx_destroy(ctx);
    if (s != FP8F_E_UNSUPPORTED)
        return 1;

    /* Which format a layer's input takes, from a (tiny) config.json. */
    static const char config[] =
        "{\"quantization_config\": {\"quant_method\": \"compressed-tensors\", \"config_groups\": "
        "{\"g\": {\"targets\": [\"Linear\"], \"weights\": {\"type\": \"float\", \"num_bits\": 8, "
        "\"strategy\": \"channel\"}, \"input_activations\": {\"type\": \"float\", "
        "\"num_bits\": 8, \"strategy\": \"token\", \"dynamic\": true}}}, \"ignore\": "
        "[\"lm_head\"]}}";
    fp8f_quant_format fmt;
    if ((s = fp8f_quant_format_detect(config, "model.layers.0.mlp.down_proj", &fmt)) != FP8F_OK)
        return fail(NULL, s, "fp8f_quant_format_detect");
    printf("down_proj input format: %s\n", fp8f_quant_format_name(fmt));
    if (fmt != FP8F_QF_FP8_PER_TOKEN)
        return 1;
    printf("consumer OK (fp8fuse %s)\n", fp8f_version());
    return 0;
}
