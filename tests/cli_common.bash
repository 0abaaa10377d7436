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
