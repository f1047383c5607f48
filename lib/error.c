/* Status names and last-error messages: per context, or per thread for the
 * calls that have no usable context. */
#include <stdarg.h>
#include <stdio.h>

#include "internal.h"

static _Thread_local char thread_error[FP8F_ERROR_MAX];

fp8f_status fp8f__fail(fp8f_ctx *ctx, fp8f_status status, const char *fmt, ...) {
    char *buf = ctx ? ctx->be.error : thread_error;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, FP8F_ERROR_MAX, fmt, ap);
    va_end(ap);
    return status;
}

void fp8f__clear_thread_error(void) { thread_error[0] = '\0'; }

void fp8f__restore_thread_error(const char *msg) {
    snprintf(thread_error, sizeof thread_error, "%s", msg);
}

const char *fp8f_last_error(const fp8f_ctx *ctx) { return ctx ? ctx->be.error : thread_error; }

const char *fp8f_status_str(fp8f_status s) {
    switch (s) {
    case FP8F_OK:
        return "FP8F_OK";
    case FP8F_E_INVALID:
        return "FP8F_E_INVALID";
    case FP8F_E_UNSUPPORTED:
        return "FP8F_E_UNSUPPORTED";
    case FP8F_E_FORMAT:
        return "FP8F_E_FORMAT";
    case FP8F_E_BACKEND:
        return "FP8F_E_BACKEND";
    case FP8F_E_NOMEM:
        return "FP8F_E_NOMEM";
    case FP8F_E_DEVICE:
        return "FP8F_E_DEVICE";
    }
    return "FP8F_E_UNKNOWN_STATUS";
}
