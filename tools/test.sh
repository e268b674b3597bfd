#!/bin/sh
# The whole test suite: install what is missing, build, and run every suite (unit, gen, iwdump,
# proofs). Ends with "N passed, N failed".
#   tools/test.sh [BUILD_DIR] [meson test options...]     (default: build)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-"$top/build"}
[ $# -gt 0 ] && shift
"$top/tools/deps.sh"
if [ ! -f "$build/build.ninja" ]; then
    meson setup "$build" "$top"
fi
meson compile -C "$build"
rc=0
meson test -C "$build" --print-errorlogs "$@" || rc=$?
log="$build/meson-logs/testlog.json"
if [ -f "$log" ]; then
    python3 - "$log" <<'PY'
import json, sys
ok = bad = skip = 0
for line in open(sys.argv[1]):
    r = json.loads(line).get("result")
    if r in ("OK", "EXPECTEDFAIL"):
        ok += 1
    elif r == "SKIP":
        skip += 1
    else:
        bad += 1
print(f"{ok} passed, {bad} failed, {skip} skipped")
PY
fi
exit $rc
