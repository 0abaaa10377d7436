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

# Issue 7: every number through the strict parser, every value inside its documented range
src=${FP8LAB_SOURCE_DIR:-$(dirname "$0")/..}
sim=(sim --model "$src/configs/models/gpt2-124m.json" --cluster "$src/configs/clusters/h100-sxm.json")
expect 2 "--gpus: -8 is not in [0, 1048576]" "${sim[@]}" --gpus -8
expect 2 "--seq: -5 is not in [0, 16777216]" "${sim[@]}" --seq -5
expect 2 "--global-batch: -7 is not in" "${sim[@]}" --global-batch -7
expect 2 "--tp: bad value '1.5' (expected a whole decimal number in [1, 1024])" "${sim[@]}" --tp 1.5
expect 2 "--tp: bad value '0x10'" "${sim[@]}" --tp 0x10
expect 2 "--micro-batch: 9.2e18 is not in [1, 1048576]" "${sim[@]}" --micro-batch 9.2e18
expect 2 "--moe-imbalance: bad value 'inf'" "${sim[@]}" --moe-imbalance inf
expect 2 "--moe-imbalance: 0.5 is neither 0 (the statistical floor) nor in [1, 100]" "${sim[@]}" --moe-imbalance 0.5
expect 2 "--price: bad value 'inf'" "${sim[@]}" --price inf
expect 2 "--goodput: 2 is not in (0, 1]" "${sim[@]}" --goodput 2
expect 2 "--compute-scale: 0 is not in (0, 100]" "${sim[@]}" --compute-scale 0
expect 2 "--compute-scale: bad value 'nan'" "${sim[@]}" --compute-scale nan
expect 2 "--comm-sms: 132 is not in [0, 132)" "${sim[@]}" --comm-sms 132
expect 2 "--seq: 100000 exceeds the model's n_positions 1024" "${sim[@]}" --seq 100000
expect 2 "--moe-imbalance: 0.5 is neither 0" claim --moe-imbalance 0.5 --no-sensitivity
expect 2 "not a regular file (a directory)" sim --model "$src/configs/models" --cluster "$src/configs/clusters/h100-sxm.json"
expect 2 "--tokens: bad value '1.5'" "${sim[@]}" --tokens 1.5
expect 2 "--loss: bad value 'fast' (expected fused, megatron or torch)" "${sim[@]}" --loss fast
expect 2 "--tp-overlap: userbuffers overlap needs --sequence-parallel" "${sim[@]}" --gpus 8 --tp 4 --tp-overlap userbuffers
expect 2 "98304 points, more than 4096" cost curve --model "$src/configs/models/deepseek-v3.json" \
    --cluster "$src/configs/clusters/h800-2048.json" --vary hbm=1000:5000:4096 --vary2 nvlink=100:900:24 --plot none \
    --csv /dev/null
# cost curve sweeps: every value inside its variable's range (these printed rows for 2048 GPUs, -nan or 200 %)
curve=(cost curve --model "$src/configs/models/gpt2-124m.json" --cluster "$src/configs/clusters/h100-sxm.json"
       --plot none --csv /dev/null)
expect 2 "gpus=1e19 is not a whole number in [1, 1048576]" "${curve[@]}" --vary gpus=1e19,1e20
expect 2 "gpus=inf is not a whole number" "${curve[@]}" --vary gpus=inf
expect 2 "gpus=0 is not a whole number" "${curve[@]}" --vary gpus=0,8
expect 2 "hbm=0 is not a number in (0, 1000000]" "${curve[@]}" --vary hbm=0,100
expect 2 "ib=0 is not a number in (0, 1000000]" "${curve[@]}" --vary ib=0,10
expect 2 "nvlink=0 is not a number" "${curve[@]}" --vary nvlink=0,10
expect 2 "gemm-eff=0 is not a number" "${curve[@]}" --vary gemm-eff=0,1
expect 2 "mfu=2 is not a number in (0, 1]" "${curve[@]}" --vary mfu=0.5:2

# Issue 11: the claim refuses an imbalance below 1 at its flag (it used to blame the cluster file), the
# schedule's V goes through the strict parser, and --vary comm-sms=0 is a valid sweep
expect 2 "error: --moe-imbalance: 0.5 is neither 0 (the statistical floor) nor in [1, 100]" \
    claim --moe-imbalance 0.5 --no-sensitivity
expect 2 "--schedule: bad value 'interleaved: 2'" "${sim[@]}" --gpus 8 --schedule "interleaved: 2"
expect 2 "--vary: gpus: no GPU count up to 1048576 splits into tp 1 x pp 3 x ep 1047552" "${curve[@]}" \
    --pp 3 --vary gpus=8:64 --vary2 ep=1024,1023
expect_ok() { # expect_ok <stdout substring> <args...>: status 0 and the substring on stdout
    local msg=$1; shift
    local out; out=$("$bin" "$@" 2>&1); local rc=$?
    if [ "$rc" -ne 0 ] || ! grep -qF -- "$msg" <<<"$out"; then
        echo "FAIL: fp8lab $* -> status $rc, output: $(head -3 <<<"$out") (wanted 0 and '$msg')"; fails=$((fails + 1))
    else
        echo "ok: fp8lab $* -> 0: $msg"
    fi
}
expect_ok "0 impossible layouts skipped" "${curve[@]}" --gpus 8 --vary comm-sms=0:8:3
# the README's Llama curve: 52 of its 64 GPU counts did not split into tp 8; now snapped, and said so
llama=(cost curve --model "$src/configs/models/llama-3-8b.json" --cluster "$src/configs/clusters/h100-sxm.json"
       --tp 8 --global-batch 512 --vary gpus=64:16384 --vary2 gpu=h800-2048,h100-sxm,h200,a100-80gb
       --plot none --csv /dev/null)
expect_ok "64 points (0 impossible layouts skipped)" "${llama[@]}"
expect_ok "note: --vary gpus: 13 of the 16 values asked for were snapped to the nearest multiple of 8" "${llama[@]}"
exit $((fails > 0))
