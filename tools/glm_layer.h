/* One GLM-4.7 decoder layer step on synthetic data, through the public API:
 *   prepare(attn) -> qkv -> [attention: synthetic] -> o_proj
 *   -> prepare(mlp, residual) -> gate_up -> [SiLU*mul: synthetic] -> down
 * The shapes are GLM-4.7's (hidden 5120, 96 heads x 128, dense MLP 12288). */
#ifndef FP8F_GLM_LAYER_H
#define FP8F_GLM_LAYER_H

#include "fp8fuse.h"
#include "tool_util.h"

enum { GLM_HIDDEN = 5120, GLM_QKV = 14336, GLM_ATTN_OUT = 12288, GLM_GATE_UP = 24576,
       GLM_MLP = 12288 };

struct glm_proj {
    const char *name;  /* the projection's module suffix, e.g. "self_attn.qkv_proj" */
    int64_t n, k;
    fp8f_weight *w;
};

struct glm_layer {
    fp8f_ctx *ctx;
    int64_t m;
    fp8f_quant_format attn_fmt, mlp_fmt; /* input format of qkv and gate_up */
    struct glm_proj qkv, o_proj, gate_up, down;
    /* backend memory, bf16 unless named otherwise */
    void *x, *residual, *residual_init, *attn_norm_w, *mlp_norm_w;
    void *dense_buf, *q_buf, *scale_buf; /* q_buf: fp8 codes, scale_buf: floats */
    void *qkv_out, *attn_out, *o_out, *gate_up_out, *mlp_act, *down_out;
};

/* Allocates inputs and synthetic weights (deterministic from `seed`). */
void glm_layer_init(struct glm_layer *L, fp8f_ctx *ctx, int64_t m, fp8f_quant_format attn_fmt,
                    fp8f_quant_format mlp_fmt, uint64_t seed);
void glm_layer_free(struct glm_layer *L);

/* Per-step results of one pass over the layer. */
enum { GLM_STEPS = 6 };
struct glm_step_result {
    const char *name;
    const char *path; /* "fused" / "dense" for prepare steps, "gemm" otherwise */
    double seconds;
    double bytes, flops; /* what the step must move / compute at least */
};

/* Runs the layer once from the initial residual, timing each step (each
 * step is followed by fp8f_ctx_sync). `force_dense` takes the unfused path:
 * rmsnorm to a dense buffer, the GEMM quantizing it itself. */
void glm_layer_run(struct glm_layer *L, int force_dense, struct glm_step_result res[GLM_STEPS]);

/* Downloads the two GEMM outputs that follow a prepare (qkv, gate_up) and
 * the final output into host f32 arrays sized by glm_layer_outputs_len(). */
size_t glm_layer_outputs_len(const struct glm_layer *L);
void glm_layer_outputs(const struct glm_layer *L, float *host);

#endif
