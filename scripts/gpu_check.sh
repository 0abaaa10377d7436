#!/usr/bin/env bash
# On a lent GPU node: build with the CUDA backend (sm_90a), run every test (CUDA ones must run, not skip),
# compute-sanitizer over the CUDA op test, then the GEMM and quantize benchmarks. Full logs go to $OUT
# (default ./out/gpu); a short table is printed last.
# The node has no internet and may lack cmocka, cJSON, OpenBLAS and pkg-config: on the dev machine run
#   bash scripts/fetch_gpu_deps.sh
# and name .deps in the device tool's `carry`. Carried packages are unpacked under .deps/root (never into /)
# and found through CMAKE_PREFIX_PATH (CMake falls back to a header/library search without pkg-config).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/out/gpu}
mkdir -p "$OUT"
export PATH=/usr/local/cuda/bin:$PATH

cmake_extra=()
if ls .deps/*.deb >/dev/null 2>&1; then
    root=$PWD/.deps/root
    for deb in .deps/*.deb; do dpkg -x "$deb" "$root"; done
    lib=$root/usr/lib/x86_64-linux-gnu
    for pc in $(find "$root" -name '*.pc'); do sed -i "s|/usr/|$root/usr/|g" "$pc"; done
    export PKG_CONFIG_PATH=$lib/pkgconfig:$lib/openblas-pthread/pkgconfig:${PKG_CONFIG_PATH:-}
    export LD_LIBRARY_PATH=${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$lib:$lib/openblas-pthread
    cmake_extra=(-DCMAKE_PREFIX_PATH="$root/usr")
fi

step() { echo "== $*" | tee -a "$OUT/summary.txt"; }
status=0
step "nvidia-smi"; nvidia-smi >"$OUT/nvidia-smi.txt" 2>&1; head -15 "$OUT/nvidia-smi.txt"
step "configure + build"
if ! { cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DFP8LAB_CUDA=ON -DFP8LAB_WERROR=ON "${cmake_extra[@]}" &&
       cmake --build build-gpu -j"$(nproc)"; } >"$OUT/build.log" 2>&1; then
    tail -40 "$OUT/build.log"; echo "build failed"; exit 1
fi
# the CUDA backend is build-gpu/libfp8lab_cuda.so, opened on first use; the test binaries run directly below
# (compute-sanitizer) live in build-gpu/tests, so name it
export FP8LAB_CUDA_LIB=$PWD/build-gpu/libfp8lab_cuda.so
step "ctest"
ctest --test-dir build-gpu --output-on-failure -j4 >"$OUT/ctest.log" 2>&1 || status=1
tail -25 "$OUT/ctest.log"
grep -q "Skipped" "$OUT/ctest.log" && { echo "a test skipped on a GPU node (see ctest.log)"; status=1; }
step "compute-sanitizer memcheck (test_backend_ops)"
if ! compute-sanitizer --tool memcheck --error-exitcode 3 build-gpu/tests/test_backend_ops >"$OUT/memcheck.log" 2>&1; then
    # seen on gVisor-sandboxed nodes: the sanitizer refuses the device, which says nothing about our code
    if grep -q "Device not supported" "$OUT/memcheck.log"; then echo "compute-sanitizer: not supported on this node"
    else status=1; fi
fi
tail -3 "$OUT/memcheck.log"
step "bench gemm"
build-gpu/fp8lab bench gemm --device cuda --json >"$OUT/bench_gemm.json" 2>"$OUT/bench_gemm.err" || status=1
build-gpu/fp8lab info --device cuda >"$OUT/info.txt" 2>&1
step "bench quant"
build-gpu/fp8lab bench quant --device cuda >"$OUT/bench_quant.txt" 2>&1 || status=1

echo; echo "==== summary (card: $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1))"
[ -s "$OUT/bench_gemm.json" ] || { echo "bench gemm failed:"; tail -5 "$OUT/bench_gemm.err"; }
[ -s "$OUT/bench_gemm.json" ] && python3 - "$OUT/bench_gemm.json" <<'PY' 
import json, sys
d = json.load(open(sys.argv[1]))
print(f"{'shape':>20} {'recipe':>11} {'ms':>8} {'TFLOP/s':>8} {'%peak':>6} {'rel_err':>9}")
for r in d["results"]:
    print(f"{r['m']}x{r['n']}x{r['k']:>6} {r['recipe']:>11} {r['ms']:8.3f} {r['tflops']:8.1f} "
          f"{(r['pct_peak'] or 0):6.1f} {r['rel_err']:9.2e}")
PY
cat "$OUT/bench_quant.txt"
grep -E "tests passed|tests failed" "$OUT/ctest.log"; grep -E "ERROR SUMMARY" "$OUT/memcheck.log"
exit $status
