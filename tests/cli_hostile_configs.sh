#!/usr/bin/env bash
# Hostile model and cluster files through `fp8lab sim` (issue 7, findings 3, 5 and 7): each is refused with
# exit status 2 and a message naming the key, the value and the range, quickly, never crashing or looping.
set -u
bin=$1
src=${FP8LAB_SOURCE_DIR:-$(dirname "$0")/..}
dir=$(mktemp -d /tmp/fp8lab_hostile_cli.XXXXXX)
trap 'rm -rf "$dir"' EXIT
fails=0
# run <want status> <stderr substring> <model text> <cluster text> [flags...]; 10 s is a hang
run() {
    local want=$1 msg=$2 model=$3 cl=$4; shift 4
    printf '%s' "$model" >"$dir/model.json"
    printf '%s' "$cl" >"$dir/cluster.json"
    local err; err=$(timeout 10 "$bin" sim --model "$dir/model.json" --cluster "$dir/cluster.json" "$@" 2>&1 >/dev/null)
    local rc=$?
    if [ "$rc" -ne "$want" ] || ! grep -qF -- "$msg" <<<"$err"; then
        echo "FAIL: status $rc (wanted $want), stderr: ${err:0:300} (wanted '$msg')"; fails=$((fails + 1))
    else
        echo "ok: $rc: $(head -1 <<<"$err")"
    fi
}
gpt2() { printf '{"model_type": "gpt2", "vocab_size": 50257, "n_embd": 768, "n_layer": %s, "n_head": 12}' "$1"; }
cluster() { # sms num_gpus gpus_per_node
    printf '{"name": "c", "gpu": {"name": "g", "peak_tflops": {"bf16": 989, "fp16": 989, "fp8": 1979, "fp32": 67},
      "hbm_gb": 80, "hbm_gbps": 3350, "sms": %s}, "num_gpus": %s, "gpus_per_node": %s, "intra_node_gbps": 360,
      "inter_node_gbps_per_gpu": 50, "price_per_gpu_hour": 2}' "$1" "$2" "$3"
}
dsv3() { # key value: DeepSeek-V3's config with one key added
    sed "s/^{/{\"$1\": $2,/" "$src/configs/models/deepseek-v3.json"
}
good=$(cluster 132 2048 8)
run 0 "" "$(gpt2 12)" "$good" --gpus 8
run 2 "key n_layer: 4294967297 is not in [1, 4096]" "$(gpt2 4294967297)" "$good" --gpus 8
run 2 "key n_layer: 1000000000000000 is not in [1, 4096]" "$(gpt2 1e15)" "$good" --gpus 8
run 2 "key gpus_per_node: 4294967296 is not in [1, 1024]" "$(gpt2 12)" "$(cluster 132 2048 4294967296)"
run 2 "key gpus_per_node: 4294967304 is not in [1, 1024]" "$(gpt2 12)" "$(cluster 132 2048 4294967304)"
run 2 "key gpus_per_node: 2147483648 is not in [1, 1024]" "$(gpt2 12)" "$(cluster 132 2048 2147483648)" --tp 8
run 2 "key gpu.sms: 4294967296 is not in [1, 1024]" "$(gpt2 12)" "$(cluster 4294967296 2048 8)"
run 2 "key gpu.sms: 4294967304 is not in [1, 1024]" "$(gpt2 12)" "$(cluster 4294967304 2048 8)"
run 2 "key num_gpus: 9000000000000000 is not in [1, 1048576]" "$(gpt2 12)" "$(cluster 132 9e15 8)"
run 2 "key n_shared_experts: 9000000000000000 is not in [0, 1024]" "$(dsv3 n_shared_experts 9e15)" "$good" --ep 8
run 2 "key num_nextn_predict_layers: 2147483648 is not in [0, 64]" "$(dsv3 num_nextn_predict_layers 2147483648)" \
    "$good" --ep 8
run 2 "key n_layer: expected an integer in [1, 4096], got 12.5" "$(gpt2 12.5)" "$good"
exit $((fails > 0))
