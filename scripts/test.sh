#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what the tests need beyond the Rust
# toolchain, then runs every test of the workspace (unit, integration, examples, doc tests).
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests need beyond the toolchain. The GPU tests run on any Vulkan device:
# they need the Vulkan loader (libvulkan1) and a registered driver; without a driver, Mesa's
# drivers bring lavapipe, a software device (and the loader with them).
packages=()
if ! ls /usr/share/vulkan/icd.d/*.json /etc/vulkan/icd.d/*.json >/dev/null 2>&1; then
  packages+=(mesa-vulkan-drivers)
elif ! PATH="$PATH:/sbin:/usr/sbin" ldconfig -p | grep -q 'libvulkan\.so\.1'; then
  packages+=(libvulkan1)
fi
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  # As root (CI), or through sudo for a developer's account.
  as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
  as_root apt-get update -q && as_root apt-get install -y -q "${missing[@]}"
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --workspace --locked "$@" 2>&1 | tee "$log" || status=$?
# One closing line for the whole run (cargo prints one per test binary, the last often a
# doc-test binary with nothing in it).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed/) p += $(i-1); if ($i ~ /^failed/) f += $(i-1) } }
     END { printf "%d passed, %d failed\n", p, f }' "$log" | tr -d ';'
exit "$status"
