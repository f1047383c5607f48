/* Small helpers the command-line tools share: timing, random data, host
 * conversions for synthetic inputs, and failing loudly on a bad status. */
#ifndef FP8F_TOOL_UTIL_H
#define FP8F_TOOL_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "fp8fuse.h"

/* Seconds on a monotonic clock. */
double tu_now(void);

/* Exits with the library's message when s is not FP8F_OK. */
void tu_check(fp8f_ctx *ctx, fp8f_status s, const char *what);

/* Deterministic xorshift generator. */
typedef struct { uint64_t s; } tu_rng;
float tu_rng_uniform(tu_rng *r); /* [0, 1) */
float tu_rng_normal(tu_rng *r);  /* N(0, 1) */

uint16_t tu_f32_to_bf16(float f);
float tu_bf16_to_f32(uint16_t h);
/* Value of an fp8 code of type t (FP8F_E4M3FN or FP8F_E4M3FNUZ). */
float tu_fp8_value(fp8f_dtype t, uint8_t code);

/* Backend memory of `bytes`, filled from `host` (NULL: left unset). */
void *tu_upload(fp8f_ctx *ctx, const void *host, size_t bytes);

#endif
