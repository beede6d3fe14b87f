#!/bin/bash
# loop.sh FILE N PAR: runs test FILE N rounds, PAR copies at once, each with a 180 s limit; prints per-run result and time
f=$1; n=$2; par=$3
for r in $(seq 1 $n); do
  for p in $(seq 1 $par); do
    ( s=$(date +%s.%N); timeout -s KILL 180 nice -n 19 node --import tsx $f > ${TMPDIR:-/tmp}/cispeed-run-$r-$p.log 2>&1; rc=$?; e=$(date +%s.%N); echo "round $r copy $p rc=$rc $(echo "$e - $s" | bc | cut -c1-6)s $(grep -E 'Passed|Total' ${TMPDIR:-/tmp}/cispeed-run-$r-$p.log | tr -d '\n' | sed 's/\x1b\[[0-9;]*m//g')" ) &
  done
  wait
done
