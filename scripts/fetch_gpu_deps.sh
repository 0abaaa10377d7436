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
# gnuplot (cli_hostile_plot, train --compare's PNG): its libraries, less the base system and the fonts, go to
# .deps/gnuplot; gpu_check.sh unpacks them apart and runs gnuplot through a wrapper that alone sees them
mkdir -p gnuplot
(cd gnuplot && apt-get download gnuplot-nox gnuplot-data libcairo2 libdatrie1 libedit2 libexpat1 libfontconfig1 \
    fontconfig-config libfreetype6 libfribidi0 libgd3 libglib2.0-0 libgraphite2-3 libharfbuzz0b libjbig0 \
    libjpeg62-turbo liblerc4 liblua5.4-0 libpango-1.0-0 libpangocairo-1.0-0 libpangoft2-1.0-0 libpixman-1-0 \
    libpng16-16 libreadline8 libthai-data libthai0 libtiff6 libwebp7 libx11-6 libxau6 libxcb-render0 libxcb-shm0 \
    libxcb1 libxdmcp6 libxext6 libxpm4 libxrender1 libdeflate0 libbrotli1 libbsd0 libmd0 libheif1 libde265-0 \
    libaom3 libdav1d6 libavif15 libgav1-1 librav1e0 libsvtav1enc1 libyuv0 libx265-199 libabsl20220623 libnuma1 \
    fonts-dejavu-core 2>&1 | grep -v "^W: Download is performed unsandboxed" || true)
ls -la ./*.deb
du -sh .
