#!/usr/bin/env bash
# Issue 3's speed figure: the walker's forward+backward against DiffTaichi-style Taichi on the
# CPU, in interleaved rounds (this machine's speed drifts by tens of percent from minute to
# minute, so only runs side by side compare). Prints each round and the medians' ratio.
#
#   PY=$(../shared/anchors/setup.sh) scripts/walker_vs_taichi.sh [ROUNDS]
#
# Extra binaries to compare in the same rounds (an A/B of two builds): OTHER="path ...".
# WARP=1 adds the Warp script to each round (one thread; about 25 s a round) and compares
# with the faster reference's median, as issue 3's target does.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-6}
RHEO=${RHEO:-target/release/rheo}
PY=${PY:-python3}
ANCHORS=${ANCHORS:-../shared/anchors}
read -r -a others <<<"${OTHER:-}"
"$PY" -c 'import taichi' >/dev/null 2>&1 || { echo "error: $PY cannot import taichi (run $ANCHORS/setup.sh)" >&2; exit 1; }
seconds() { "$1" bench --scene walker_2d --json 2>/dev/null | sed -n 's/.*"seconds_per_iteration": \([0-9.e-]*\).*/\1/p'; }
median() { sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }
WARP=${WARP:-0}
rheo=() taichi=() warp=()
declare -A other_times
for round in $(seq "$ROUNDS"); do
  r=$(seconds "$RHEO")
  line="round $round: rheo $r"
  for o in "${others[@]}"; do
    s=$(seconds "$o")
    other_times[$o]+="$s "
    line+=" $o $s"
  done
  t=$("$PY" "$ANCHORS/diffmpm_taichi.py" --ppd 2 2>/dev/null | sed -n 's/.*sec_per_iter=\([0-9.]*\).*/\1/p')
  line+=" taichi $t"
  faster=$t
  if [ "$WARP" = 1 ]; then
    w=$("$PY" "$ANCHORS/diffmpm_warp.py" --ppd 2 2>/dev/null | sed -n 's/.*sec_per_iter=\([0-9.]*\).*/\1/p')
    line+=" warp $w"
    warp+=("$w")
    faster=$(awk -v a="$t" -v b="$w" 'BEGIN {print (a < b) ? a : b}')
  fi
  echo "$line ratio $(awk -v a="$faster" -v b="$r" 'BEGIN {printf "%.2f", a / b}')"
  rheo+=("$r") taichi+=("$t")
done
mr=$(printf '%s\n' "${rheo[@]}" | median)
mt=$(printf '%s\n' "${taichi[@]}" | median)
for o in "${others[@]}"; do
  echo "median $o: $(printf '%s\n' ${other_times[$o]} | median) s"
done
echo "median rheo $mr s, taichi $mt s: taichi / rheo = $(awk -v a="$mt" -v b="$mr" 'BEGIN {printf "%.2f", a / b}')"
if [ "$WARP" = 1 ]; then
  mw=$(printf '%s\n' "${warp[@]}" | median)
  mf=$(awk -v a="$mt" -v b="$mw" 'BEGIN {print (a < b) ? a : b}')
  echo "median warp $mw s: the faster reference / rheo = $(awk -v a="$mf" -v b="$mr" 'BEGIN {printf "%.2f", a / b}')"
fi
