#!/usr/bin/env bash
# fp8lab train | eval end to end: a 20-step run of configs/runs/tiny.json (metrics.jsonl keys on every line,
# checkpoint folders and their files, a Hugging Face config and safetensors header), --resume continuing it, eval
# of the checkpoint, Ctrl-C writing a checkpoint, bad flags and run-file keys refused with status 2 and a message,
# and --dry-run parameter counts of GPT-2 124M / 1.5B and Llama-3-8B.
# Pinned to the CPU backend (scripts/gpu_check.sh compares CPU and CUDA runs of the same file).
source "$(dirname "${BASH_SOURCE[0]}")/cli_common.bash"
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-2}

train_data

# ---- a short run ----
"$bin" train --device cpu --config "$src/configs/runs/tiny.json" --steps 20 --out run "${data[@]}" --json >run.json 2>run.err
rc=$?
[ "$rc" -eq 0 ] || fail "train: status $rc: $(tail -5 run.err)"
tail -4 run.err
lines=$(wc -l <run/metrics.jsonl)
[ "$lines" -eq 20 ] || fail "metrics.jsonl: $lines lines, expected 20"
if command -v python3 >/dev/null; then
    python3 - <<'EOF' || fail "metrics.jsonl / run.json / checkpoint contents"
import json, struct, sys
keys = {"step", "loss", "lr", "grad_norm", "step_ms", "tokens_per_s", "tokens_per_gpu_hour", "mfu_bf16", "mfu_fp8",
        "usd_per_mtok", "device"}
rows = [json.loads(l) for l in open("run/metrics.jsonl")]
for i, r in enumerate(rows):
    missing = keys - set(r)
    assert not missing, f"line {i + 1}: missing {missing}"
    assert r["step"] == i + 1, r
    assert r["loss"] > 0 and r["lr"] > 0 and r["step_ms"] > 0 and r["tokens_per_s"] > 0, r
    assert abs(r["tokens_per_gpu_hour"] - 3600 * r["tokens_per_s"]) < 1e-6 * r["tokens_per_gpu_hour"], r
    assert abs(r["usd_per_mtok"] - 2.0 / (r["tokens_per_gpu_hour"] / 1e6)) < 1e-9 * r["usd_per_mtok"] + 1e-12, r
    assert r["device"].startswith("cpu ("), r["device"]
    assert r["mfu_bf16"] is None and r["mfu_fp8"] is None, r  # no known peaks on a CPU
    assert ("val_loss" in r) == (r["step"] % 10 == 0), r
out = json.load(open("run.json"))
assert out["step"] == 20 and out["val_loss"] < out["first_val_loss"], out
assert out["checkpoint"].endswith("run/checkpoint-20"), out
assert out["sim_step_ms"] is None, out
cfg = json.load(open("run/checkpoint-20/config.json"))
assert cfg["architectures"] == ["GPT2LMHeadModel"] and cfg["model_type"] == "gpt2" and cfg["vocab_size"] == 256, cfg
assert cfg["n_positions"] == 256 and cfg["tie_word_embeddings"] is True, cfg
for f, want in (("model.safetensors", "transformer.h.3.mlp.c_proj.weight"), ("optimizer.safetensors", "exp_avg_sq")):
    b = open("run/checkpoint-20/" + f, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n])
    meta = h.pop("__metadata__")
    assert meta["format"] == "pt" and len(meta["fp8lab_crc32c"]) == 8, meta
    assert want in h, (f, list(h)[:5])
    if f == "model.safetensors":
        assert all(v["dtype"] == "F32" for v in h.values())
        assert h["transformer.wte.weight"]["shape"] == [256, 128], h["transformer.wte.weight"]
st = json.load(open("run/checkpoint-20/trainer_state.json"))
assert st["state"]["step"] == 20 and "loader" in st["state"] and st["state"]["config"]["steps"] == 20, st
EOF
fi
for d in run/checkpoint-10 run/checkpoint-20; do
    for f in model.safetensors config.json optimizer.safetensors trainer_state.json; do
        [ -s "$d/$f" ] || fail "$d/$f missing"
    done
    [ "$(ls "$d" | wc -l)" -eq 4 ] || fail "$d: stray files: $(ls "$d")"
done
[ -z "$(ls -a run | grep -F .tmp)" ] || fail "a temporary checkpoint folder was left: $(ls -a run)"

# ---- resume: 20 -> 25 ----
out=$("$bin" train --device cpu --config "$src/configs/runs/tiny.json" --steps 25 --out run "${data[@]}" --resume 2>&1)
[ $? -eq 0 ] || fail "resume: $out"
grep -qF "resumed from run/checkpoint-20 (step 20)" <<<"$out" || fail "resume: no 'resumed from' line: $out"
[ "$(wc -l <run/metrics.jsonl)" -eq 25 ] || fail "resume: metrics.jsonl has $(wc -l <run/metrics.jsonl) lines"
[ -d run/checkpoint-25 ] || fail "resume: no checkpoint-25"
expect 2 "holds checkpoints of an earlier run" train --config "$src/configs/runs/tiny.json" --out run "${data[@]}"

# ---- eval ----
ev=$("$bin" eval --device cpu --init-from run/checkpoint-25 --data "$val" --seq 32 --batch 8 --max-batches 4 --json 2>&1)
[ $? -eq 0 ] || fail "eval: $ev"
grep -q '"val_loss":' <<<"$ev" && grep -q '"tokens":' <<<"$ev" || fail "eval: $ev"
echo "eval: $(tr -d '\n\t' <<<"$ev")"
expect 2 "--init-from is required" eval --data "$val"

# ---- Ctrl-C: a checkpoint at the step reached, status 130 ----
"$bin" train --device cpu --config "$src/configs/runs/tiny.json" --steps 100000 --checkpoint-every 0 --val-every 0 \
    --sample-every 0 --out intr "${data[@]}" >intr.log 2>&1 &
pid=$!
for _ in $(seq 1 200); do
    [ -s intr/metrics.jsonl ] && [ "$(wc -l <intr/metrics.jsonl)" -ge 3 ] && break
    sleep 0.1
done
kill -INT "$pid"
wait "$pid"
rc=$?
[ "$rc" -eq 130 ] || fail "SIGINT: status $rc, expected 130: $(tail -3 intr.log)"
n=$(wc -l <intr/metrics.jsonl)
[ -f "intr/checkpoint-$n/model.safetensors" ] || fail "SIGINT: no checkpoint-$n: $(ls intr)"

# ---- bad input: status 2 and the flag, key or value named ----
expect 2 "--steps: 0 is not in [1, 1000000000]" train --steps 0 --out bad
expect 2 "--lr: bad value 'abc'" train --lr abc --out bad
expect 2 "--batch: bad value '1.5'" train --batch 1.5 --out bad
expect 2 "recipe 'fp4': expected fp32, bf16" train --recipe fp4 --out bad
expect 2 "--device: 'tpu'" train --device tpu --out bad
expect 2 "unknown flag '--learning-rate'" train --learning-rate 1 --out bad
echo '{"steps": 5, "learning_rate": 0.1}' >badkey.json
expect 2 'unknown key "learning_rate"' train --config badkey.json --out bad
echo '{"steps": -5}' >badval.json
expect 2 "steps" train --config badval.json --out bad
echo '{"steps": 5,' >badjson.json
expect 2 "badjson.json" train --config badjson.json --out bad
expect 2 "nope.json" train --config nope.json --out bad
expect 2 "exceeds the model's n_positions 256" train --seq 300 --out bad "${data[@]}"
[ ! -e bad ] || fail "a refused run created its output folder"

# ---- dry run: parameter counts (Hugging Face's) and memory, nothing allocated ----
for spec in "gpt2-124m 124439808" "gpt2-1558m 1557611200" "llama-3-8b 8030261248"; do
    set -- $spec
    out=$("$bin" train --dry-run --model "$src/configs/models/$1.json" --seq 1024 --batch 4 2>&1)
    grep -qF "parameters:   $2" <<<"$out" || fail "dry run $1: expected $2 parameters: $out"
    grep -q "activations" <<<"$out" || fail "dry run $1: no activation memory: $out"
done
out=$("$bin" train --dry-run --model "$src/configs/models/llama-3-8b.json" --seq 1024 --batch 4 --json)
grep -q '"params":	8030261248' <<<"$out" || fail "dry run --json: $out"

finish
