#!/usr/bin/env bash
# A hung rank is named, within a time limit (issue: "a rank that dies or hangs makes the others exit with a message
# that names it, within a timeout (no silent hang)"):
#   1. FP8LAB_COMM_TIMEOUT that is not a positive number ("abc", "-1", "0") stops every rank at once with an error
#      naming the variable and the value (not a silent 300 s default, nor a limit of 0 s);
#   2. 3 ranks of fp8lab train with FP8LAB_COMM_TIMEOUT=5 and rank 1 stopped (SIGSTOP) mid-run: the job ends with
#      a non-zero status within 30 s, and the other ranks' message names rank 1 alone as hung (the MPI
#      communicator's collectives have a deadline, and the ranks tell each other which collective they entered:
#      csrc/dist/comm_mpi.c). The stopped process gets SIGCONT and SIGKILL after, so nothing stays behind;
#   3. the exact messages, from tests/test_comm's hang mode (3 ranks, FP8LAB_COMM_TIMEOUT=1, rank 1 hangs after
#      three barriers): before all-reduce #4, "rank 1 has not reached it (last seen in #3)"; after starting it
#      (non-blocking), "rank 1 reached it but has been silent for 1 s"; from rank 0 or 2 (the first abort may end
#      the other before it prints), no other rank named.
# Skipped where mpirun or the MPI build is missing.
source "$(dirname "$0")/cli_common.bash" "$1"

mpi_setup

out=$(mpirun --oversubscribe -np 1 "$bin" bench comm --op all_reduce --max-bytes 8 --iters 1 --warmup 0 2>&1)
if grep -q "built without MPI" <<<"$out"; then echo "skipped: fp8lab built without MPI"; exit 77; fi

train_data
cfg=(--config "$src/configs/runs/tiny.json" --device cpu --sample-every 0 "${data[@]}")
fwd=(-x FP8LAB_COMM_TIMEOUT -x ASAN_OPTIONS -x OMP_NUM_THREADS -x OPENBLAS_NUM_THREADS -x XDG_CACHE_HOME)

# 1. a bad time limit
for v in abc -1 0; do
    err=$(FP8LAB_COMM_TIMEOUT=$v timeout 60 mpirun --oversubscribe -np 2 "${fwd[@]}" "$bin" train "${cfg[@]}" \
        --steps 1 --out "bad$v" 2>&1)
    rc=$?
    want="FP8LAB_COMM_TIMEOUT='$v' is not a positive number"
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && [ "$(grep -cF "$want" <<<"$err")" -eq 2 ]; then
        echo "ok: FP8LAB_COMM_TIMEOUT=$v -> $rc: $(grep -m1 -F "$want" <<<"$err")"
    else
        fail "FP8LAB_COMM_TIMEOUT=$v: status $rc, wanted non-zero and '$want' from both ranks:" \
            "$(head -c 1500 <<<"$err")"
    fi
done

# the ranks' processes, remembered while mpirun still holds them: once it is gone they are nobody's children
pids=
leftovers() {
    local p
    for p in $pids; do
        # the same process still (not a reused pid): it runs this binary
        [ "$(readlink "/proc/$p/exe" 2>/dev/null)" = "$(readlink -f "$bin")" ] || continue
        kill -CONT "$p" 2>/dev/null
        kill -KILL "$p" 2>/dev/null && echo "$p"
    done
}
trap 'leftovers >/dev/null; rm -rf "$tmp"' EXIT

# 2. rank 1 stopped
mkdir -p hang
(cd hang && FP8LAB_COMM_TIMEOUT=5 exec timeout 120 mpirun --oversubscribe -np 3 "${fwd[@]}" "$bin" train "${cfg[@]}" \
    --steps 100000 --val-every 0 --checkpoint-every 0 --out run) >hang/log 2>&1 &
mpid=$!
for _ in $(seq 600); do
    [ -s hang/run/metrics.jsonl ] && [ "$(wc -l <hang/run/metrics.jsonl)" -ge 3 ] && break
    sleep 0.1
done
pids="$pids $(rank_pid "$mpid" | tr '\n' ' ')"
r1=$(rank_pid "$mpid" 1)
if [ -z "$r1" ]; then
    fail "stop: rank 1's process not found (metrics: $(wc -l <hang/run/metrics.jsonl 2>/dev/null) lines)"
    # shellcheck disable=SC2046 # one pid a word
    kill -9 $(descendants "$mpid") 2>/dev/null
    wait "$mpid"
else
    t0=$(date +%s)
    kill -STOP "$r1"
    wait "$mpid"
    rc=$?
    secs=$(($(date +%s) - t0))
    left=$(leftovers)
    # ranks 0 and 2 name rank 1 alone: not there yet, or there but silent (stopped inside the collective)
    hung="rank 1 (has not reached it|reached it but has been silent)[^,;]*; it is hung, stopped or dead"
    named=$(grep -oE "rank [02]/3: [a-z_]+ #[0-9]+ .*did not complete within 5 s: $hung" hang/log)
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && [ "$secs" -le 30 ] && [ -n "$named" ]; then
        echo "ok: SIGSTOP to rank 1: the job ended in ${secs} s with status $rc: $(head -1 <<<"$named")"
    else
        fail "SIGSTOP to rank 1: status $rc after ${secs} s (wanted non-zero within 30 s, rank 1 named as hung);" \
            "log: $(grep -v '^\[\.' hang/log | tail -c 2000)"
    fi
    [ -z "$left" ] || echo "note: killed what the job left behind: pid(s) $left"
fi

# 3. the messages, exactly
unit="$(dirname "$bin")/tests/test_comm"
if [ -x "$unit" ]; then
    for how in before inside; do
        case $how in
        before) why="rank 1 has not reached it (last seen in #3)" ;;
        inside) why="rank 1 reached it but has been silent for 1 s" ;;
        esac
        t0=$(date +%s)
        out=$(FP8LAB_COMM_TIMEOUT=1 FP8LAB_TEST_COMM_HANG=$how timeout 60 mpirun --oversubscribe -np 3 \
            -x FP8LAB_COMM_TIMEOUT -x FP8LAB_TEST_COMM_HANG -x ASAN_OPTIONS "$unit" 2>&1)
        rc=$?
        secs=$(($(date +%s) - t0))
        n=0
        for r in 0 2; do
            line="rank $r/3: all_reduce #4 of 1048576 float did not complete within 1 s: $why"
            grep -qF "$line; it is hung, stopped or dead" <<<"$out" && n=$((n + 1))
        done
        # one rank's abort may end the other before it prints: one line at least, and no other rank named
        if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && [ "$n" -ge 1 ] &&
            ! grep -qE "rank [02] (has not|reached)" <<<"$out"; then
            echo "ok: rank 1 hangs $how all_reduce #4: status $rc after ${secs} s, $n rank(s) said: $why"
        else
            fail "rank 1 hangs $how all_reduce #4: status $rc after ${secs} s, $n rank(s) said '$why':" \
                "$(head -c 2000 <<<"$out")"
        fi
    done
else
    fail "no $unit beside the binary (tests/test_comm.c, built with the tests)"
fi

finish
