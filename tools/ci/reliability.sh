#!/usr/bin/env bash
# shellcheck disable=SC2317  # the stages are called as "stage_$s"
# Reliability checks of fp8fuse (issue 7), one script for CI:
#
#   asan      ./configure --enable-sanitizers (ASan + UBSan, no recovery),
#             the whole Check suite                             (gcc)
#   valgrind  a plain build, every suite under
#             valgrind --error-exitcode=1 --leak-check=full,
#             CK_FORK=no, FP8F_TEST_SMALL=1                     (gcc)
#   tsan      ./configure --enable-sanitizers=thread, tests/test_threads
#             (clang; with LLVM's libomp, whose barriers TSan understands;
#             --disable-openmp where libomp cannot be had)
#   fuzz      ./configure --enable-fuzzers --disable-openmp, each libFuzzer
#             harness of tests/fuzz for a bounded time          (clang)
#
# Every build is out of tree (VPATH), in a work directory, from a snapshot
# of this checkout's sources (git ls-files: tracked + untracked, not
# ignored): automake refuses a VPATH build from a source directory that is
# itself configured, which it is after `tools/setup.sh test`.
#
# Usage: tools/ci/reliability.sh [stage...]     (default: all four)
# Environment:
#   FP8F_FUZZ_SECONDS        total fuzzing time (default 60)
#   FP8F_RELIABILITY_DIR     work directory (default: a new one under $TMPDIR;
#                            removed after a clean run, kept after a failure)
#   FP8F_RELIABILITY_NO_INSTALL=1   never apt-get; a missing tool fails its stage
#   FP8F_RELIABILITY_CONFIGURE_FLAGS  added to every ./configure (e.g. --disable-werror)
# Installs clang, its compiler-rt and valgrind with apt-get when missing (as
# root). Ends with a summary; the exit status is 0 only when every stage passed.
set -uo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
stages=("$@")
[ ${#stages[@]} -gt 0 ] || stages=(asan valgrind tsan fuzz)
jobs=$(nproc 2>/dev/null || echo 2)
fuzz_total=${FP8F_FUZZ_SECONDS:-60}
t_start=$SECONDS

if [ -n "${FP8F_RELIABILITY_DIR:-}" ]; then
    work=$FP8F_RELIABILITY_DIR
    mkdir -p "$work"
    keep_work=1
else
    work=$(mktemp -d "${TMPDIR:-/tmp}/fp8fuse-reliability.XXXXXX")
    keep_work=0
fi
work=$(cd "$work" && pwd)

declare -a summary=()
failed=0
fuzz_execs=0

log() { printf '== reliability: %s\n' "$*"; }

# ---- tools ------------------------------------------------------------------

apt_install() {
    [ "${FP8F_RELIABILITY_NO_INSTALL:-0}" = 1 ] && return 1
    [ "$(id -u)" -eq 0 ] || return 1
    command -v apt-get >/dev/null 2>&1 || return 1
    log "installing $*"
    if [ -z "${apt_updated:-}" ]; then
        apt-get update -qq >/dev/null || return 1
        apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# clang that links -fsanitize=fuzzer and -fsanitize=thread programs.
clang_ok() {
    command -v clang >/dev/null 2>&1 || return 1
    local d
    d=$(mktemp -d)
    printf '#include <stdint.h>\n#include <stddef.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; return (int)n * 0; }\n' \
        >"$d/f.c"
    printf 'int main(void) { return 0; }\n' >"$d/t.c"
    clang -fsanitize=fuzzer,address,undefined "$d/f.c" -o "$d/f" >/dev/null 2>&1 &&
        clang -fsanitize=thread "$d/t.c" -o "$d/t" >/dev/null 2>&1
    local rc=$?
    rm -rf "$d"
    return "$rc"
}

need_clang() {
    clang_ok && return 0
    command -v clang >/dev/null 2>&1 || apt_install clang
    local v
    v=$(clang --version 2>/dev/null | sed -n 's/.*clang version \([0-9][0-9]*\).*/\1/p' | head -1)
    clang_ok || { [ -n "$v" ] && apt_install "libclang-rt-$v-dev"; }
    clang_ok
}

# clang's OpenMP runtime (libomp) links: TSan knows its synchronization.
clang_openmp_ok() {
    local d rc
    d=$(mktemp -d)
    printf 'int main(void) {\n#pragma omp parallel\n{ }\nreturn 0; }\n' >"$d/o.c"
    clang -fopenmp -fsanitize=thread "$d/o.c" -o "$d/o" >/dev/null 2>&1
    rc=$?
    rm -rf "$d"
    return "$rc"
}

need_valgrind() {
    command -v valgrind >/dev/null 2>&1 || apt_install valgrind
    command -v valgrind >/dev/null 2>&1
}

# ---- sources -------------------------------------------------------------------

src=$work/src
snapshot() {
    if git -C "$top" rev-parse --git-dir >/dev/null 2>&1; then
        log "source snapshot in $src"
        mkdir -p "$src"
        (cd "$top" && git ls-files -z --cached --others --exclude-standard |
            tar --null -T - --ignore-failed-read -cf - 2>/dev/null) | tar -xf - -C "$src" || return 1
    elif [ -x "$top/configure" ] && [ ! -f "$top/config.status" ]; then
        src=$top # an unconfigured release tree: build from it directly
        return 0
    else
        echo "reliability: neither a git checkout nor an unconfigured release tree" >&2
        return 1
    fi
    if [ ! -x "$src/configure" ] || [ "$src/configure.ac" -nt "$src/configure" ] ||
        [ "$src/Makefile.am" -nt "$src/Makefile.in" ]; then
        (cd "$src" && autoreconf -fi >"$work/autoreconf.log" 2>&1) ||
            { cat "$work/autoreconf.log"; return 1; }
    fi
}

# configure + make in $work/<name> (a VPATH build): configure_in NAME ARGS...
configure_in() {
    local name=$1
    shift
    local dir=$work/$name
    rm -rf "$dir"
    mkdir -p "$dir"
    # shellcheck disable=SC2086  # the extra flags are words
    (cd "$dir" && "$src/configure" "$@" ${FP8F_RELIABILITY_CONFIGURE_FLAGS:-} >configure.log 2>&1) ||
        { tail -30 "$dir/configure.log"; return 1; }
}

show_test_logs() {
    local dir=$1
    for f in "$dir"/tests/*.log; do
        [ -f "$f" ] || continue
        case "$f" in */test-suite.log) continue ;; esac
        if grep -qE '^(FAIL|ERROR)|Failures: [1-9]|Errors: [1-9]|ERROR SUMMARY: [1-9]|ERROR: [A-Za-z]+Sanitizer|runtime error' "$f" 2>/dev/null ||
            ! grep -q 'Checks:' "$f"; then
            echo "---- $f (last 60 lines)"
            tail -60 "$f"
        fi
    done
}

record() { # record STAGE STATUS SECONDS DETAIL
    summary+=("$(printf '%-9s %-6s %5ss  %s' "$1" "$2" "$3" "$4")")
    [ "$2" = PASS ] || failed=1
}

checks_line() { # totals of the Check summaries in a build's test logs
    cat "$1"/tests/*.log 2>/dev/null | awk '
        /Checks: [0-9]+, Failures: [0-9]+, Errors: [0-9]+/ {
            for (i = 1; i <= NF; i++) {
                if ($i == "Checks:") c += $(i + 1)
                if ($i == "Failures:") f += $(i + 1)
                if ($i == "Errors:") f += $(i + 1)
            }
        }
        END { printf "%d checks, %d failed", c, f }'
}

# ---- stages ----------------------------------------------------------------------

stage_asan() {
    local t0=$SECONDS dir=$work/asan
    log "ASan + UBSan build and make check (gcc)"
    if ! configure_in asan --enable-sanitizers || ! make -C "$dir" -j"$jobs" >"$work/asan-make.log" 2>&1; then
        tail -40 "$work/asan-make.log" 2>/dev/null
        record asan FAIL $((SECONDS - t0)) "build failed"
        return
    fi
    # UBSan is fatal (-fno-sanitize-recover); leaks are checked at the end of
    # every forked Check test. allocator_may_return_null: the suites ask for
    # sizes that cannot exist and expect FP8F_E_NOMEM, which is what the
    # library reports when malloc says no (ASan's default is to abort).
    if ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:allocator_may_return_null=1:strict_string_checks=1:detect_stack_use_after_return=1 \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 CK_TIMEOUT_MULTIPLIER=4 \
        make -C "$dir" -j"$jobs" check >"$work/asan-check.log" 2>&1; then
        record asan PASS $((SECONDS - t0)) "$(checks_line "$dir")"
    else
        grep -E '^(PASS|FAIL|ERROR|SKIP|XFAIL|XPASS):' "$work/asan-check.log"
        show_test_logs "$dir"
        record asan FAIL $((SECONDS - t0)) "$(checks_line "$dir")"
    fi
}

stage_valgrind() {
    local t0=$SECONDS dir=$work/valgrind
    log "valgrind: plain build, every suite under memcheck (CK_FORK=no, FP8F_TEST_SMALL=1)"
    if ! need_valgrind; then
        record valgrind FAIL 0 "valgrind missing (apt-get install valgrind)"
        return
    fi
    if ! configure_in valgrind || ! make -C "$dir" -j"$jobs" >"$work/valgrind-make.log" 2>&1; then
        tail -40 "$work/valgrind-make.log" 2>/dev/null
        record valgrind FAIL $((SECONDS - t0)) "build failed"
        return
    fi
    local vg="$dir/libtool --mode=execute valgrind --quiet --error-exitcode=1 --leak-check=full"
    vg="$vg --show-leak-kinds=definite,possible --errors-for-leak-kinds=definite,possible"
    vg="$vg --track-origins=yes --suppressions=$src/tools/ci/valgrind.supp"
    # One suite per core is as fast as it gets: memcheck serializes threads.
    if CK_FORK=no FP8F_TEST_SMALL=1 OMP_NUM_THREADS=2 \
        make -C "$dir" -j"$jobs" check LOG_COMPILER="$vg" >"$work/valgrind-check.log" 2>&1; then
        record valgrind PASS $((SECONDS - t0)) "$(checks_line "$dir"), 0 memcheck errors"
    else
        grep -E '^(PASS|FAIL|ERROR|SKIP|XFAIL|XPASS):' "$work/valgrind-check.log"
        show_test_logs "$dir"
        record valgrind FAIL $((SECONDS - t0)) "$(checks_line "$dir")"
    fi
}

stage_tsan() {
    local t0=$SECONDS dir=$work/tsan omp=--enable-openmp what="with libomp"
    if ! need_clang; then
        record tsan FAIL 0 "clang with compiler-rt missing (apt-get install clang libclang-rt-N-dev)"
        return
    fi
    # libgomp (gcc's OpenMP) is not instrumented and its barriers look like
    # races; LLVM's libomp tells TSan about its synchronization. Without
    # libomp the threads under test are the caller's only.
    if ! clang_openmp_ok && ! { apt_install libomp-dev && clang_openmp_ok; }; then
        omp=--disable-openmp
        what="--disable-openmp (no libomp)"
    fi
    log "ThreadSanitizer build (clang, $what) and tests/test_threads"
    if ! configure_in tsan CC=clang --enable-sanitizers=thread "$omp" ||
        ! make -C "$dir" -j"$jobs" libfp8fuse-core.la tests/test_threads >"$work/tsan-make.log" 2>&1; then
        tail -40 "$work/tsan-make.log" 2>/dev/null
        record tsan FAIL $((SECONDS - t0)) "build failed"
        return
    fi
    if (cd "$dir" && CK_FORK=no \
        TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:ignore_noninstrumented_modules=1 \
        ./tests/test_threads) >"$work/tsan-run.log" 2>&1; then
        record tsan PASS $((SECONDS - t0)) "test_threads ($what): $(grep -o 'Checks: [0-9]*, Failures: [0-9]*, Errors: [0-9]*' "$work/tsan-run.log"), no race"
    else
        tail -80 "$work/tsan-run.log"
        record tsan FAIL $((SECONDS - t0)) "see the report above"
    fi
}

# run_fuzzer NAME SECONDS [EXTRA ARGS]: runs tests/fuzz/NAME on a fresh
# working corpus seeded from tests/fuzz/corpus/<corpus>.
run_fuzzer() {
    local name=$1 secs=$2 corpus=$3
    shift 3
    local dir=$work/fuzz bin=$work/fuzz/tests/fuzz/$name
    mkdir -p "$dir/corpus-$name" "$dir/artifacts"
    ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        "$bin" -max_total_time="$secs" -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$dir/artifacts/$name-" "$@" \
        "$dir/corpus-$name" "$src/tests/fuzz/corpus/$corpus" >"$dir/$name.log" 2>&1
    local rc=$?
    local n
    n=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/$name.log" | tail -1)
    n=${n:-0}
    fuzz_execs=$((fuzz_execs + n))
    fuzz_detail="$fuzz_detail $name=$n"
    if [ "$rc" -ne 0 ]; then
        echo "---- $name failed (exit $rc); reproduce with: $bin $dir/artifacts/$name-*"
        grep -A12 -E 'CONTRACT VIOLATION|ERROR: |runtime error|SUMMARY' "$dir/$name.log" | head -60
        return 1
    fi
}

stage_fuzz() {
    local t0=$SECONDS dir=$work/fuzz
    log "libFuzzer harnesses (clang, ASan + UBSan), ${fuzz_total}s in total"
    if ! need_clang; then
        record fuzz FAIL 0 "clang with libFuzzer missing (apt-get install clang libclang-rt-N-dev)"
        return
    fi
    if ! configure_in fuzz CC=clang --enable-fuzzers --disable-openmp ||
        ! make -C "$dir" -j"$jobs" libfp8fuse-core.la tests/fuzz/fuzz_api tests/fuzz/fuzz_detect \
            tests/fuzz/fuzz_format_parse >"$work/fuzz-make.log" 2>&1; then
        tail -40 "$work/fuzz-make.log" 2>/dev/null
        record fuzz FAIL $((SECONDS - t0)) "build failed"
        return
    fi
    fuzz_detail=""
    local ok=1 t_api=$((fuzz_total * 6 / 10)) t_det=$((fuzz_total * 3 / 10))
    local t_parse=$((fuzz_total - t_api - t_det))
    run_fuzzer fuzz_api "$t_api" api || ok=0
    run_fuzzer fuzz_detect "$t_det" detect -dict="$src/tests/fuzz/detect.dict" || ok=0
    run_fuzzer fuzz_format_parse "$t_parse" format_parse || ok=0
    record fuzz "$([ "$ok" = 1 ] && echo PASS || echo FAIL)" $((SECONDS - t0)) \
        "$fuzz_execs executions:$fuzz_detail"
}

# ---- main ----------------------------------------------------------------------

log "work directory $work, stages: ${stages[*]}, $jobs jobs"
if ! snapshot; then
    echo "reliability: cannot prepare the sources" >&2
    exit 1
fi
for s in "${stages[@]}"; do
    case $s in
    asan | valgrind | tsan | fuzz) "stage_$s" ;;
    *)
        echo "reliability: unknown stage '$s' (asan, valgrind, tsan, fuzz)" >&2
        exit 2
        ;;
    esac
done

echo
echo "==== reliability summary ($((SECONDS - t_start)) s in total)"
printf '%s\n' "${summary[@]}"
if [ $failed -eq 0 ]; then
    echo "reliability: all stages passed"
    [ $keep_work = 1 ] || rm -rf "$work"
else
    echo "reliability: FAILED (logs in $work)"
fi
exit $failed
