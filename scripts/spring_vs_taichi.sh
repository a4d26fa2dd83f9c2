#!/usr/bin/env bash
# Issue 22's speed figures: the mass-spring gradient benchmarks (robot C, the 512 x 8 lattice)
# against the DiffTaichi-style Taichi script on the CPU, in interleaved rounds (this machine's
# speed drifts from minute to minute, so only runs side by side compare). Each round runs
# both systems on both scenes; each side reports its median seconds per iteration (forward +
# backward + update, 5 timed after a warm-up); the script prints each round and the medians'
# ratios.
#
#   PY=$(../shared/anchors/setup.sh) scripts/spring_vs_taichi.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
RHEO=${RHEO:-target/release/rheo}
PY=${PY:-python3}
ANCHORS=${ANCHORS:-../shared/anchors}
"$PY" -c 'import taichi' >/dev/null 2>&1 || { echo "error: $PY cannot import taichi (run $ANCHORS/setup.sh)" >&2; exit 1; }
median() { sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }
rheo_s() { "$RHEO" bench --scene "$1" --json | sed -n 's/.*"median_seconds_per_iteration": \([0-9.e-]*\).*/\1/p'; }
taichi_s() { "$PY" "$ANCHORS/mass_spring_taichi.py" "$@" 2>/dev/null | sed -n 's/.*sec_per_iter=\([0-9.]*\).*/\1/p'; }
declare -A times
for round in $(seq "$ROUNDS"); do
  line="round $round:"
  for scene in robot_c_2d lattice_512x8; do
    r=$(rheo_s "$scene")
    if [ "$scene" = robot_c_2d ]; then t=$(taichi_s --robot C); else t=$(taichi_s --lattice 512); fi
    times[rheo_$scene]+="$r " times[taichi_$scene]+="$t "
    line+=" $scene rheo $r taichi $t ($(awk -v a="$t" -v b="$r" 'BEGIN {printf "%.1f", a / b}')x)"
  done
  echo "$line"
done
for scene in robot_c_2d lattice_512x8; do
  mr=$(printf '%s\n' ${times[rheo_$scene]} | median)
  mt=$(printf '%s\n' ${times[taichi_$scene]} | median)
  echo "$scene: median rheo $mr s, taichi $mt s: taichi / rheo = $(awk -v a="$mt" -v b="$mr" 'BEGIN {printf "%.2f", a / b}')"
done
