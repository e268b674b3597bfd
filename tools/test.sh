#!/bin/sh
# The whole test suite: install what is missing, build, and run every suite (unit, gen, iwdump,
# proofs); then build again with AddressSanitizer + UBSan and run every suite but the proofs there;
# then with ThreadSanitizer (BUILD_DIR-tsan) and run suites unit and runtime there (any race reported
# fails its test: exit 66). Ends with "N passed, N failed".
#   tools/test.sh [BUILD_DIR] [meson test options...]     (default: build)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-"$top/build"}
[ $# -gt 0 ] && shift
"$top/tools/deps.sh"
rc=0
if [ ! -f "$build/build.ninja" ]; then
    meson setup "$build" "$top"
fi
meson compile -C "$build"
meson test -C "$build" --print-errorlogs "$@" || rc=1
asan="$build-asan"
if [ ! -f "$asan/build.ninja" ]; then
    meson setup "$asan" "$top" -Db_sanitize=address,undefined -Dproofs=disabled
fi
meson compile -C "$asan"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    meson test -C "$asan" --print-errorlogs --no-suite proofs "$@" || rc=1
tsan="$build-tsan"
if [ ! -f "$tsan/build.ninja" ]; then
    meson setup "$tsan" "$top" -Db_sanitize=thread -Dproofs=disabled
fi
meson compile -C "$tsan"
TSAN_OPTIONS=second_deadlock_stack=1 \
    meson test -C "$tsan" --print-errorlogs --suite unit --suite runtime "$@" || rc=1
python3 - "$build/meson-logs/testlog.json" "$asan/meson-logs/testlog.json" "$tsan/meson-logs/testlog.json" <<'PY'
import json, os, sys
ok = bad = skip = 0
for path in sys.argv[1:]:
    if not os.path.exists(path):
        bad += 1
        continue
    for line in open(path):
        r = json.loads(line).get("result")
        if r in ("OK", "EXPECTEDFAIL"):
            ok += 1
        elif r == "SKIP":
            skip += 1
        else:
            bad += 1
print(f"{ok} passed, {bad} failed, {skip} skipped")
PY
exit $rc
