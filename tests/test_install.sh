#!/bin/sh
# `meson install` works and the installed library is usable through pkg-config: installs the build
# into a temporary DESTDIR, then compiles, links and runs a small program against it that parses
# an MPA Request and computes a CRC32c.
#   tests/test_install.sh BUILD_DIR
set -eu
build=$1
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT
meson install -C "$build" --destdir "$dest" --quiet >/dev/null
pc=$(find "$dest" -name iwkit.pc | head -n 1)
[ -n "$pc" ] || { echo "FAIL: iwkit.pc not installed"; exit 1; }
export PKG_CONFIG_PATH
PKG_CONFIG_PATH=$(dirname "$pc")
export PKG_CONFIG_SYSROOT_DIR="$dest"
flags=$(pkg-config --cflags --libs iwkit)
libdir=$(pkg-config --variable=libdir iwkit)
cat >"$dest/consumer.c" <<'C'
#include <stdio.h>
#include <string.h>
#include "iwk_mpa.h"
#include "iwkit/crc32c.h"
int main(void)
{
    static const uint8_t req[] = { 'M','P','A',' ','I','D',' ','R','e','q',' ','F','r','a','m','e',
                                   0x40, 1, 0, 2, 'h', 'i' };
    struct iwk_mpa_request r;
    iwk_status st = iwk_mpa_request_parse(req, sizeof req, &r);
    uint32_t crc = iwk_crc32c((const uint8_t *)"123456789", 9u);
    if (st != IWK_OK || r.c != 1u || r.pd_length != 2u || r.private_data_len != 2u ||
        memcmp(r.private_data, "hi", 2u) != 0 || crc != 0xE3069283u) {
        printf("consumer: wrong result (%s, crc %08x)\n", iwk_status_name(st), crc);
        return 1;
    }
    printf("consumer: parsed an MPA Request and computed CRC32c with the installed iwkit\n");
    return 0;
}
C
# shellcheck disable=SC2086
cc -std=c11 -Wall -Wextra -Werror "$dest/consumer.c" -o "$dest/consumer" $flags -Wl,-rpath,"$libdir"
"$dest/consumer"
# shim/ (when built): <libdir>/iwkit/ and the iwkit-run wrapper; unmodified ibv_devinfo lists iwk0
shim=$(find "$dest" -path '*/iwkit/libibverbs.so.1' | head -n 1)
if [ -n "$shim" ] && command -v ibv_devinfo >/dev/null; then
    run=$(find "$dest" -path '*/bin/iwkit-run' | head -n 1)
    [ -n "$run" ] || { echo "FAIL: iwkit-run not installed"; exit 1; }
    IWKIT_SHIM_DIR=$(dirname "$shim") "$run" ibv_devinfo -l | grep -q iwk0 ||
        { echo "FAIL: ibv_devinfo over the installed shim does not list iwk0"; exit 1; }
    echo "installed shim: ibv_devinfo -l lists iwk0"
fi
echo "1 passed, 0 failed"
