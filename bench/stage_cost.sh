#!/bin/sh
# bench/stage_cost.sh BEFORE_IWPERF AFTER_IWPERF [REPS] - the cost of verifying an FPDU before placing it
# (issue 16): the same iwperf bandwidth runs (loopback, CRC on, 1 QP, depth 64, 1 GiB per run) with two
# builds, their runs interleaved (before, after, before, after, ...) so that both see the same machine.
# Prints per run the goodput and the process's user and system CPU seconds (/usr/bin/time), which on a
# shared machine vary less than the goodput: the staging copy shows as user time.
set -eu
before=$1; after=$2; reps=${3:-3}
for op in write send; do
  for size in 64k 1M; do
    iters=16384; [ "$size" = 1M ] && iters=1024
    i=0
    while [ "$i" -lt "$reps" ]; do
      for which in before after; do
        bin=$before; [ "$which" = after ] && bin=$after
        /usr/bin/time -f "%U %S" -o /tmp/stage_cost.$$ "$bin" --loopback --op "$op" --size "$size" --crc on \
          --iters "$iters" --test bw > /tmp/stage_cost_out.$$
        g=$(awk '$1 ~ /^[0-9]+$/ {print $2}' /tmp/stage_cost_out.$$)
        echo "$op $size $which: $g Gbit/s, user+sys CPU $(cat /tmp/stage_cost.$$ | tr ' ' '+') s"
      done
      i=$((i + 1))
    done
  done
done
rm -f /tmp/stage_cost.$$ /tmp/stage_cost_out.$$
