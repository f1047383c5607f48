#!/bin/sh
# The library's symbols stay in its namespace. The shared library exports
# exactly the public API (fp8f_ functions); the static archive, where
# hidden visibility does not apply, defines no global symbol outside the
# fp8f prefix, so that an application linking it statically cannot clash
# with it (an engine's own `cpu_threads` would). Run by `make check` from
# the build directory.
command -v nm >/dev/null 2>&1 || { echo "SKIP: no nm"; exit 77; }
fail=0
# check FILE "NM OPTIONS" PATTERN: every symbol nm lists matches PATTERN
check() {
    [ -f "$1" ] || { echo "no $1 (not built in this configuration): not checked"; return; }
    # names from __ on are the compiler's (an ASan build adds __odr_asan.*)
    # shellcheck disable=SC2086
    syms=$(nm $2 --defined-only "$1" | awk 'NF == 3 && $3 !~ /^__/ { print $3 }')
    bad=$(printf '%s\n' "$syms" | grep -v "$3")
    if [ -n "$bad" ]; then
        echo "FAIL: $1 has symbols outside $3:"
        printf '%s\n' "$bad"
        fail=1
    else
        echo "$1: $(printf '%s\n' "$syms" | grep -c .) symbols, all $3"
    fi
}
check .libs/libfp8fuse.so -D '^fp8f_[a-z]'
check .libs/libfp8fuse.a -g '^fp8f'
exit $fail
