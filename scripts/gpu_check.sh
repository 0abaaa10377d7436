#!/usr/bin/env bash
# On a lent GPU node: build with the CUDA backend (sm_90a), run every test (CUDA ones must run, not skip),
# compute-sanitizer over the CUDA op test, then the GEMM and quantize benchmarks. Full logs go to $OUT
# (default ./out/gpu); a short table is printed last.
# The node has no cmocka and no internet: on the dev machine run
#   mkdir -p .deps && (cd .deps && apt-get download libcmocka0 libcmocka-dev)
# and pass .deps in the device tool's `carry`.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/out/gpu}
mkdir -p "$OUT"
export PATH=/usr/local/cuda/bin:$PATH

if ! pkg-config --exists cmocka 2>/dev/null; then
    root=$PWD/.deps/root
    for deb in .deps/*.deb; do dpkg -x "$deb" "$root"; done
    lib=$root/usr/lib/x86_64-linux-gnu
    # the .pc file points at /usr; rewrite it to the unpacked tree
    sed -i "s|^prefix=.*|prefix=$root/usr|" "$lib/pkgconfig/cmocka.pc"
    ln -sf libcmocka.so.0 "$lib/libcmocka.so"
    export PKG_CONFIG_PATH=$lib/pkgconfig:${PKG_CONFIG_PATH:-}
    export LD_LIBRARY_PATH=$lib:${LD_LIBRARY_PATH:-}
fi

step() { echo "== $*" | tee -a "$OUT/summary.txt"; }
status=0
step "nvidia-smi"; nvidia-smi >"$OUT/nvidia-smi.txt" 2>&1; head -15 "$OUT/nvidia-smi.txt"
step "configure + build"
if ! { cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DFP8LAB_CUDA=ON -DFP8LAB_WERROR=ON &&
       cmake --build build-gpu -j"$(nproc)"; } >"$OUT/build.log" 2>&1; then
    tail -40 "$OUT/build.log"; echo "build failed"; exit 1
fi
step "ctest"
ctest --test-dir build-gpu --output-on-failure -j4 >"$OUT/ctest.log" 2>&1 || status=1
tail -25 "$OUT/ctest.log"
grep -q "skipped: no GPU" "$OUT/ctest.log" && { echo "a CUDA test skipped on a GPU node"; status=1; }
step "compute-sanitizer memcheck (test_backend_ops)"
compute-sanitizer --tool memcheck --error-exitcode 3 build-gpu/tests/test_backend_ops >"$OUT/memcheck.log" 2>&1 || status=1
tail -3 "$OUT/memcheck.log"
step "bench gemm"
build-gpu/fp8lab bench gemm --device cuda --json >"$OUT/bench_gemm.json" 2>"$OUT/bench_gemm.err" || status=1
build-gpu/fp8lab info --device cuda >"$OUT/info.txt" 2>&1
step "bench quant"
build-gpu/fp8lab bench quant --device cuda >"$OUT/bench_quant.txt" 2>&1 || status=1

echo; echo "==== summary (card: $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1))"
python3 - "$OUT/bench_gemm.json" <<'PY' || true
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
