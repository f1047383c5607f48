/* fp8fuse-info: the version, the backends this build has, the backend a
 * default context picks here, and its capabilities. */
#include <stdio.h>
#include <string.h>

#include "fp8fuse.h"
#include "internal.h" /* the backend's describe op (issue 4: CPU ISA and kernels) */

int main(void) {
    printf("fp8fuse %s\n", fp8f_version());
    printf("backends: cpu (built in, available)\n");
    printf("          hip (module: %s)\n",
           fp8f_backend_available(FP8F_BACKEND_HIP) ? "loaded, device present"
                                                   : "not available on this machine");
    fp8f_ctx *ctx = NULL;
    fp8f_status s = fp8f_ctx_create(NULL, &ctx);
    if (s != FP8F_OK) {
        printf("default context: %s: %s\n", fp8f_status_str(s), fp8f_last_error(NULL));
        return 1;
    }
    unsigned caps = fp8f_ctx_caps(ctx);
    printf("chosen backend: %s\n", fp8f_ctx_backend_name(ctx));
    printf("capabilities: fused_norm_quant=%s quantized_input=%s\n",
           caps & FP8F_CAP_FUSED_NORM_QUANT ? "yes" : "no",
           caps & FP8F_CAP_QUANTIZED_INPUT ? "yes" : "no");
    printf("fp8 type: %s\n", fp8f_ctx_fp8_dtype(ctx) == FP8F_E4M3FNUZ ? "e4m3fnuz" : "e4m3fn");
    if (ctx->be.ops->describe && strcmp(fp8f_ctx_backend_name(ctx), "cpu") != 0) {
        char line[512] = "";
        ctx->be.ops->describe(&ctx->be, line, sizeof line);
        printf("device: %s\n", line);
    }
    /* the CPU backend's ISA and kernels (FP8F_CPU_ISA caps the level) */
    fp8f_options copt = {0};
    fp8f_ctx *cctx = NULL;
    copt.backend = FP8F_BACKEND_CPU;
    if (fp8f_ctx_create(&copt, &cctx) == FP8F_OK) {
        char line[512] = "";
        cctx->be.ops->describe(&cctx->be, line, sizeof line);
        printf("cpu: %s\n", line);
        fp8f_ctx_destroy(cctx);
    }
    fp8f_ctx_destroy(ctx);
    return 0;
}
