#!/bin/sh
# Proves C files with Frama-C WP (-wp-rte, cvc4) and fails on any goal left unproved.
#   proofs/wp.sh NAME EXPECTED_GOALS_FILE FILE.c [FILE.c ...]
# cvc4 is bounded by steps (-wp-steps: deterministic, the same verdict on a busy or a quiet
# machine); the wall-clock -wp-timeout is only a generous safety net.
# Prints "NAME: proved P / T goals" and checks P == T. When EXPECTED_GOALS_FILE names a committed
# count (proofs/goals/NAME.txt), the total must also match it, so a change in the number of goals
# shows up in review (regenerate with IWK_UPDATE_GOALS=1).
# Environment: IWK_INCLUDES (extra -I flags), WHY3CONFIG, IWK_WP_CACHE (cache directory),
# IWK_WP_ONLY (a C file among the arguments: prove only the functions defined in it; the other
# files give the contracts of the functions it calls).
set -u
name=$1; expected=$2; shift 2
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cache=""
if [ -n "${IWK_WP_CACHE:-}" ]; then
    mkdir -p "$IWK_WP_CACHE"
    cache="-wp-cache update -wp-cache-dir $IWK_WP_CACHE"
fi
only=""
report="-then -report-classify -report-unclassified-unknown ERROR"
if [ -n "${IWK_WP_ONLY:-}" ]; then
    fns=$(sed -n 's/^[a-z][a-z0-9_ ]*[ *]\([a-z_][a-z0-9_]*\)(.*/\1/p' "$IWK_WP_ONLY" | sort -u | paste -sd, -)
    only="-wp-fct $fns"
    # the other files' own call sites are proved by their own runs: the verdict is WP's count
    report=""
fi
# shellcheck disable=SC2086
frama-c -cpp-extra-args="${IWK_INCLUDES:-}" -wp -wp-rte -wp-prover cvc4 -wp-par 2 \
    -wp-timeout 600 -wp-steps 1000000 $cache -wp-warn-key hypothesis=inactive $only "$@" \
    $report >"$log" 2>&1
rc=$?
line=$(grep 'Proved goals:' "$log" | tail -n 1)
proved=$(echo "$line" | sed -n 's/.*Proved goals: *\([0-9]*\) *\/ *\([0-9]*\).*/\1/p')
total=$(echo "$line" | sed -n 's/.*Proved goals: *\([0-9]*\) *\/ *\([0-9]*\).*/\2/p')
if [ -z "$proved" ]; then
    cat "$log"
    echo "$name: frama-c did not report a goal count (exit $rc)"
    exit 1
fi
echo "$name: proved $proved / $total goals"
grep -E 'Timeout|Unknown|Failed|Stepout' "$log" | head -n 40
status=0
if [ "$rc" -ne 0 ] || [ "$proved" != "$total" ]; then
    echo "$name: NOT all goals proved"
    status=1
fi
if [ "${IWK_UPDATE_GOALS:-0}" = 1 ]; then
    echo "$total" >"$expected"
elif [ -f "$expected" ]; then
    want=$(cat "$expected")
    if [ "$want" != "$total" ]; then
        echo "$name: $total goals, but $expected says $want (regenerate with IWK_UPDATE_GOALS=1 and review)"
        status=1
    fi
fi
exit $status
