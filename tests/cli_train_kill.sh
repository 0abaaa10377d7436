#!/usr/bin/env bash
# fp8lab train killed with SIGKILL and resumed ends where an uninterrupted run ends: every file of the last
# checkpoint byte for byte (cmp), and the same loss, lr, grad norm and validation loss at every step of
# metrics.jsonl (its other columns are wall-clock measurements). CPU backend, a 2-layer 32-wide GPT on
# configs/runs/tiny.json's settings, 80 steps, a checkpoint every 8.
#   1. killed after a random step (mid-step: the next one is running), then its folder is given what other kills
#      leave: a half-written temporary checkpoint folder, a metrics.jsonl temporary, a checkpoint moved aside to
#      be replaced (.checkpoint-N.old-*), and a damaged checkpoint folder newer than the rest; --resume must
#      clear the temporaries, move the set-aside checkpoint back, refuse the damaged one and use the newest
#      valid one, and still end identical;
#   2. killed as soon as a checkpoint's temporary folder appears (during a save, when the kill is quick enough:
#      the test says whether it was), resumed, killed again at a random step, resumed to the end;
#   3. a second run on the same --out while one runs is refused (the folder is locked).
# Every run is started from its own working folder with the same relative --out, so the run configuration kept
# in trainer_state.json (which names --out) is the same string in all of them.
source "$(dirname "${BASH_SOURCE[0]}")/cli_common.bash"
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT
# one thread: the steps of this small model are milliseconds, and OpenMP threads on a busy machine make them
# seconds; the comparison is between runs of the same settings either way
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1} OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}

cat >model.json <<'EOF'
{"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "vocab_size": 256, "n_embd": 32, "n_layer": 2,
 "n_head": 2, "n_positions": 64, "tie_word_embeddings": true}
EOF
train_data
STEPS=80
EVERY=8
args=(train --device cpu --config "$src/configs/runs/tiny.json" --model "$tmp/model.json" --steps "$STEPS"
      --checkpoint-every "$EVERY" --print-every 1000 --out run "${data[@]}")

lines() { if [ -f "$1/run/metrics.jsonl" ]; then wc -l <"$1/run/metrics.jsonl"; else echo 0; fi; }
# the columns that must not depend on interruptions: everything but the wall-clock ones (step_ms .. usd_per_mtok,
# which sit between grad_norm and device) and the device name
exact_cols() { sed -E 's/,"step_ms":.*"device":"[^"]*"//' "$1"; }

start() { # start DIR ARGS...: the run in the background, from DIR; pid in $pid
    local dir=$1; shift
    mkdir -p "$dir"
    (cd "$dir" && exec "$bin" "$@") >>"$dir/log" 2>&1 &
    pid=$!
    pids+=("$pid")
}
kill_after_line() { # kill_after_line DIR LINE: SIGKILL once metrics.jsonl has LINE lines (or the run ended)
    local dir=$1 want=$2
    while kill -0 "$pid" 2>/dev/null && [ "$(lines "$dir")" -lt "$want" ]; do sleep 0.01; done
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    echo "$dir: killed after $(lines "$dir") metrics lines; checkpoints: $(cd "$dir/run" && ls -d checkpoint-* 2>/dev/null | sort -t- -k2 -n | tail -3 | tr '\n' ' ')"
}
resume() { # resume DIR: --resume to the end, status 0 expected
    (cd "$1" && "$bin" "${args[@]}" --resume) >"$1/resume.log" 2>&1 || fail "$1: resume: status $?: $(tail -3 "$1/resume.log")"
    grep -E "resumed from|refused|removed|restored" "$1/resume.log" | sed "s|^|$1: |"
}
compare() { # compare DIR [REF]: its last checkpoint and metrics against REF's (default ref)
    local f d=checkpoint-$STEPS ref=${2:-ref}
    for f in model.safetensors optimizer.safetensors trainer_state.json config.json; do
        cmp "$ref/run/$d/$f" "$1/run/$d/$f" || fail "$1: $d/$f differs from the uninterrupted run's"
    done
    [ "$(ls "$1/run/$d" | wc -l)" -eq 4 ] || fail "$1: $d holds $(ls "$1/run/$d")"
    [ "$(lines "$1")" -eq "$STEPS" ] || fail "$1: metrics.jsonl has $(lines "$1") lines, expected $STEPS"
    if ! cmp -s <(exact_cols "$ref/run/metrics.jsonl") <(exact_cols "$1/run/metrics.jsonl"); then
        fail "$1: metrics.jsonl: loss/lr/grad_norm/val_loss differ: $(diff <(exact_cols "$ref/run/metrics.jsonl") <(exact_cols "$1/run/metrics.jsonl") | head -4)"
    fi
    local left; left=$(cd "$1/run" && ls -A | grep -E '^\.(checkpoint-|metrics\.jsonl\.)')
    [ -z "$left" ] || fail "$1: temporaries left: $left"
    echo "$1: $d identical to the uninterrupted run's, metrics the same at all $STEPS steps"
}

# ---- the uninterrupted run ----
mkdir ref
(cd ref && "$bin" "${args[@]}") >ref/log 2>&1 || fail "reference run: status $?: $(tail -3 ref/log)"
[ "$(lines ref)" -eq "$STEPS" ] || fail "reference run: $(lines ref) metrics lines"
grep -q '"val_loss"' ref/run/metrics.jsonl || fail "reference run: no validation loss in metrics.jsonl"

# ---- 1. a kill mid-run, then what other kills leave ----
k=$((2 * EVERY + 1 + RANDOM % (STEPS - 3 * EVERY))) # after two checkpoints, before the end
start k1 "${args[@]}"
kill_after_line k1 "$k"
newest=$(cd k1/run && ls -d checkpoint-* | sed 's/checkpoint-//' | sort -n | tail -1)
older=$(cd k1/run && ls -d checkpoint-* | sed 's/checkpoint-//' | sort -n | tail -2 | head -1)
if [ -z "$newest" ] || [ "$newest" -eq "$older" ]; then
    fail "k1: killed before two checkpoints existed ($(ls k1/run))"
else
    # a save killed half-way: its temporary folder, with a truncated file
    mkdir "k1/run/.checkpoint-$((newest + EVERY)).tmp-Ab12Cd"
    head -c 100 "k1/run/checkpoint-$newest/model.safetensors" >"k1/run/.checkpoint-$((newest + EVERY)).tmp-Ab12Cd/model.safetensors"
    # a metrics.jsonl rewrite killed half-way (core/atomic_file.c's temporary name)
    head -c 10 k1/run/metrics.jsonl >k1/run/.metrics.jsonl.0123456789abcdef.tmp
    # a save of the same step killed between its two renames: the older checkpoint set aside, no new one
    mv "k1/run/checkpoint-$older" "k1/run/.checkpoint-$older.old-Zz9Yx8"
    # the newest checkpoint damaged (a disk that lost the end of a file), and a damaged one newer still: both
    # refused, and the set-aside one (restored) used
    damaged=$((newest + 1))
    cp -r "k1/run/checkpoint-$newest" "k1/run/checkpoint-$damaged"
    rm "k1/run/checkpoint-$damaged/trainer_state.json"
    sz=$(stat -c %s "k1/run/checkpoint-$newest/optimizer.safetensors")
    truncate -s $((sz / 2)) "k1/run/checkpoint-$newest/optimizer.safetensors"
    resume k1
    grep -qF "resumed from run/checkpoint-$older (step $older)" k1/resume.log ||
        fail "k1: did not resume from the restored checkpoint-$older: $(head -5 k1/resume.log)"
    grep -qF "checkpoint run/checkpoint-$damaged refused" k1/resume.log || fail "k1: checkpoint-$damaged not refused"
    grep -qF "checkpoint run/checkpoint-$newest refused" k1/resume.log || fail "k1: checkpoint-$newest not refused"
    grep -q "optimizer.safetensors" k1/resume.log || fail "k1: the refusal does not name optimizer.safetensors"
    rm -rf "k1/run/checkpoint-$damaged" # refused folders stay for the user to look at; not part of the comparison
    compare k1
fi

# ---- 2. a kill during a checkpoint save (when quick enough), another mid-step, resumed to the end ----
start k2 "${args[@]}"
caught=0
save=$((EVERY * (1 + RANDOM % 5))) # one of the first five saves
while kill -0 "$pid" 2>/dev/null; do
    set -- k2/run/.checkpoint-$save.tmp-*
    if [ -e "$1" ]; then
        kill -9 "$pid"
        caught=1
        break
    fi
done
wait "$pid" 2>/dev/null
set -- k2/run/.checkpoint-*.tmp-*
if [ "$caught" -eq 1 ] && [ -e "$1" ]; then
    echo "k2: killed during a checkpoint save: $(basename "$1") left, holding: $(ls "$1" | tr '\n' ' ')"
else
    echo "k2: the kill did not land during the save of step $save (the run was $(lines k2) steps in)"
fi
if [ "$(lines k2)" -lt "$STEPS" ]; then
    # the resumed run, killed again at a random step before its end
    (cd k2 && exec "$bin" "${args[@]}" --resume) >>k2/log 2>&1 &
    pid=$!
    pids+=("$pid")
    kill_after_line k2 $(($(lines k2) + 1 + RANDOM % EVERY * 3))
fi
resume k2
compare k2

# ---- 3. delayed scaling: the amax histories travel in the checkpoint (optimizer.safetensors' amax_history) ----
saved=("${args[@]}")
args=("${saved[@]}" --recipe fp8-tensor-delayed)
mkdir dref
(cd dref && "$bin" "${args[@]}") >dref/log 2>&1 || fail "delayed reference run: status $?: $(tail -3 dref/log)"
start k4 "${args[@]}"
kill_after_line k4 $((2 * EVERY + 1 + RANDOM % (STEPS - 3 * EVERY)))
resume k4
compare k4 dref
args=("${saved[@]}")

# ---- 4. one run per folder ----
start k3 "${args[@]}" --steps 1000000 --checkpoint-every 0 --val-every 0 --sample-every 0
while kill -0 "$pid" 2>/dev/null && [ "$(lines k3)" -lt 1 ]; do sleep 0.01; done
err=$(cd k3 && "$bin" "${args[@]}" --resume 2>&1 >/dev/null)
rc=$?
if [ "$rc" -ne 2 ] || ! grep -qF "another fp8lab train is running in this folder" <<<"$err"; then
    fail "a second run on a busy --out: status $rc: $err"
else
    echo "second run on the same --out: status 2: $err"
fi
kill -9 "$pid"
wait "$pid" 2>/dev/null

finish
