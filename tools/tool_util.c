#include "tool_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double tu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void tu_check(fp8f_ctx *ctx, fp8f_status s, const char *what) {
    if (s == FP8F_OK)
        return;
    fprintf(stderr, "error: %s: %s: %s\n", what, fp8f_status_str(s), fp8f_last_error(ctx));
    exit(1);
}

float tu_rng_uniform(tu_rng *r) {
    r->s ^= r->s << 13;
    r->s ^= r->s >> 7;
    r->s ^= r->s << 17;
    return (float)(r->s >> 40) * (1.0f / 16777216.0f);
}

float tu_rng_normal(tu_rng *r) {
    float u1 = tu_rng_uniform(r) + 1e-7f, u2 = tu_rng_uniform(r);
    return sqrtf(-2.0f * logf(u1)) * cosf(6.2831853f * u2);
}

uint16_t tu_f32_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

float tu_bf16_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

float tu_fp8_value(fp8f_dtype t, uint8_t code) {
    int bias = t == FP8F_E4M3FNUZ ? 8 : 7;
    int exp = (code >> 3) & 0xf, mant = code & 7;
    float mag = exp == 0 ? ldexpf((float)mant, -bias - 2) : ldexpf((float)(8 + mant), exp - bias - 3);
    return (code & 0x80) ? -mag : mag;
}

void *tu_upload(fp8f_ctx *ctx, const void *host, size_t bytes) {
    void *p = NULL;
    tu_check(ctx, fp8f_mem_alloc(ctx, bytes, &p), "allocating backend memory");
    if (host)
        tu_check(ctx, fp8f_mem_upload(ctx, p, host, bytes), "uploading");
    return p;
}
