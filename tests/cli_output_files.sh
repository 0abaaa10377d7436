#!/usr/bin/env bash
# Output files (--csv, --plot): a bad name fails with status 2 before any work, a FIFO or device is written in
# place and never replaced, directories and dangling links are refused, no temporary file is left behind.
# Also: claim names the flag and file it cannot use.
set -u
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
src=${FP8LAB_SOURCE_DIR:?run through ctest}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
curve=(cost curve --model "$src/configs/models/gpt2-124m.json" --cluster "$src/configs/clusters/h100-sxm.json"
       --gpus 8 --vary mfu=0.3,0.5)

expect() { # expect <status> <stderr substring> <args...>
    local want=$1 msg=$2; shift 2
    local err; err=$("$bin" "$@" 2>&1 >/dev/null); local rc=$?
    if [ "$rc" -ne "$want" ] || ! grep -qF -- "$msg" <<<"$err"; then
        fail "fp8lab $* -> status $rc, stderr: $err (wanted $want and '$msg')"
    else
        echo "ok: -> $rc: $(head -1 <<<"$err")"
    fi
}

# names that cannot work: status 2, and nothing written
expect 2 "--csv: empty file name" "${curve[@]}" --csv '' --plot none
expect 2 "--plot: empty file name" "${curve[@]}" --csv out.csv --plot ''
expect 2 "must end in .png or .svg" "${curve[@]}" --csv out.csv --plot out.jpg
[ ! -e out.csv ] || fail "a refused --plot name still wrote out.csv"
expect 2 "$tmp/no/such/dir/out.csv" "${curve[@]}" --csv "$tmp/no/such/dir/out.csv" --plot none
mkdir adir
expect 2 "is a directory" "${curve[@]}" --csv adir --plot none
[ -d adir ] || fail "the directory adir was replaced"
ln -s missing.csv dangling.csv
expect 2 "symbolic link to a missing file" "${curve[@]}" --csv dangling.csv --plot none
[ ! -e missing.csv ] || fail "a dangling link's target was created"
expect 2 "--plot: empty file name" claim --no-sensitivity --plot ''

# a FIFO is a sink: written through, still a FIFO afterwards
mkfifo pipe
cat pipe >from_pipe &
reader=$!
"$bin" "${curve[@]}" --csv pipe --plot none >/dev/null 2>err.txt
rc=$?
# the reader ends by itself only when the CSV went through the FIFO; otherwise it would wait forever
if [ "$rc" -eq 0 ] && [ -p pipe ]; then wait "$reader"; else kill "$reader" 2>/dev/null; wait "$reader" 2>/dev/null; fi
[ "$rc" -eq 0 ] || fail "--csv pipe: status $rc: $(cat err.txt)"
[ -p pipe ] && echo "ok: pipe is still a FIFO" || fail "the FIFO was replaced"
grep -q '^mfu,gpus_used' from_pipe && echo "ok: the CSV came through the FIFO" || fail "nothing came through the FIFO"

# a character device: our own null device when we may make one, else /dev/null when we cannot replace it
if mknod nul c 1 3 2>/dev/null; then
    "$bin" "${curve[@]}" --csv nul --plot none >/dev/null 2>err.txt || fail "--csv nul: $(cat err.txt)"
    [ -c nul ] && echo "ok: a device stays a device" || fail "the device node was replaced by a regular file"
elif [ ! -w /dev ]; then
    "$bin" "${curve[@]}" --csv /dev/null --plot none >/dev/null 2>err.txt || fail "--csv /dev/null: $(cat err.txt)"
    [ -c /dev/null ] && echo "ok: /dev/null stays a device" || fail "/dev/null is no longer a device"
fi
# what /dev/stdout is: a link to /proc/self/fd/1, here "pipe:[N]" (our own link, so a broken writer could only
# replace that)
ln -s /proc/self/fd/1 stdout
"$bin" "${curve[@]}" --csv stdout --plot none 2>err.txt | grep -q '^mfu,gpus_used' \
    && echo "ok: --csv to a link to stdout on a pipe" || fail "--csv stdout: $(cat err.txt)"
[ -L stdout ] || fail "the link to stdout was replaced"
# a write that fails is a runtime error: a full device (our own, or /dev/full when /dev is not ours to break)
full=
if mknod full c 1 7 2>/dev/null; then full=full; elif [ ! -w /dev ] && [ -c /dev/full ]; then full=/dev/full; fi
if [ -n "$full" ]; then
    expect 1 "$full: write failed" "${curve[@]}" --csv "$full" --plot none
    [ -c "$full" ] || fail "$full was replaced"
fi

# a link to a file: the file is replaced, the link stays
echo old >real.csv
ln -s real.csv link.csv
"$bin" "${curve[@]}" --csv link.csv --plot none >/dev/null 2>err.txt || fail "--csv link.csv: $(cat err.txt)"
[ -L link.csv ] && grep -q '^mfu,gpus_used' real.csv && echo "ok: written through the link" \
    || fail "link.csv: the link was replaced or real.csv not written"

# a regular file replaced whole, nothing else left in the directory
echo old >out.csv
"$bin" "${curve[@]}" --csv out.csv --plot none >/dev/null 2>err.txt || fail "--csv out.csv: $(cat err.txt)"
grep -q '^mfu,gpus_used' out.csv && echo "ok: out.csv replaced" || fail "out.csv not written"
left=$(ls -A | grep -v -x -e adir -e dangling.csv -e pipe -e from_pipe -e nul -e real.csv -e link.csv \
       -e out.csv -e err.txt -e stdout -e full || true)
[ -z "$left" ] && echo "ok: no temporary files left" || fail "left behind: $left"

# claim: a cluster that cannot do what the flag asks is named with its file, not blamed on a flag claim lacks
a100=$src/configs/clusters/a100-80gb.json
for flag in --h100 --h200 --cluster; do
    expect 2 "$flag $a100: gpu 'NVIDIA A100" claim --no-sensitivity "$flag" "$a100"
    err=$("$bin" claim --no-sensitivity "$flag" "$a100" 2>&1 >/dev/null)
    ! grep -q -- "--precision" <<<"$err" || fail "claim $flag A100 still blames --precision: $err"
done
expect 2 "needs an FP8-capable cluster" claim --no-sensitivity --h100 "$a100"

# claim --profile: a profile that is not the claim's chunk, or lacks a key, is refused naming the flag, the file
# and the key; "none" leaves the comparison out
prof=$src/configs/calibration/deepseek-v3-h800-profile.json
sed 's/"tokens": 4096/"tokens": 2048/' "$prof" >p_tokens.json
expect 2 "--profile p_tokens.json: cannot compare it with the claim's chunk (--profile none skips it)" \
    claim --no-sensitivity --profile p_tokens.json
expect 2 "p_tokens.json: the profile's micro-batch has 2048 tokens on 112 SMs; the plan's has 4096" \
    claim --no-sensitivity --profile p_tokens.json
sed '/"compute_busy_ms"/d' "$prof" >p_nokey.json
expect 2 "p_nokey.json: key compute_busy_ms: missing" claim --no-sensitivity --profile p_nokey.json
sed 's/^  56,$/  6e31,/' "$prof" >p_ctas.json
expect 2 "p_ctas.json: key gemm_ctas: 6e+31 is not a whole CTA count" claim --no-sensitivity --profile p_ctas.json
out=$("$bin" claim --no-sensitivity --profile none 2>&1) || fail "claim --profile none: $out"
! grep -q "DeepSeek's own H800" <<<"$out" && echo "ok: claim --profile none" || fail "claim --profile none still compares"
rm -f p_tokens.json p_nokey.json p_ctas.json

# nothing written outside the paths given: gnuplot's script and output travel through memory, so a TMPDIR that
# does not exist changes nothing; no temporary file is left beside the outputs
if command -v gnuplot >/dev/null; then
    mkdir -p outdir
    TMPDIR=$tmp/no-such-tmpdir "$bin" "${curve[@]}" --csv outdir/c.csv --plot outdir/c.png >/dev/null 2>&1 ||
        fail "cost curve needs a temporary directory"
    [ ! -e no-such-tmpdir ] || fail "TMPDIR was created"
    [ "$(ls -A outdir | sort | tr '\n' ' ')" = "c.csv c.png " ] || fail "outdir holds $(ls -A outdir)"
else
    echo "skipped part: no gnuplot"
fi
echo "$fails failure(s)"
exit $((fails > 0))
