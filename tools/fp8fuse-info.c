/* fp8fuse-info: the version, the backends this build has, the backend a
 * default context picks here, and its capabilities. */
#include <stdio.h>

#include "fp8fuse.h"

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
    fp8f_ctx_destroy(ctx);
    return 0;
}
