#!/usr/bin/env bash
# The fuzz test of tests/fuzz.rs with more mutations per shipped scene and task file (the suite
# runs 200 each): for before a release.
#
#   scripts/fuzz.sh [MUTATIONS_PER_FILE]     (default 5000)
set -euo pipefail
cd "$(dirname "$0")/.."
RHEO_FUZZ_MUTATIONS=${1:-5000} cargo test --release --locked --test fuzz -- --nocapture
