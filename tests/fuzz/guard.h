/*
 * Guarded buffers for the contract checks of the fuzz harnesses and of
 * tests/test_properties.c (header-only, no dependency on lib/).
 *
 * Every buffer a call may touch is allocated as
 *     [ FG_GUARD guard bytes | len data bytes | FG_GUARD guard bytes ]
 * with a known pattern in the guards. fg_snapshot() copies the whole
 * allocation; after the call
 *   - fg_changed() says whether any byte (guards included) differs: a call
 *     that returned an error must leave every buffer unchanged;
 *   - fg_changed_outside() says whether a byte outside the elements of a
 *     rows x cols tensor (row stride `stride` elements of `elem` bytes)
 *     differs: padding between rows and the guards must survive a call
 *     that succeeded.
 * Under AddressSanitizer the guards are also poisoned, so that a read or a
 * write of a guard byte is reported at once, with its stack.
 */
#ifndef FP8F_FUZZ_GUARD_H
#define FP8F_FUZZ_GUARD_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FG_ASAN 1
#endif
#endif
#if !defined(FG_ASAN) && defined(__SANITIZE_ADDRESS__)
#define FG_ASAN 1
#endif
#ifdef FG_ASAN
#include <sanitizer/asan_interface.h>
#define FG_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define FG_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define FG_POISON(p, n) ((void)(p), (void)(n))
#define FG_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define FG_GUARD 64 /* a multiple of 16: data stays as aligned as malloc's */

typedef struct fg_buf {
    unsigned char *mem;  /* guard | data | guard */
    unsigned char *data; /* mem + FG_GUARD; never NULL once allocated */
    size_t len;
    unsigned char *snap; /* the whole allocation at the last fg_snapshot */
} fg_buf;

static inline size_t fg_total(const fg_buf *b) { return b->len + 2 * FG_GUARD; }

/* xorshift64*: the fill pattern of data bytes. */
static inline uint64_t fg_rand(uint64_t *s) {
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1Dull;
}

static inline void fg_guard_pattern(unsigned char *p, size_t n, size_t salt) {
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(0xA5u ^ (unsigned char)(i * 7u + salt));
}

/* Allocates len data bytes (0 is fine: data then points between the two
 * guards). The data is zero-filled; returns 0 when out of memory. */
static inline int fg_alloc(fg_buf *b, size_t len) {
    memset(b, 0, sizeof *b);
    if (len > SIZE_MAX / 2 - 2 * FG_GUARD)
        return 0;
    b->len = len;
    b->mem = malloc(fg_total(b));
    b->snap = malloc(fg_total(b));
    if (!b->mem || !b->snap) {
        free(b->mem);
        free(b->snap);
        memset(b, 0, sizeof *b);
        return 0;
    }
    b->data = b->mem + FG_GUARD;
    fg_guard_pattern(b->mem, FG_GUARD, 0);
    memset(b->data, 0, len);
    fg_guard_pattern(b->data + len, FG_GUARD, 1);
    FG_POISON(b->mem, FG_GUARD);
    FG_POISON(b->data + len, FG_GUARD);
    return 1;
}

static inline void fg_unpoison(fg_buf *b) {
    FG_UNPOISON(b->mem, FG_GUARD);
    FG_UNPOISON(b->data + b->len, FG_GUARD);
}

static inline void fg_repoison(fg_buf *b) {
    FG_POISON(b->mem, FG_GUARD);
    FG_POISON(b->data + b->len, FG_GUARD);
}

static inline void fg_free(fg_buf *b) {
    if (b->mem) {
        fg_unpoison(b);
        free(b->mem);
        free(b->snap);
    }
    memset(b, 0, sizeof *b);
}

/* Fills the data bytes with pseudo-random bytes. */
static inline void fg_fill_random(fg_buf *b, uint64_t *rng) {
    for (size_t i = 0; i < b->len; i++)
        b->data[i] = (unsigned char)(fg_rand(rng) >> 56);
}

static inline void fg_snapshot(fg_buf *b) {
    if (!b->mem)
        return;
    fg_unpoison(b);
    memcpy(b->snap, b->mem, fg_total(b));
    fg_repoison(b);
}

/* Offset (from data; negative inside the front guard) of the first byte
 * that differs from the snapshot, for messages; *found says whether any does. */
static inline ptrdiff_t fg_first_change(fg_buf *b, int *found) {
    *found = 0;
    if (!b->mem)
        return 0;
    fg_unpoison(b);
    ptrdiff_t at = 0;
    for (size_t i = 0; i < fg_total(b); i++) {
        if (b->mem[i] != b->snap[i]) {
            *found = 1;
            at = (ptrdiff_t)i - FG_GUARD;
            break;
        }
    }
    fg_repoison(b);
    return at;
}

static inline int fg_changed(fg_buf *b) {
    int found;
    (void)fg_first_change(b, &found);
    return found;
}

/* Whether the data offset `off` (bytes) lies on an element of the tensor. */
static inline int fg_in_tensor(size_t off, int64_t rows, int64_t cols, int64_t stride,
                               size_t elem) {
    if (rows <= 0 || cols <= 0 || stride <= 0)
        return 0;
    size_t row_bytes = (size_t)stride * elem;
    size_t r = off / row_bytes, c = off % row_bytes;
    return r < (size_t)rows && c < (size_t)cols * elem;
}

/* Offset of the first changed byte outside the tensor's elements (guards
 * and row padding included); *found says whether there is one. */
static inline ptrdiff_t fg_changed_outside(fg_buf *b, int64_t rows, int64_t cols,
                                           int64_t stride, size_t elem, int *found) {
    *found = 0;
    if (!b->mem)
        return 0;
    fg_unpoison(b);
    ptrdiff_t at = 0;
    for (size_t i = 0; i < fg_total(b); i++) {
        if (b->mem[i] == b->snap[i])
            continue;
        if (i >= FG_GUARD && i < FG_GUARD + b->len &&
            fg_in_tensor(i - FG_GUARD, rows, cols, stride, elem))
            continue;
        *found = 1;
        at = (ptrdiff_t)i - FG_GUARD;
        break;
    }
    fg_repoison(b);
    return at;
}

#endif /* FP8F_FUZZ_GUARD_H */
