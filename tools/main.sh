#!/bin/sh
# The main job: install what is missing, regenerate the stack from spec/, build it, and decode the
# shared iWARP captures with iwdump, saying what was found in each.
#   tools/main.sh [BUILD_DIR]        (default: build)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-"$top/build"}
captures=${IWK_CAPTURES:-"$top/../shared/captures"}
"$top/tools/deps.sh"
if [ ! -f "$build/build.ninja" ]; then
    meson setup "$build" "$top"
fi
echo "== regenerate from spec/ and build"
python3 "$top/gen/iwkgen.py" --check "$top"/spec/mpa.iws "$top"/spec/ddp.iws "$top"/spec/rdmap.iws \
    "$top"/spec/ddp_sctp.iws "$top"/spec/registries.iws
meson compile -C "$build"
echo "== decode every capture in $captures with iwdump"
status=0
for f in "$captures"/*/*.pcap; do
    out=$("$build/iwdump" --summary "$f" 2>&1 >/dev/null) || status=1
    printf '%s\n%s\n' "$(basename "$(dirname "$f")")/$(basename "$f")" "$out" | sed '2,$s/^/    /'
done
if [ "$status" = 0 ]; then
    echo "main: every capture decoded completely"
else
    echo "main: iwdump reported errors (see above)"
fi
exit $status
