#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what the tests need beyond the Rust
# toolchain, then runs every test of the workspace (unit, integration, examples, doc tests).
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests need (none yet beyond the toolchain; the GPU backend will add
# mesa-vulkan-drivers here).
packages=()
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -q && apt-get install -y -q "${missing[@]}"
fi

cargo test --workspace --locked "$@"
