#!/bin/sh
# The library's symbols stay in its namespace. The shared library exports
# exactly the public API (fp8f_ functions); the static archive, where
# hidden visibility does not apply, defines no global symbol outside the
# fp8f prefix, so that an application linking it statically cannot clash
# with it (an engine's own `cpu_threads` would). Run by `make check` from
# the build directory.
so=.libs/libfp8fuse.so
ar=.libs/libfp8fuse.a
command -v nm >/dev/null 2>&1 || { echo "SKIP: no nm"; exit 77; }
fail=0
if [ -f "$so" ]; then
    bad=$(nm -D --defined-only "$so" | awk 'NF == 3 && $3 !~ /^fp8f_[a-z]/ { print $3 }')
    [ -z "$bad" ] || { echo "FAIL: $so exports symbols outside the API:"; echo "$bad"; fail=1; }
    n=$(nm -D --defined-only "$so" | awk 'NF == 3 && $3 ~ /^fp8f_/' | wc -l)
    echo "$so: $n exported symbols, all fp8f_"
else
    echo "no $so (static-only build): shared exports not checked"
fi
if [ -f "$ar" ]; then
    bad=$(nm -g --defined-only "$ar" | awk 'NF == 3 && $3 !~ /^fp8f/ { print $3 }')
    [ -z "$bad" ] || { echo "FAIL: $ar defines global symbols outside fp8f*:"; echo "$bad"; fail=1; }
    n=$(nm -g --defined-only "$ar" | awk 'NF == 3' | wc -l)
    echo "$ar: $n global symbols, all fp8f*"
else
    echo "no $ar (shared-only build): static symbols not checked"
fi
exit $fail
