#!/usr/bin/env bash
# Run on the dev machine (Debian 12, internet to Debian's mirrors) before a GPU check: downloads the Debian
# packages a bare GPU node may lack (cmocka, cJSON, OpenBLAS and its Fortran runtime, and the `fortunes`
# text that the built-in training corpus is made from) into .deps/ (git-ignored).
# Name .deps in the device tool's `carry`; scripts/gpu_check.sh unpacks them there with dpkg -x.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .deps
cd .deps
apt-get download libcmocka0 libcmocka-dev libcjson1 libcjson-dev libopenblas0-pthread libopenblas-pthread-dev \
    libgfortran5 libquadmath0 fortunes fortunes-min 2>&1 | grep -v "^W: Download is performed unsandboxed" || true
ls -la ./*.deb
du -sh .
