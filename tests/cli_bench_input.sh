#!/usr/bin/env bash
# Hostile input to the bench commands (security review): bad input exits 2 with a message naming the flag and
# value, out of memory exits 1, nothing is silently cut, and BF16 output never overflows the FP32 baseline's
# buffer. Run under the ASan build too: a heap overflow there fails the run even when the exit status is 0.
set -u
bin=$1
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
expect() { # expect <status> <stderr substring> <args...>
    local want=$1 msg=$2; shift 2
    local err; err=$("$bin" "$@" 2>&1 >/dev/null); local rc=$?
    if [ "$rc" -ne "$want" ] || ! grep -qF -- "$msg" <<<"$err"; then
        fail "fp8lab $* -> status $rc, stderr: $(head -c 600 <<<"$err") (wanted $want and '$msg')"
    else
        echo "ok: fp8lab $* -> $rc: $(head -1 <<<"$err")"
    fi
}
# gemm_ok <recipe> <args...>: exit 0, a row for <recipe> and for fp32, every error finite and small; the FP32
# baseline's error must be FP32-sized (it read FP32 output as BF16, or wrote past a BF16 buffer, before)
gemm_ok() {
    local recipe=$1; shift
    local out; out=$("$bin" bench gemm --device cpu --iters 1 --warmup 0 "$@" 2>&1); local rc=$?
    local verdict
    verdict=$(awk -v r="$recipe" '
        $4 == r { seen = 1 } $4 == "fp32" { base = 1; if (!($8 + 0 < 1e-5)) bad = bad " fp32 rel_err " $8 }
        $4 ~ /^(fp32|bf16|fp8-)/ { if (!($8 + 0 < 0.1) || !($9 + 0 < 0.1)) bad = bad " " $4 " errors " $8 " " $9 }
        END { if (!seen) print "no " r " row"; else if (!base) print "no fp32 row"; else if (bad) print bad }' <<<"$out")
    if [ "$rc" -ne 0 ] || [ -n "$verdict" ]; then
        fail "fp8lab bench gemm $* -> status $rc $verdict: $(head -c 1500 <<<"$out")"
    else
        echo "ok: fp8lab bench gemm $* -> 0"
    fi
}

# 1. --out bf16: the always-run FP32 baseline writes 4 bytes per element (heap overflow before)
gemm_ok fp32 --shapes 128,128,128 --out bf16
for r in bf16 fp8-tensor fp8-block fp8-linear fp8-1x128; do
    gemm_ok "$r" --shapes 128,128,256 --out bf16 --recipe "$r"
    gemm_ok "$r" --shapes 256,128,128 --out f32 --recipe "$r"
done
gemm_ok fp8-1x128 --shapes "128,256,128;256,128,384" --out bf16 --recipe all

# the reworked quant and accum paths still run (under ASan: cleanly)
ok_run() { # ok_run <stdout substring> <args...>
    local want=$1; shift
    local out; out=$("$bin" "$@" 2>&1); local rc=$?
    if [ "$rc" -ne 0 ] || ! grep -qF -- "$want" <<<"$out"; then fail "fp8lab $* -> status $rc: $(head -c 800 <<<"$out")"
    else echo "ok: fp8lab $* -> 0"; fi
}
ok_run "quant-128x128" bench quant --device cpu --shapes "128,256;256,128" --iters 1 --warmup 0
ok_run '"k":256' bench accum --m 4 --n 4 --kmin 128 --kmax 256 --mant-bits 40 --json

# 2. iteration counts and total work
expect 2 "--warmup: 2147483647 is not in [0, 10000]" bench gemm --device cpu --warmup 2147483647
expect 2 "--iters: 2147483647 is not in [1, 100000]" bench gemm --device cpu --iters 2147483647
expect 2 "--iters: 0 is not in" bench gemm --device cpu --iters 0
expect 2 "--warmup: -1 is not in" bench gemm --device cpu --warmup -1
expect 2 "total work" bench gemm --device cpu --shapes 65536,65536,65536 --iters 1000
expect 2 "--warmup: 2147483647 is not in" bench quant --device cpu --warmup 2147483647
expect 2 "--iters: 0 is not in" bench quant --device cpu --iters 0
expect 2 "total traffic" bench quant --device cpu --shapes 65536,65536 --iters 100000
expect 2 "--kmin 200: must be a power of two" bench accum --kmin 200
expect 2 "--kmax 128: must be a power of two in [--kmin 256" bench accum --kmin 256 --kmax 128
expect 2 "--kmax 3000: must be a power of two" bench accum --kmax 3000
expect 2 "--kmax: 2097152 is not in [128, 1048576]" bench accum --kmax 2097152
expect 2 "--kmin: 2147483647 is not in" bench accum --kmin 2147483647
expect 2 "--m: 0 is not in [1, 4096]" bench accum --m 0
expect 2 "--n: 4097 is not in [1, 4096]" bench accum --n 4097
expect 2 "--mant-bits: 0 is not in [1, 40]" bench accum --mant-bits 0
expect 2 "--mant-bits: 41 is not in [1, 40]" bench accum --mant-bits 41
expect 2 "--m * --kmax" bench accum --m 4096 --kmin 1048576 --kmax 1048576
expect 2 "work" bench accum --m 4096 --n 4096 --kmin 128 --kmax 65536
expect 2 "--dist '': must be mean, pos or normal" bench accum --dist ''
expect 2 "--seed: -1 is not in" bench accum --seed -1

# 3. --recipe, --shapes, --out, --device values: refused whole, never cut or defaulted
expect 2 "--recipe '': empty" bench gemm --device cpu --shapes 128,128,128 --recipe ''
expect 2 "--recipe ',,,': empty item 1" bench gemm --device cpu --shapes 128,128,128 --recipe ,,,
expect 2 "--recipe 'bf16,': empty item 2" bench gemm --device cpu --shapes 128,128,128 --recipe bf16,
expect 2 "--recipe ',bf16': empty item 1" bench gemm --device cpu --shapes 128,128,128 --recipe ,bf16
long=$(printf 'bf16,%.0s' {1..60})
expect 2 "unknown recipe 'fp4'" bench gemm --device cpu --shapes 128,128,128 --iters 1 --warmup 0 --recipe "${long}fp4"
gemm_ok fp8-tensor --shapes 128,128,128 --recipe "${long}fp8-tensor"
expect 2 "--shapes '': no shapes" bench gemm --device cpu --shapes ''
expect 2 "empty shape 1" bench gemm --device cpu --shapes ';'
expect 2 "empty shape 2" bench gemm --device cpu --shapes '128,128,128;'
expect 2 "empty shape 2" bench gemm --device cpu --shapes '128,128,128;;128,128,128'
expect 2 "bad N ''" bench gemm --device cpu --shapes 128,,128
expect 2 "bad M ' 128'" bench gemm --device cpu --shapes ' 128,128,128'
expect 2 "bad K '128 '" bench gemm --device cpu --shapes '128,128,128 '
expect 2 "bad M '0x80'" bench gemm --device cpu --shapes 0x80,128,128
expect 2 "bad M '128.5'" bench gemm --device cpu --shapes 128.5,128,128
expect 2 "M = 99999999999999999999 is not in [1, 1048576]" bench gemm --device cpu --shapes 99999999999999999999,128,128
expect 2 "K = -128 is not in [1, 1048576]" bench gemm --device cpu --shapes 128,128,-128
expect 2 "M = 2097152 is not in [1, 1048576]" bench gemm --device cpu --shapes 2097152,128,128
expect 2 "expected 3 values" bench gemm --device cpu --shapes 128,128
expect 2 "expected 3 values" bench gemm --device cpu --shapes 128,128,128,128
expect 2 "M*N = 1099511627776 elements is over the limit of 4294967296" bench gemm --device cpu --shapes 1048576,1048576,128
expect 2 "more than 64 shapes" bench gemm --device cpu --shapes "$(printf '128,128,128;%.0s' {1..64})128,128,128"
expect 2 "empty shape 2" bench quant --device cpu --shapes '128,128;'
expect 2 "expected 2 values" bench quant --device cpu --shapes 128
expect 2 "rows*cols = 1099511627776 elements is over the limit" bench quant --device cpu --shapes 1048576,1048576
expect 2 "--shapes '': no shapes" bench quant --device cpu --shapes ''
expect 2 "unknown dtype ''" bench gemm --device cpu --out ''
expect 2 "unknown dtype 'F32'" bench gemm --device cpu --out F32
expect 2 "unknown device ''" bench gemm --device ''
expect 2 "unknown device 'CPU'" bench quant --device CPU

# 5. out of memory is a runtime failure (exit 1) that names the size; needs an address-space limit, which the
# sanitizer runtime cannot start under (it reserves terabytes of shadow memory)
if (exec 2>/dev/null; (ulimit -v 1000000 && exec "$bin" --help) >/dev/null); then
    oom() { # oom <KiB of address space> <args...>: exit 1, "out of memory" and a byte count
        local kib=$1; shift
        local err; err=$(ulimit -v "$kib"; "$bin" "$@" 2>&1 >/dev/null); local rc=$?
        if [ "$rc" -ne 1 ] || ! grep -q "out of .*memory.*[0-9] bytes" <<<"$err"; then
            fail "fp8lab $* ($kib KiB address space) -> status $rc, stderr: $(head -c 600 <<<"$err") (wanted 1)"
        else
            echo "ok: fp8lab $* ($kib KiB address space) -> 1: $(head -1 <<<"$err")"
        fi
    }
    oom 3000000 bench gemm --device cpu --shapes 32768,32768,128 --iters 1 --warmup 0 --recipe fp32
    oom 3000000 bench quant --device cpu --shapes 32768,32768 --iters 1 --warmup 0
    oom 1000000 bench accum --m 4096 --n 1 --kmin 65536 --kmax 65536
else
    echo "skipped: out-of-memory checks (the binary does not start under ulimit -v, e.g. a sanitizer build)"
fi
exit $((fails > 0))
