/*
 * An independent double-precision reference of fp8fuse's numerics, written
 * for the tests from the contract in DESIGN.md ("Numerics"). It shares no
 * code with lib/ (it does not include lib/fp8_codec.h): fp8 values are
 * decoded by formula and encoded by searching the nearest of the 256 codes,
 * bf16/f16 rounding is done with frexp/ldexp/nearbyint, and everything is
 * computed in double.
 *
 * All tensors given to the functions below hold HOST memory.
 */
#ifndef FP8F_TEST_REF_H
#define FP8F_TEST_REF_H

#include <stddef.h>
#include <stdint.h>

#include "fp8fuse.h"

/* ---- element types ------------------------------------------------------ */

size_t ref_dtype_size(fp8f_dtype t);
const char *ref_dtype_name(fp8f_dtype t);

/* ---- fp8 e4m3fn / e4m3fnuz ---------------------------------------------- */

double ref_fp8_max(fp8f_dtype t);               /* 448 (fn) or 240 (fnuz) */
int ref_fp8_is_nan(fp8f_dtype t, uint8_t code); /* fn: 0x7f/0xff, fnuz: 0x80 */
double ref_fp8_decode(fp8f_dtype t, uint8_t code); /* NaN for NaN codes */
/* Nearest code to v among all non-NaN codes; a tie goes to the even code
 * (and between +0 and -0 to the one with v's sign). Values beyond +-max and
 * +-Inf give +-max; NaN gives a NaN code. */
uint8_t ref_fp8_encode_search(fp8f_dtype t, double v);
/* The same by bisection over the sorted values (fast; checked against the
 * exhaustive search in test_codec). */
uint8_t ref_fp8_encode(fp8f_dtype t, double v);
/* Position of a non-NaN code in value order (+0 and -0 are both 0), so
 * that |ordinal(a) - ordinal(b)| is the number of steps between codes. */
int ref_fp8_ordinal(uint8_t code);
/* Whether encode(v) could change if v moved by a relative `rel`. */
int ref_fp8_ambiguous(fp8f_dtype t, double v, double rel);
/* Distance from decode(code) to its farther neighbour (one step). */
double ref_fp8_step(fp8f_dtype t, uint8_t code);

/* ---- bf16 / f16 / f32 --------------------------------------------------- */

/* v rounded to nearest even in BF16, F16 or F32 (overflow -> +-Inf). */
double ref_round(fp8f_dtype t, double v);
uint16_t ref_bf16_bits(double v); /* ref_round(BF16, v)'s bits */
double ref_bf16_value(uint16_t bits);
uint16_t ref_f16_bits(double v); /* ref_round(F16, v)'s bits */
double ref_f16_value(uint16_t bits);
/* Half an ulp relative to the value for a float type (2^-8, 2^-11, 2^-24),
 * and the spacing of its subnormals. */
double ref_half_ulp_rel(fp8f_dtype t);
double ref_subnormal_step(fp8f_dtype t);

/* ---- tensor element access (host memory) ------------------------------- */

double ref_load(const fp8f_tensor *t, int64_t r, int64_t c);        /* float dtypes */
void ref_store(const fp8f_tensor *t, int64_t r, int64_t c, double v); /* rounds */
uint8_t ref_code(const fp8f_tensor *t, int64_t r, int64_t c);       /* fp8 dtypes */
void ref_set_code(const fp8f_tensor *t, int64_t r, int64_t c, uint8_t code);

/* ---- operations ---------------------------------------------------------- */

/* h = x (+ residual, rounded to the residual's dtype and written back into
 * `residual` when it is not NULL); y = h / sqrt(mean(h^2) + eps) * weight.
 * y (and h when not NULL) receive rows x cols doubles, row-major. */
void ref_rmsnorm(const fp8f_tensor *x, fp8f_tensor *residual, const fp8f_tensor *weight,
                 double eps, double *y, double *h);

/* Per-token quantization of rows x cols doubles to `fp8`: amax = max|y|
 * (NaN ignored), clipped to *scale_ub when not NULL, scale = max(amax/MAX,
 * 1/(MAX*512)) rounded to f32 (the type a qtensor stores it in), then
 * q = encode(f32(y/scale)) (the quotient rounded to f32, as the contract's
 * f32 arithmetic has it). q: rows x cols codes, scale: rows. */
void ref_quant(const double *y, int64_t rows, int64_t cols, fp8f_dtype fp8,
               const double *scale_ub, uint8_t *q, double *scale);

/* Loads a float tensor into rows x cols doubles. */
void ref_load_all(const fp8f_tensor *t, double *out);

/* out[m][n] = sum_k a[m][k] * w[n][k] * sa[m] * sw[n] (+ bias[n]) with
 * a: M x K, w: N x K values (already decoded), bias NULL or N values.
 * abs_terms (optional) receives sum_k |a * w * sa * sw| per output. */
void ref_gemm(const double *a, const double *sa, const double *w, const double *sw,
              const double *bias, int64_t m, int64_t n, int64_t k, double *out,
              double *abs_terms);

#endif
