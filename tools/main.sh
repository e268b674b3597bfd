#!/bin/sh
# The main job: install what is missing, regenerate the stack from spec/, build it, run a real
# transfer between two endpoints over loopback TCP (iwping --loopback: Sends, RDMA Writes with
# Immediate Data, RDMA Reads and atomics, every byte verified), decode its recorded traffic and
# the shared iWARP captures with iwdump, and say what happened.
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
    "$top"/spec/ddp_sctp.iws "$top"/spec/registries.iws "$top"/spec/mpa_setup.iws "$top"/spec/rdmap_stream.iws
meson compile -C "$build"
status=0
pcap="$build/iwping-loopback.pcap"
echo "== iwping --loopback: two endpoints over loopback TCP, MPA rev 2, CRC and Markers on, 64 KiB x 50"
"$build/iwping" --loopback --mpa 2 --crc on --markers on --size 65536 --count 50 --pcap "$pcap" || status=1
echo "== iwdump of that transfer ($pcap)"
"$build/iwdump" --summary "$pcap" 2>&1 >/dev/null | sed 's/^/    /' || status=1
echo "== decode every capture in $captures with iwdump"
for f in "$captures"/*/*.pcap; do
    out=$("$build/iwdump" --summary "$f" 2>&1 >/dev/null) || status=1
    printf '%s\n%s\n' "$(basename "$(dirname "$f")")/$(basename "$f")" "$out" | sed '2,$s/^/    /'
done
if [ "$status" = 0 ]; then
    echo "main: the loopback transfer was verified and every capture decoded completely"
else
    echo "main: FAILED (see above)"
fi
exit $status
