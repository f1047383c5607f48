#!/usr/bin/env bash
# The GPU run of issue 5, in one script.
#
# On the GPU machine (NVIDIA, CUDA 13, PyTorch), from the repository root:
#   OUT=/some/dir bash tools/bench/run-gpu.sh [STAGE...]
# STAGEs, in order (default: all but sweep):
#   build     autotools, ./configure --with-hip=nvidia, make (+ the selftest)
#   selftest  backends/hip/fp8f-hip-selftest: HIP against CPU, edge cases
#   check     the Check suites against the GPU backend (make check-hip),
#             then against the CPU backend for comparison
#   hwcheck   hardware fp8 conversion vs the software encoder, all 2^32 inputs
#   bench     fp8fuse-bench --backend hip, then the PyTorch peers
#             (tools/bench/torch_peers.py), then tools/bench/compare.py
#   sweep     fp8fuse-bench over launch shapes (FP8F_HIP_ROWCFG) for tuning
#   gemm      the PTPC GEMM on GLM-4.7's weight shapes vs torch._scaled_mm
#             (GEMM_BIAS=1: both sides with a bf16 bias)
#             (tools/bench/gemm_report.py writes gemm.md)
#   sanitize  Check suites on the GPU under compute-sanitizer memcheck and
#             racecheck
#   ceiling   tools/bench/read_ceiling.cu: a plain read of each weight
#             shape's bytes, the floor under a decode GEMM (GEMM_SHAPES)
# Everything is written under $OUT: report.md and gemm.md as they are, the
# rest (log.txt of build, selftest, check and hwcheck; the JSON and text
# results) packed into results.tgz at the end, since the device tool brings
# back at most 8 files. The report is printed last.
#
# The GPU image has autoconf, automake and pkg-config but no libtoolize,
# Check, json-c or PCRE2 headers. On this (Debian) machine, once:
#   bash tools/bench/run-gpu.sh prepare
# fills .gpucarry/ (git-ignored through .git/info/exclude) with the Debian
# packages' files and the libtool macros; name .gpucarry in the device
# tool's `carry`. Env knobs: BENCH_ARGS, PEER_ARGS, SWEEP_M, SWEEP_CFGS.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
ROOT=$PWD
CARRY=$ROOT/.gpucarry
OUT=${OUT:-$ROOT/gpu-out}
mkdir -p "$OUT"
LOG=$OUT/log.txt
JOBS=$(nproc 2>/dev/null || echo 4)

stages=("$@")
[ ${#stages[@]} -eq 0 ] && stages=(build selftest check hwcheck bench)

say() { echo "== $*" | tee -a "$LOG"; }

prepare() {
    # here, not on the GPU machine
    local debs=/tmp/fp8f-gpucarry-debs
    rm -rf "$CARRY" "$debs"
    mkdir -p "$CARRY/sysroot" "$CARRY/rtlib" "$debs"
    (cd "$debs" && apt-get download libjson-c-dev libjson-c5 libpcre2-dev libpcre2-8-0 \
        check libsubunit-dev libsubunit0) || exit 1
    for d in "$debs"/*.deb; do dpkg -x "$d" "$CARRY/sysroot"; done
    cp -a "$CARRY"/sysroot/usr/lib/x86_64-linux-gnu/libjson-c.so.5* \
        "$CARRY"/sysroot/usr/lib/x86_64-linux-gnu/libsubunit.so.0* "$CARRY/rtlib/"
    # libtool's macros and ltmain.sh (libtoolize is missing there)
    [ -f m4/libtool.m4 ] || autoreconf -fi
    mkdir -p "$CARRY/m4" "$CARRY/build-aux"
    cp m4/*.m4 "$CARRY/m4/"
    cp build-aux/ltmain.sh "$CARRY/build-aux/"
    local ex
    ex=$(git rev-parse --git-path info/exclude) && mkdir -p "$(dirname "$ex")" &&
        { grep -qx '/.gpucarry/' "$ex" 2>/dev/null || echo '/.gpucarry/' >>"$ex"; }
    du -sh "$CARRY"
}

# --with-blaslt=PREFIX when the CUDA toolkit lacks cublasLt.h but a pip
# wheel (nvidia-cublas) has it; nothing when the toolkit has it.
blaslt_arg() {
    local cuda h sp
    cuda=$(dirname "$(dirname "$(command -v nvcc)")")
    [ -f "$cuda/include/cublasLt.h" ] && return
    for sp in $(python3 -c 'import site; print(" ".join(site.getsitepackages()))' 2>/dev/null); do
        h=$(find "$sp/nvidia" -name cublasLt.h 2>/dev/null | head -n 1)
        [ -n "$h" ] && { echo "--with-blaslt=$(dirname "$(dirname "$h")")"; return; }
    done
}

build() {
    say "build ($(date -u +%FT%TZ))"
    {
        nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem \
            --format=csv 2>&1
        nvcc --version | tail -n 2
        python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)'
    } >>"$LOG" 2>&1
    if command -v libtoolize >/dev/null; then
        autoreconf -fi >>"$LOG" 2>&1 || return 1
    else
        [ -d "$CARRY/m4" ] || { say "no libtoolize and no .gpucarry/m4: run 'run-gpu.sh prepare' here first"; return 1; }
        mkdir -p m4 build-aux
        cp "$CARRY"/m4/*.m4 m4/ && cp "$CARRY"/build-aux/ltmain.sh build-aux/
        (aclocal -I m4 && autoheader && automake --add-missing --copy && autoconf) >>"$LOG" 2>&1 || return 1
    fi
    if ! pkg-config --exists json-c check 2>/dev/null && [ -d "$CARRY/sysroot" ]; then
        export PKG_CONFIG_SYSROOT_DIR=$CARRY/sysroot
        export PKG_CONFIG_LIBDIR=$CARRY/sysroot/usr/lib/x86_64-linux-gnu/pkgconfig:$CARRY/sysroot/usr/share/pkgconfig
        export LDFLAGS="${LDFLAGS:-} -Wl,-rpath-link,$CARRY/rtlib"
    fi
    # --disable-werror: the image's gcc 13 warns where CI's gcc 12 does not;
    # a warning must not stop the GPU run (CI keeps -Werror)
    ./configure --with-hip=nvidia --with-gpu-arch="${GPU_ARCH:-sm_90}" --disable-werror $(blaslt_arg) \
        >>"$LOG" 2>&1 || {
        tail -n 30 config.log >>"$LOG"
        return 1
    }
    make -j"$JOBS" >>"$LOG" 2>&1 || return 1
    make -j"$JOBS" backends/hip/fp8f-hip-selftest >>"$LOG" 2>&1 || return 1
    say "build done ($(date -u +%FT%TZ))"
}

runtime_env() {
    export FP8F_BACKEND_PATH=$ROOT/backends/hip/.libs
    [ -d "$CARRY/rtlib" ] && export LD_LIBRARY_PATH=$CARRY/rtlib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
}

selftest() {
    say "selftest"
    runtime_env
    ./fp8fuse-info 2>&1 | tee -a "$LOG"
    ./backends/hip/fp8f-hip-selftest 2>&1 | tee -a "$LOG" | tail -n 25
}

check() {
    # each suite that exists, built and run on its own (a suite still being
    # written elsewhere does not stop the others)
    runtime_env
    : >"$OUT/check-logs.txt"
    local suites
    suites=$(ls tests/test_*.c 2>/dev/null | sed 's/\.c$//')
    # shellcheck disable=SC2086
    make -k -j"$JOBS" $suites >>"$LOG" 2>&1
    for be in hip cpu; do
        say "Check suites, FP8F_TEST_BACKEND=$be"
        for t in $suites; do
            if [ ! -x "$t" ]; then
                echo "BUILD-FAILED $t" | tee -a "$LOG"
                continue
            fi
            FP8F_TEST_BACKEND=$be FP8F_TEST_DATA=$ROOT/tests/data timeout "${SUITE_TIMEOUT:-150}" "./$t" >"$OUT/suite.out" 2>&1
            rc=$?
            echo "$( [ $rc -eq 0 ] && echo PASS || echo "FAIL(rc=$rc)") [$be] $t: $(grep -E '^[0-9]+%: Checks' "$OUT/suite.out" | tail -n 1)" | tee -a "$LOG"
            {
                echo "---- [$be] $t (rc=$rc)"
                grep -vE ':P:|^\s*$' "$OUT/suite.out" | head -n 200
            } >>"$OUT/check-logs.txt"
        done
    done
    rm -f "$OUT/suite.out"
}

hwcheck() {
    say "hwcheck"
    nvcc -x cu -std=c++17 -O2 -arch="${GPU_ARCH:-sm_90}" -Iinclude -Ilib -Ibackends/hip \
        backends/hip/fp8_hwcheck.hip -o /tmp/fp8_hwcheck >>"$LOG" 2>&1 &&
        /tmp/fp8_hwcheck 2>&1 | tee -a "$LOG"
}

bench() {
    runtime_env
    say "fp8fuse-bench"
    # shellcheck disable=SC2086
    ./fp8fuse-bench --backend hip --json ${BENCH_ARGS:-} >"$OUT/bench.json" 2>>"$LOG" || say "bench failed"
    ./fp8fuse-bench --backend hip --op add_norm_quant --m 1,128,4096,16384 --reps 50 \
        >"$OUT/bench.txt" 2>&1
    say "PyTorch peers"
    # shellcheck disable=SC2086
    PYTHONUNBUFFERED=1 python3 tools/bench/torch_peers.py --json "$OUT/peers.json" ${PEER_ARGS:-} \
        >"$OUT/peers.txt" 2>&1 || { say "peers failed"; tail -n 30 "$OUT/peers.txt"; }
    python3 tools/bench/compare.py "$OUT/bench.json" "$OUT/peers.json" >"$OUT/report.md" 2>>"$LOG"
}

sweep() {
    runtime_env
    say "sweep"
    ./fp8fuse-bench --backend hip --op "${SWEEP_OPS:-add_norm_quant,quant}" \
        --m "${SWEEP_M:-1,128,1024,4096,16384}" --reps 100 \
        --rowcfg "${SWEEP_CFGS:-1,640,1;2,320,1;3,224,1;4,160,1;5,128,1;8,96,1}" \
        >"$OUT/sweep.txt" 2>&1
    cat "$OUT/sweep.txt"
}

# PTPC GEMM on GLM-4.7's weight shapes (N x K: qkv, o_proj = down, gate_up)
# against torch._scaled_mm, one JSON pair per shape, then gemm_report.py.
gemm() {
    runtime_env
    say "GEMM vs torch._scaled_mm"
    local ms=${GEMM_M:-1,4,16,32,64,128,1024,4096,8192} files=() nk n k p
    for nk in ${GEMM_SHAPES:-14336x5120 5120x12288 24576x5120}; do
        n=${nk%x*} k=${nk#*x}
        ./fp8fuse-bench --backend hip --op gemm,decode_step --gemm-m "$ms" --n "$n" --k "$k" \
            ${GEMM_BIAS:+--bias} --reps "${GEMM_REPS:-50}" --json >"$OUT/gemm-$nk.json" 2>>"$LOG" || say "bench $nk failed"
        files+=("$OUT/gemm-$nk.json")
        # variants, labelled hip/<name>: each GEMM path forced (stream, blaslt,
        # tiled) near the heuristic's switch, nopdl (the decode step without
        # programmatic dependent launch), tok8/16/32 (streaming-kernel tokens
        # per block), rows16/32 (weight rows per block)
        for p in ${GEMM_PATHS:-}; do
            local var="FP8F_HIP_GEMM=$p" ops=gemm
            [ "$p" = nopdl ] && var=FP8F_HIP_PDL=0 ops=gemm,decode_step
            case $p in
            tok8 | tok16 | tok32) var=FP8F_HIP_STREAM_TOKENS=${p#tok} ops=gemm,decode_step ;;
            rows16 | rows32) var=FP8F_HIP_STREAM_ROWS=${p#rows} ops=gemm,decode_step ;;
            esac
            env $var ./fp8fuse-bench --backend hip --op "$ops" --gemm-m "${GEMM_PATH_M:-16,32,48,64}" \
                --n "$n" --k "$k" --reps "${GEMM_REPS:-50}" --json 2>>"$LOG" |
                sed "s/\"backend\": *\"hip\"/\"backend\": \"hip\/$p\"/g" >"$OUT/gemm-$nk-$p.json"
            files+=("$OUT/gemm-$nk-$p.json")
        done
        PYTHONUNBUFFERED=1 python3 tools/bench/torch_peers.py --ops gemm --gemm-m "$ms" \
            --n "$n" --k "$k" ${GEMM_BIAS:+--bias} --reps "${GEMM_REPS:-50}" --json "$OUT/peers-$nk.json" \
            >>"$LOG" 2>&1 || say "peers $nk failed"
        files+=("$OUT/peers-$nk.json")
    done
    python3 tools/bench/gemm_report.py "${files[@]}" >"$OUT/gemm.md" 2>>"$LOG"
    cat "$OUT/gemm.md"
}

# How long a plain read of each weight shape's bytes takes (NVIDIA).
ceiling() {
    say "read ceiling"
    nvcc -std=c++17 -O3 -arch="${GPU_ARCH:-sm_90}" tools/bench/read_ceiling.cu -o /tmp/read_ceiling \
        >>"$LOG" 2>&1 || return 1
    # shellcheck disable=SC2086
    /tmp/read_ceiling ${GEMM_SHAPES:-14336x5120 5120x12288 24576x5120} 2>&1 | tee "$OUT/ceiling.txt"
}

# The GPU side of the Check suites under compute-sanitizer (memcheck: every
# device access in bounds and initialized allocations freed; racecheck:
# shared-memory hazards), one suite at a time, in process (CK_FORK=no).
sanitize() {
    runtime_env
    local tool t rc extra
    for tool in ${SANITIZE_TOOLS:-memcheck racecheck}; do
        # API errors are not reported: the suites provoke some on purpose
        # (a weight too large for the device must give FP8F_E_NOMEM)
        extra=; [ "$tool" = memcheck ] && extra="--leak-check full --report-api-errors no"
        for t in ${SANITIZE_SUITES:-tests/test_gemm tests/test_norm_quant tests/test_quant tests/test_norm tests/test_errors}; do
            [ -x "$t" ] || make "$t" >>"$LOG" 2>&1
            CK_FORK=no FP8F_TEST_SMALL=1 FP8F_TEST_BACKEND=hip FP8F_TEST_DATA=$ROOT/tests/data \
                timeout "${SANITIZE_TIMEOUT:-120}" ./libtool --mode=execute compute-sanitizer --tool "$tool" \
                 --error-exitcode 99 $extra "./$t" >"$OUT/san.out" 2>&1
            rc=$?
            say "compute-sanitizer --tool $tool $t: rc=$rc $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY|Checks' "$OUT/san.out" | tr '\n' ' ')"
            [ $rc -eq 0 ] || grep -vE ':P:' "$OUT/san.out" | head -n 60 >>"$LOG"
        done
    done
    rm -f "$OUT/san.out"
}

status=0
for s in "${stages[@]}"; do
    case "$s" in
    prepare | build | selftest | check | hwcheck | bench | sweep | gemm | sanitize | ceiling) "$s" || status=1 ;;
    *) echo "unknown stage $s" >&2; exit 2 ;;
    esac
    if [ "$s" = build ] && [ $status -ne 0 ]; then
        say "build failed"; tail -n 40 "$LOG"; exit 1
    fi
done
[ -f "$OUT/report.md" ] && cat "$OUT/report.md"
# the device tool brings back at most 8 files: the reports stay as they are,
# everything else goes into one archive
(
    cd "$OUT" || exit
    rest=$(ls | grep -vxE 'report.md|gemm.md|results.tgz')
    # shellcheck disable=SC2086
    [ -z "$rest" ] || tar czf results.tgz --remove-files $rest
)
exit $status
