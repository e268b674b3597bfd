#!/bin/sh
# Installs what fuzz/campaign needs on Debian 12 (root or sudo), only when something is missing:
# AFL++ (afl-clang-fast, afl-cmin, afl-tmin), clang with libFuzzer and the sanitizer runtimes, lld for
# afl-clang-lto, llvm-cov/llvm-profdata. The replay suite "fuzz" needs none of these (tools/deps.sh).
set -eu
pkgs="afl++ clang lld-14 libclang-rt-14-dev llvm"
missing=""
for p in $pkgs; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
if [ -n "$missing" ]; then
    echo "fuzz/deps: installing$missing"
    SUDO=""
    if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q $missing
fi
