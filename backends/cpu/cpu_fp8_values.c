/*
 * The 256 values of each fp8 type as f32, decoded once per process by the
 * codec (lib/fp8_codec.h, the library's one definition of the formats).
 * The GEMM kernels build their lookup tables from these on every call;
 * decoding through the codec there (ldexpf per code) took most of a small
 * GEMM call's time (EPYC Zen 5: 2-3 us of a 1 x 64 x 128 call).
 */
#include <pthread.h>

#include "cpu_isa.h"
#include "fp8_codec.h"

static float values[2][256]; /* [fnuz] */
static pthread_once_t filled[2] = {PTHREAD_ONCE_INIT, PTHREAD_ONCE_INIT};

static void fill(int fnuz) {
    for (int c = 0; c < 256; c++)
        values[fnuz][c] = fp8f_decode_fp8(fnuz ? FP8F_E4M3FNUZ : FP8F_E4M3FN, (uint8_t)c);
}
static void fill_fn(void) { fill(0); }
static void fill_fnuz(void) { fill(1); }

const float *fp8f_cpu_fp8_values(fp8f_dtype fp8) {
    const int fnuz = fp8 == FP8F_E4M3FNUZ;
    pthread_once(&filled[fnuz], fnuz ? fill_fnuz : fill_fn);
    return values[fnuz];
}
