#!/usr/bin/env bash
# Fresh Debian/Ubuntu machine -> built fp8lab in ./build. Installs the Debian dependencies (as root, or through
# sudo), then configures and builds. The CUDA backend is built when nvcc is found (PATH or /usr/local/cuda).
# Extra arguments go to cmake, e.g. scripts/setup.sh -DFP8LAB_WERROR=ON
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
# fortunes: the built-in training corpus (plain English text in /usr/share/games/fortunes)
pkgs=(build-essential cmake pkg-config libcmocka-dev libopenblas-dev libcjson-dev gnuplot-nox libopenmpi-dev
      openmpi-bin fortunes)
# a mirror hiccup should not fail a fresh set-up: three tries
for try in 1 2 3; do
    if $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null; then
        break
    fi
    [ "$try" = 3 ] && { echo "scripts/setup.sh: apt-get failed three times (packages: ${pkgs[*]})" >&2; exit 1; }
    sleep 10
done

[ -d /usr/local/cuda/bin ] && export PATH=/usr/local/cuda/bin:$PATH
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "$@"
cmake --build build -j"$(nproc)"
echo "built: ./build/fp8lab ($(./build/fp8lab info | head -1))"
