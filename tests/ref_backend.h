/*
 * A reference backend, built only into the tests: host memory, numerics from
 * tests/ref.c (double precision), and both capabilities
 * (FP8F_CAP_FUSED_NORM_QUANT | FP8F_CAP_QUANTIZED_INPUT), so that the
 * routing of lib/ (fp8f_prepare's fused path, quantized GEMM activations)
 * can be tested on machines without a GPU. Contexts on it are created with
 * the internal fp8f__ctx_create_with_ops().
 */
#ifndef FP8F_TEST_REF_BACKEND_H
#define FP8F_TEST_REF_BACKEND_H

#include "backend.h"
#include "fp8fuse.h"

/* name "reference", native fp8 type E4M3FN */
extern const struct fp8f_backend_ops ref_backend_ops;

/* A context on `ops` (e.g. &ref_backend_ops or a copy with other caps) with
 * options.fp8_dtype = fp8 (0: native); fails the running test on error. */
fp8f_ctx *ref_ctx_create_with(const struct fp8f_backend_ops *ops, fp8f_dtype fp8);
/* A context on the reference backend. */
fp8f_ctx *ref_ctx_create(fp8f_dtype fp8);

#endif
