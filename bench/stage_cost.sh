#!/bin/sh
# bench/stage_cost.sh BEFORE_IWPERF AFTER_IWPERF [REPS] - the cost of verifying an FPDU before placing it
# (issue 16): the same iwperf bandwidth runs (loopback, CRC on, 1 QP, depth 64) with two builds, their
# runs interleaved (before, after, before, after, ...) so that both see the same machine; prints each
# run's Gbit/s and the median per build and case.
set -eu
before=$1; after=$2; reps=${3:-3}
for op in write send; do
  for size in 64k 1M; do
    b=""; a=""
    i=0
    while [ "$i" -lt "$reps" ]; do
      for which in before after; do
        bin=$before; [ "$which" = after ] && bin=$after
        g=$("$bin" --loopback --op "$op" --size "$size" --crc on --duration 2 --test bw | awk '$1 ~ /^[0-9]+$/ {print $2}')
        if [ "$which" = before ]; then b="$b $g"; else a="$a $g"; fi
      done
      i=$((i + 1))
    done
    med() { printf '%s\n' $1 | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
    echo "$op $size CRC on: before$b (median $(med "$b")) after$a (median $(med "$a")) Gbit/s"
  done
done
