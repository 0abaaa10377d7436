#!/usr/bin/env bash
# Checks our FP8 E4M3/E5M2 and BF16 encoders against CUDA's host conversions on all 2^32 float32 inputs.
# Needs the CUDA toolkit headers (not a GPU). Usage: scripts/codec_exhaustive.sh [build-dir]
# (default build-exhaustive; an existing build dir is reused). Exit status: 0 no mismatches, 1 mismatches,
# 77 no CUDA headers, 2 build failure.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build-exhaustive}
if [ ! -f "$build/CMakeCache.txt" ]; then
  # Release, no sanitizers: the loop is 3 * 2^32 conversions on each side.
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DFP8LAB_CUDA=OFF >/dev/null || exit 2
fi
cmake --build "$build" --target codec_exhaustive -j "$(nproc)" >/dev/null || exit 2
exec "$build/tests/codec_exhaustive"
