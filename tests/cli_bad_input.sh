#!/usr/bin/env bash
# Bad input to the CLI: exit status 2 and a message that names the flag, value or tile.
set -u
bin=$1
fails=0
expect() { # expect <status> <stderr substring> <args...>
    local want=$1 msg=$2; shift 2
    local err; err=$("$bin" "$@" 2>&1 >/dev/null); local rc=$?
    if [ "$rc" -ne "$want" ] || ! grep -qF -- "$msg" <<<"$err"; then
        echo "FAIL: fp8lab $* -> status $rc, stderr: $err (wanted $want and '$msg')"; fails=$((fails + 1))
    else
        echo "ok: fp8lab $* -> $rc: $(head -1 <<<"$err")"
    fi
}
expect 2 "unknown command 'frobnicate'" frobnicate
expect 2 "unknown flag '--bogus'" bench gemm --device cpu --bogus
expect 2 "unknown benchmark 'gemmm'" bench gemmm
expect 2 "M = 1000 is not a multiple of 128" bench gemm --device cpu --shapes 1000,128,128
expect 2 "K = 200 is not a multiple of 128" bench gemm --device cpu --shapes "128,128,128;128,128,200"
expect 2 "bad value 'nan'" bench gemm --device cpu --init-scale nan
expect 2 "bad value 'inf'" bench gemm --device cpu --shapes 128,128,128 --init-scale inf --iters 1 --warmup 0
expect 2 "unknown recipe 'fp4'" bench gemm --device cpu --recipe bf16,fp4
expect 2 "--iters: bad value 'ten'" bench gemm --iters ten
expect 2 "unknown device 'tpu'" bench quant --device tpu
expect 2 "cols = 100 is not a multiple of 128" bench quant --device cpu --shapes 128,100
expect 2 "needs a value" info --device
exit $((fails > 0))
