/*
 * The SIMD peak for fp8fuse-bench --peers (issue 4): how fast this CPU's
 * cores issue the multiply-add instruction that the context's GEMM kernel
 * is built on, measured in the same run on the same threads. A GEMM's
 * TF/s over it says how close the kernel is to what the cores can do at
 * all, whatever the machine: the VMs of one name here come as cores that
 * issue one 512-bit vdpbf16ps a cycle or two.
 */
#ifndef FP8F_BENCH_PEAK_H
#define FP8F_BENCH_PEAK_H

struct simd_peak {
    const char *instr;  /* e.g. "vdpbf16ps zmm" */
    double flops_per_s; /* all threads together, 2 flops per multiply-add */
};

/* The peak of the GEMM instruction of CPU ISA level `isa` (the name
 * fp8fuse-info prints) on `threads` threads (0: OpenMP's default):
 * vfmadd231ps ymm for avx2, zmm for avx512, vdpbf16ps zmm for avx512bf16,
 * tdpbf16ps for amx (its GEMM from M = 2; M = 1 runs vdpbf16ps). Returns 0
 * (nothing measured) for generic C, off x86-64, and for a level this
 * build has no kernels for. */
int bench_simd_peak(const char *isa, int threads, struct simd_peak *out);

#endif
