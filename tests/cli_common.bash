# Sourced by tests/cli_*.sh (ctest gives each the fp8lab binary as $1; this file is not a test: the glob is
# cli_*.sh). Sets bin (the binary, absolute), src (the source tree), tmp (a private working folder, the current
# directory, removed on exit unless the script sets its own EXIT trap) and a private cache folder, and defines:
#   fail MESSAGE             count a failure and say it
#   expect STATUS TEXT ARGS  run fp8lab ARGS: exit status STATUS and TEXT in its stderr
#   train_data               the training data flags in the array `data`: none when Debian's fortunes (the
#                            built-in corpus) is installed, else shards of this project's prose (ASCII only:
#                            a repeated generated sentence, or a UTF-8 byte pair the model has not met, trains in
#                            loss spikes that land differently per recipe); `val` names the validation shards
#   finish                   exit 1 with the count of failures, or say "all ok"
set -u
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
src=${FP8LAB_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
export XDG_CACHE_HOME="$tmp/cache"
unset FP8LAB_CACHE_DIR
fails=0

fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

expect() {
    local want=$1 msg=$2
    shift 2
    local err rc
    err=$("$bin" "$@" 2>&1 >/dev/null)
    rc=$?
    if [ "$rc" -ne "$want" ] || ! grep -qF -- "$msg" <<<"$err"; then
        fail "fp8lab $* -> status $rc, stderr: $err (wanted $want and '$msg')"
    else
        echo "ok: -> $rc: $(head -1 <<<"$err")"
    fi
}

train_data() {
    data=()
    val="$XDG_CACHE_HOME/fp8lab/builtin/data_val_*.bin"
    [ -d /usr/share/games/fortunes ] && return 0
    cat "$src/README.md" "$src"/csrc/*/*.h | LC_ALL=C tr -cd '\11\12\40-\176' >"$tmp/prose.txt"
    "$bin" data build "$tmp/prose.txt" --out "$tmp/shards" --seq-len 64 >/dev/null || fail "data build"
    data=(--data "$tmp/shards/data_train_*.bin" --val-data "$tmp/shards/data_val_*.bin")
    val="$tmp/shards/data_val_*.bin"
}

finish() {
    [ "$fails" -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
    echo "all ok"
}

# --- the MPI tests (cli_mpi_comm.sh, cli_train_dp.sh, cli_train_zero.sh) ---

# mpi_setup: skip (exit 77) without mpirun; else the environment Open MPI ranks need here: root allowed (CI runs
# as root), the shared-memory transport without its single-copy mechanism (containers), one OpenMP/OpenBLAS thread
# per rank (more ranks than cores), and no leak check in the ranks (Open MPI's own allocations are live at exit
# under the ASan build; the other sanitizer checks stay on)
mpi_setup() {
    command -v mpirun >/dev/null || { echo "skipped: no mpirun (apt-get install openmpi-bin libopenmpi-dev)"; exit 77; }
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
    export OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none
    export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
    export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
}

# ranks N FLAGS...: fp8lab train --json with the caller's `cfg` array on N ranks (ranks that disagree would wait
# for each other: a time limit); one FLAGS...: the same on one rank, without mpirun
ranks() {
    local n=$1
    shift
    timeout 120 mpirun --oversubscribe -np "$n" -x ASAN_OPTIONS -x OMP_NUM_THREADS -x OPENBLAS_NUM_THREADS \
        -x XDG_CACHE_HOME "$bin" train "${cfg[@]}" --json "$@"
}
one() { "$bin" train "${cfg[@]}" --json "$@"; }

# descendants PID: every process below PID (the background shell, timeout, mpirun, the ranks)
descendants() {
    local c
    for c in $(pgrep -P "$1"); do
        echo "$c"
        descendants "$c"
    done
}

# rank_pid PID [RANK]: the process below PID that Open MPI started as RANK; with no RANK every rank's, one a line
rank_pid() {
    local p
    for p in $(descendants "$1"); do
        grep -qz "^OMPI_COMM_WORLD_RANK=${2:-[0-9]*}\$" "/proc/$p/environ" 2>/dev/null && echo "$p"
    done
}

# key FILE NAME: a top-level number or boolean of a JSON file
key() { grep -o "\"$2\":[[:space:]]*[^,}]*" "$1" | head -1 | sed 's/.*:[[:space:]]*//'; }
# reldiff A B: |A - B| / |A|; le A B: A <= B
reldiff() { awk -v a="$1" -v b="$2" 'BEGIN { d = a - b; if (d < 0) d = -d; if (a < 0) a = -a; printf "%.3g", d / a }'; }
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }

# compare WHAT REF.json GOT.json TOL: loss and val_loss within TOL relative, weights identical across ranks
compare() {
    local k a b d
    for k in loss val_loss; do
        a=$(key "$2" $k)
        b=$(key "$3" $k)
        d=$(reldiff "$a" "$b")
        if le "$d" "$4"; then echo "ok: $1: $k $b (reference $a, relative difference $d)"
        else fail "$1: $k $b, reference $a: relative difference $d (tolerance $4)"; fi
    done
    [ "$(key "$3" weights_identical_across_ranks)" = true ] || fail "$1: weights differ across ranks"
}
