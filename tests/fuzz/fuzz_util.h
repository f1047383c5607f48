/*
 * What the fuzz harnesses share: reading choices from the fuzzer's bytes,
 * reporting a contract violation, and checking an error message.
 */
#ifndef FP8F_FUZZ_UTIL_H
#define FP8F_FUZZ_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fp8fuse.h"

/* Huge allocations the library is asked for must come back as NULL (and
 * the call as FP8F_E_NOMEM), not as an ASan report: that is what a caller's
 * allocator does. Environment ASAN_OPTIONS still take precedence. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "allocator_may_return_null=1"; }

/* The fuzzer's bytes, read front to back; an exhausted input reads as 0,
 * which every choice maps to its plain, valid option. */
typedef struct fz_bytes {
    const uint8_t *p;
    size_t n;
} fz_bytes;

static inline uint8_t fz_u8(fz_bytes *b) {
    if (!b->n)
        return 0;
    b->n--;
    return *b->p++;
}

static inline uint32_t fz_u32(fz_bytes *b) {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v = v << 8 | fz_u8(b);
    return v;
}

/* One of n options, uniformly enough. */
static inline unsigned fz_pick(fz_bytes *b, unsigned n) { return n ? fz_u8(b) % n : 0; }

/* 0 most of the time (no mutation); else 1..32. About 1 byte in 8 mutates. */
static inline unsigned fz_mutation(fz_bytes *b) {
    uint8_t v = fz_u8(b);
    return v < 224 ? 0u : (unsigned)(v - 223);
}

static const char *fz_op = "?"; /* the operation being checked, for reports */
static char fz_args[4096];      /* its arguments, for reports */

#if defined(__GNUC__)
__attribute__((noreturn, format(printf, 1, 2)))
#endif
static void fz_violation(const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "\n==== fp8fuse CONTRACT VIOLATION in %s: ", fz_op);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    if (fz_args[0])
        fprintf(stderr, "arguments: %s\n", fz_args);
    abort();
}

#define FZ_CHECK(cond, ...)                                                                    \
    do {                                                                                       \
        if (!(cond))                                                                           \
            fz_violation(__VA_ARGS__);                                                         \
    } while (0)

/* Status values the API defines. */
static inline int fz_status_known(fp8f_status s) {
    return s == FP8F_OK || s == FP8F_E_INVALID || s == FP8F_E_UNSUPPORTED ||
           s == FP8F_E_FORMAT || s == FP8F_E_BACKEND || s == FP8F_E_NOMEM ||
           s == FP8F_E_DEVICE;
}

/* A failure must leave a message: non-empty, terminated within the
 * library's buffer (512 bytes). */
static inline void fz_check_message(const fp8f_ctx *ctx, fp8f_status s) {
    const char *msg = fp8f_last_error(ctx);
    FZ_CHECK(msg != NULL, "%s returned but fp8f_last_error(%s) is NULL", fp8f_status_str(s),
             ctx ? "ctx" : "NULL");
    FZ_CHECK(msg[0] != '\0', "%s returned with an empty fp8f_last_error(%s)",
             fp8f_status_str(s), ctx ? "ctx" : "NULL");
    FZ_CHECK(strnlen(msg, 512) < 512, "fp8f_last_error is not terminated within 512 bytes");
}

#endif /* FP8F_FUZZ_UTIL_H */
