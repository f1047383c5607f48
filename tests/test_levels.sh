#!/bin/sh
# The API suites again on each CPU level below the one this machine runs
# (FP8F_CPU_ISA caps the level): the default run of `make check` covers
# only the top level, while CPUs without AVX512_BF16 (Zen 2/3, Skylake,
# Ice Lake) run avx2 or avx512 by default. tests/test_cpu_isa compares the
# levels' kernels directly; these suites check every level against the
# reference through the public API, at full size: streamed stores, row
# chunking, several threads, GEMMs past one row block. Run by `make check`
# from the build directory.
info=./fp8fuse-info
[ -x "$info" ] || { echo "SKIP: $info not built"; exit 77; }
top=$($info | sed -n 's/.*cpu supports \([a-z0-9]*\).*/\1/p' | head -n 1)
[ -n "$top" ] || { echo "SKIP: fp8fuse-info names no CPU level"; exit 77; }
suites="tests/test_norm tests/test_quant tests/test_norm_quant tests/test_gemm tests/test_prepare
        tests/test_threads tests/test_properties"
fail=0
for isa in generic avx2 avx512 avx512bf16; do
    [ "$isa" = "$top" ] && break # the top level is make check's own run
    for t in $suites; do
        [ -x "$t" ] || { echo "FAIL: $t not built"; fail=1; continue; }
        if out=$(FP8F_CPU_ISA=$isa FP8F_TEST_BACKEND=cpu "$t" 2>&1); then
            echo "PASS [$isa] $t: $(printf '%s\n' "$out" | grep -E '^[0-9]+%: Checks' | tail -n 1)"
        else
            printf '%s\n' "$out" | grep -vE ':P:' | tail -n 20
            echo "FAIL [$isa] $t"
            fail=1
        fi
    done
done
exit $fail
