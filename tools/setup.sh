#!/usr/bin/env bash
# Sets up a fresh Debian machine (as root) and builds fp8fuse in this tree.
#   bash tools/setup.sh demo [M]   build, then run the GLM-4.7 layer demo
#   bash tools/setup.sh test       build, then run every Check suite
#   bash tools/setup.sh deps       only install the Debian packages
#   bash tools/setup.sh deps-hip   the AMD compile-check toolchain (clang-22, ROCm 5.2 headers)
# Only missing packages are installed; nothing is installed system-wide
# besides Debian packages.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES="gcc make autoconf automake libtool pkg-config check libjson-c-dev libpcre2-dev"

install_missing() {
    local missing=()
    for p in "$@"; do
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "setup: installing ${missing[*]}"
    if [ "$(id -u)" -ne 0 ]; then
        echo "setup: need root to install Debian packages (run as root or with sudo)" >&2
        exit 1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

build() {
    if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt configure ]; then
        autoreconf -fi
    fi
    if [ ! -f Makefile ] || [ configure -nt config.status ]; then
        ./configure ${FP8F_CONFIGURE_FLAGS:-}
    fi
    make -j"$(nproc)"
}

# One plain line with the totals of every Check suite's summary in the logs.
check_summary() {
    cat tests/*.log 2>/dev/null | awk '
        /Checks: [0-9]+, Failures: [0-9]+, Errors: [0-9]+/ {
            for (i = 1; i <= NF; i++) {
                if ($i == "Checks:")   checks += $(i + 1)
                if ($i == "Failures:") failed += $(i + 1)
                if ($i == "Errors:")   failed += $(i + 1)
            }
        }
        END { printf "%d passed, %d failed\n", checks - failed, failed }'
}

cmd="${1:-test}"
install_missing $PACKAGES
case "$cmd" in
deps) ;;
deps-hip) install_missing clang-22 clang-tools-22 lld-22 libamdhip64-dev rocm-device-libs ;;
demo)
    build
    ./fp8fuse-info
    echo
    ./fp8fuse-demo "${2:-16}" --config tools/configs/glm47-fp8.json
    ;;
test)
    build
    status=0
    make -j"$(nproc)" check || status=$?
    [ $status -eq 0 ] || cat tests/*.log | grep -E "FAIL|Failure|Error" | head -50 || true
    check_summary
    exit $status
    ;;
summary) check_summary ;;
*)
    echo "usage: bash tools/setup.sh demo [M] | test | deps" >&2
    exit 2
    ;;
esac
