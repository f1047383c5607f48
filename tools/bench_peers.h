/*
 * CPU peers for fp8fuse-bench (issue 4), measured in the same run as the
 * library with the same thread count:
 *   memcpy      a parallel copy moving as many bytes (read + write) as the
 *               operation: the bandwidth ceiling; timed apart, and for the
 *               row operations also in alternation with the operation
 *               (bench_peers_copy_paired);
 *   unfused     the library's own unfused path: fp8f_rmsnorm to a dense
 *               buffer, then fp8f_quant_per_token;
 *   onednn-bf16 oneDNN bf16 matmul, weights prepacked (reordered) once
 *               (configure --with-bench-peers, libdnnl-dev); on a CPU
 *               where oneDNN has no bf16 matmul (AVX2 only), its f32
 *               matmul instead, named onednn-f32;
 *   sgemm       OpenBLAS sgemm on f32 weights dequantized once
 *               (configure --with-bench-peers, libopenblas-dev).
 */
#ifndef FP8F_BENCH_PEERS_H
#define FP8F_BENCH_PEERS_H

#include <stddef.h>
#include <stdint.h>

#include "fp8fuse.h"

struct peer_result {
    const char *name;
    double med_us, p10_us, p90_us;
    int reps;
    double bytes, flops; /* what this peer moves / computes */
};

#define PEER_MAX 4

/* Threads the peers (and an OpenMP default context) use. */
int bench_peers_threads(void);
/* Sets that count (OpenMP's for this thread's later regions, which
 * oneDNN and the copy use; OpenBLAS's is set from it); 0: back to
 * OpenMP's default (OMP_NUM_THREADS, else the cores). */
void bench_peers_set_threads(int threads);
/* "memcpy unfused onednn-bf16 sgemm" as compiled in. */
const char *bench_peers_compiled(void);

/* Peers of a norm/quant case (op: 0 add_norm_quant, 1 add_norm, 2 quant):
 * fills out[], returns how many. `bytes` is what the operation moves. */
int bench_peers_rows(fp8f_ctx *ctx, int op, int64_t m, int64_t h, fp8f_dtype dtype,
                     double bytes, int reps, struct peer_result *out);
/* A peer timed in alternation with the operation itself (own(arg, i), one
 * call, synchronous): a pair is one call of each, back to back, so both
 * see the same state of a machine whose speed drifts within seconds (a
 * shared VM). ratio_*: per pair (median, 10th and 90th percentiles). */
struct paired_result {
    const char *name; /* the peer's */
    int reps;
    double own_med_us, peer_med_us, peer_bytes;
    double ratio_med, ratio_p10, ratio_p90;
};
/* The copy peer paired with the operation, which moves `bytes`: ratio =
 * the operation's bytes per second over the copy's. Returns 0 when out of
 * memory. */
int bench_peers_copy_paired(void (*own)(void *arg, int iter), void *own_arg, double bytes,
                            int reps, struct paired_result *r);
/* The oneDNN matmul of bench_peers_gemm paired with the GEMM: ratio =
 * oneDNN's time / the GEMM's. Returns 0 without oneDNN (or out of memory). */
int bench_peers_gemm_paired(void (*own)(void *arg, int iter), void *own_arg, int64_t m,
                            int64_t n, int64_t k, int reps, struct paired_result *r);

/* Peers of a GEMM case (activation and output in `dtype`). */
int bench_peers_gemm(int64_t m, int64_t n, int64_t k, double bytes, int reps,
                     struct peer_result *out);

#endif
