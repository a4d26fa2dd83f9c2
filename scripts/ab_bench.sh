#!/usr/bin/env bash
# Two builds of `rheo` on the same benchmark scenes in interleaved rounds (A, B, A, B, ...; the
# first of each pair alternating), with each scene's medians and their ratio. A refactor that
# must not cost speed is checked this way: this machine's speed drifts by tens of percent from
# minute to minute, so only runs side by side compare.
#
#   scripts/ab_bench.sh BASE_BINARY NEW_BINARY [ROUNDS] [SCENE ...]
#
# Scenes default to walker_2d (seconds per forward+backward iteration) and mpm88 (particle-steps
# per second). Prints each round, then per scene: median A, median B, and B's speed over A's.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 BASE_BINARY NEW_BINARY [ROUNDS] [SCENE ...]" >&2; exit 2; }
A=$1 B=$2
ROUNDS=${3:-8}
shift $(($# < 3 ? $# : 3))
scenes=("$@")
[ ${#scenes[@]} -gt 0 ] || scenes=(walker_2d mpm88)
# One figure per run: seconds per iteration for the walker, particle-steps per second otherwise.
figure() {
  local json
  json=$("$1" bench --scene "$2" --json 2>/dev/null)
  if [ "$2" = walker_2d ]; then
    sed -n 's/.*"seconds_per_iteration": \([0-9.e+-]*\).*/\1/p' <<<"$json"
  else
    sed -n 's/.*"particle_steps_per_s": \([0-9.e+-]*\).*/\1/p' <<<"$json"
  fi
}
median() { sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }
declare -A runs
for round in $(seq "$ROUNDS"); do
  for scene in "${scenes[@]}"; do
    if [ $((round % 2)) = 1 ]; then order=(A B); else order=(B A); fi
    line="round $round $scene:"
    for which in "${order[@]}"; do
      binary=$A; [ "$which" = B ] && binary=$B
      f=$(figure "$binary" "$scene")
      runs[$scene$which]+="$f "
      line+=" $which $f"
    done
    echo "$line"
  done
done
for scene in "${scenes[@]}"; do
  ma=$(printf '%s\n' ${runs[${scene}A]} | median)
  mb=$(printf '%s\n' ${runs[${scene}B]} | median)
  if [ "$scene" = walker_2d ]; then
    echo "$scene: median A $ma s, B $mb s per iteration; B's speed / A's = $(awk -v a="$ma" -v b="$mb" 'BEGIN {printf "%.3f", a / b}')"
  else
    echo "$scene: median A $ma, B $mb particle-steps/s; B's speed / A's = $(awk -v a="$ma" -v b="$mb" 'BEGIN {printf "%.3f", b / a}')"
  fi
done
