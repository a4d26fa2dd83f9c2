#!/usr/bin/env bash
# There, on a lent GPU machine, after scripts/prepare_gpu_run.sh here: unpacks the carried
# Vulkan loader, rheo and Taichi, names the card, measures rheo_base against rheo where both
# were carried (the 1M scene and elastic_3d, alternately, each kernel's time per step), then
# runs scripts/bench_gpu.sh (every GPU figure of BENCHMARKS.md, Taichi CUDA included).
# Everything printed also lands in $OUT/gpu_run.log.
set -uo pipefail
cd "$(dirname "$0")/.."
log=${OUT:-/tmp}/gpu_run.log
exec > >(tee "$log") 2>&1

for f in .gl/*.deb; do dpkg -x "$f" /; done
ldconfig
icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
[ -f "$icd" ] && export VK_DRIVER_FILES=$icd
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader

xz -d -k -f .gpu/rheo*.xz
chmod +x .gpu/rheo*
mkdir -p /tmp/site
tar -C /tmp/site -xJf .gpu/taichi.tar.xz
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .gpu/dill-*.whl
export PYTHONPATH=/tmp/site

if [ -x .gpu/rheo_base ]; then
  for round in 1 2; do
    for build in rheo_base rheo; do
      for scene in elastic_3d_1m elastic_3d; do
        echo "$build round $round: $(timeout 120 .gpu/$build bench --backend gpu --json --scene $scene --kernel-times)"
      done
    done
  done
fi

RHEO=.gpu/rheo PY=python3 ANCHORS=.gpu/anchors scripts/bench_gpu.sh
