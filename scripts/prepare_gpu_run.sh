#!/usr/bin/env bash
# Here, before a run on a lent GPU machine (the `device` tool): assembles, in folders git
# ignores, everything scripts/gpu_run.sh needs there beside the tree, so that the lent minutes
# go to measuring. The device machine has the NVIDIA driver and Python 3.12 with numpy, but no
# Vulkan loader, no Taichi and no network.
#
#   scripts/prepare_gpu_run.sh [BASE_REV]
#   then: device run, command "scripts/gpu_run.sh", carry [".gl", ".gpu"], timeout_s 540
#
# .gl   Debian's Vulkan loader and GL dispatch packages (the driver's ICD needs libglvnd).
# .gpu  rheo (a stripped release build, xz), Taichi 1.7.4 for Python 3.12 without its C API
#       and examples (xz) and dill (its one dependency missing there), and the anchor scripts.
#       With BASE_REV, also rheo built at that revision (rheo_base), which gpu_run.sh runs
#       alternately with this one to measure a change on the hardware in the same session.
set -euo pipefail
cd "$(dirname "$0")/.."
base_rev=${1:-}
for dir in .gl .gpu; do
  grep -qx "/$dir/" .git/info/exclude 2>/dev/null || echo "/$dir/" >>.git/info/exclude
done
rm -rf .gpu && mkdir -p .gl .gpu

if ! ls .gl/libvulkan1_*.deb >/dev/null 2>&1; then
  lists=$(mktemp -d)
  mkdir -p "$lists/partial"
  apt_opts=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 "-oDir::State::Lists=$lists")
  apt-get "${apt_opts[@]}" update -q
  (cd .gl && apt-get "${apt_opts[@]}" download libvulkan1 libglvnd0 libegl1 libgl1 libglx0)
  rm -rf "$lists"
fi

# The base first: both builds share the target folder, and the last one leaves its rheo there.
target=${CARGO_TARGET_DIR:-$PWD/target}
if [ -n "$base_rev" ]; then
  tree=$(mktemp -d)
  git worktree add -q --detach "$tree" "$base_rev"
  (cd "$tree" && CARGO_TARGET_DIR=$target cargo build --release --locked -q)
  strip -o .gpu/rheo_base "$target/release/rheo"
  git worktree remove --force "$tree"
fi
cargo build --release --locked -q
strip -o .gpu/rheo "$target/release/rheo"
xz -T0 .gpu/rheo*

wheels=$(mktemp -d)
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_27_x86_64 -d "$wheels" taichi==1.7.4 dill==0.4.1
site=$(mktemp -d)
(cd "$site" && unzip -q "$wheels"/taichi-*.whl 'taichi/*' -x 'taichi/_lib/c_api/*' 'taichi/examples/*')
tar -C "$site" -cJf .gpu/taichi.tar.xz taichi
cp "$wheels"/dill-*.whl .gpu/
rm -rf "$wheels" "$site"

mkdir -p .gpu/anchors
cp ../shared/anchors/*.py .gpu/anchors/
du -sh .gl .gpu
