#!/bin/bash
# ab3.sh FILE...: each file twice at once, both nice'd: after (prebuilt, slots without loader) and before (AETHER_PREBUILT=0 AETHER_SLOT_LOADER=tsx, as main runs)
for f in "$@"; do
  for mode in after before; do
    ( [ $mode = before ] && export AETHER_PREBUILT=0 AETHER_SLOT_LOADER=tsx; s=$(date +%s.%N); timeout -s KILL 300 nice -n 19 node --import tsx $f > ${TMPDIR:-/tmp}/cispeed-ab3-$mode-$(basename $f).log 2>&1; rc=$?; e=$(date +%s.%N); echo "$f $mode rc=$rc $(echo "$e - $s" | bc | cut -c1-6)s $(sed 's/\x1b\[[0-9;]*m//g' ${TMPDIR:-/tmp}/cispeed-ab3-$mode-$(basename $f).log | grep -E 'Total|Passed' | tr -s ' ' | tr -d '\n')" ) &
  done
  wait
done
