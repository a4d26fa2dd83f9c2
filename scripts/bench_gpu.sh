#!/usr/bin/env bash
# The GPU figures of BENCHMARKS.md in one run, for a machine with a GPU: every benchmark scene
# with the default scatter, the float-atomic, the 44-bit and the block-local one, each kernel's
# time per step, the walker's forward+backward, the mass-spring lattice and a batch of robot
# Cs (GPU and CPU), and, where Taichi is importable by $PY (default python3),
# the Taichi CUDA anchors on the same scenes. JSON lines go to stdout.
#
#   RHEO=target/release/rheo ANCHORS=../shared/anchors scripts/bench_gpu.sh
#
# A machine with the NVIDIA driver but no Vulkan loader needs Debian's libvulkan1 and
# libglvnd0 (without libglvnd the driver's ICD fails with "Could not get 'vkCreateInstance'")
# and VK_DRIVER_FILES pointing at the driver's nvidia_icd.json.
set -uo pipefail
cd "$(dirname "$0")/.."
RHEO=${RHEO:-target/release/rheo}
PY=${PY:-python3}
ANCHORS=${ANCHORS:-../shared/anchors}
bench() { timeout 300 "$RHEO" bench --backend gpu --json "$@" || echo "{\"failed\": \"rheo bench $*\"}"; }

bench
bench --scene elastic_3d_1m --float-atomics
bench --scene elastic_3d_1m --differentiable
for scene in elastic_3d elastic_3d_1m; do bench --scene "$scene" --block-scatter --kernel-times; done
for scene in mpm88 elastic_3d elastic_3d_1m; do bench --scene "$scene" --kernel-times; done
bench --scene walker_2d --device-budget-mib 8
# Mass-spring gradients (issue 22): the lattice and a batch of 1024 robot Cs on the GPU, and
# the same on this machine's CPU for the ratio.
bench --scene lattice_512x8 --iterations 3
bench --scene robot_c_2d --robots 1024 --iterations 3
for args in "--scene lattice_512x8" "--scene robot_c_2d --robots 1024"; do
  timeout 300 "$RHEO" bench --json --iterations 3 $args || echo "{\"failed\": \"rheo bench $args (CPU)\"}"
done

# Taichi on the GPU, the anchors' scenes and windows (the 1M scene needs its particle count).
if "$PY" -c 'import taichi' 2>/dev/null && [ -d "$ANCHORS" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  cp "$ANCHORS"/*.py "$tmp"/
  sed -i 's/arch=ti.cpu,/arch=ti.cuda,/' "$tmp/common.py"
  sed -i 's|^n_particles = n_grid\*\*dim // 2 \*\* (dim - 1)|n_particles = 1048576 if n_grid == 128 else n_grid**dim // 2 ** (dim - 1)|' "$tmp/mpm3d_taichi.py"
  (cd "$tmp" && timeout 120 "$PY" mpm88_taichi.py; timeout 120 "$PY" mpm3d_taichi.py --model fcr;
   timeout 120 "$PY" mpm3d_taichi.py --model fcr --n-grid 128; timeout 300 "$PY" diffmpm_taichi.py --ppd 2) 2>&1 | grep RESULT
fi
