#!/usr/bin/env bash
# Hostile text on its way into a chart: cluster names, --title, gpu=FILE names and output paths must reach
# gnuplot as text, never as script. Every payload tries to create a marker file; none may appear, and every
# run still succeeds (or fails cleanly with status 2). A normal run still draws a real PNG and SVG. Labels in
# the CSV never read as spreadsheet formulas.
set -u
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
src=${FP8LAB_SOURCE_DIR:?run through ctest}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
model=$src/configs/models/gpt2-124m.json
base=$src/configs/clusters/h100-sxm.json
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# cluster file $1 with the JSON string literal $2 as its "name"
cluster_named() {
    { echo '{'; printf '  "name": %s,\n' "$2"; sed 1d "$base" | grep -v '^  "name":'; } >"$1"
}

# CSV formula injection (no chart needed): a gpu label that a spreadsheet would run as a formula reaches the
# CSV as text, behind a single quote. gpu=NAME is NAME.json next to --cluster, so a NAME with a slash is a
# file in a subdirectory, and the whole NAME is the label.
evil="=cmd|' /C calc'!A0"
mkdir -p "csvinj/${evil%%/*}"
cluster_named "csvinj/base.json" '"=cmd|'"'"' /C calc'"'"'!A0"'
cp "csvinj/base.json" "csvinj/$evil.json"
cp "$base" "csvinj/@SUM(1+1).json"
gpus="gpu=$evil,@SUM(1+1)"
for how in vary vary2; do
    args=(--vary "$gpus")
    [ "$how" = vary ] || args=(--vary mfu=0.3 --vary2 "$gpus")
    rm -f inj.csv
    "$bin" cost curve --model "$model" --cluster csvinj/base.json --gpus 8 "${args[@]}" --csv inj.csv --plot none \
        >/dev/null 2>err.txt || { fail "CSV injection (--$how gpu): $(cat err.txt)"; continue; }
    cells=$(tail -n +2 inj.csv | cut -d, -f1-2)
    if grep -qF "'$evil" <<<"$cells" && grep -qF "'@SUM(1+1)" <<<"$cells" && ! grep -qE '(^|,)[=@+-]' <<<"$cells"; then
        echo "ok: CSV injection (--$how gpu): the labels start with a quote"
    else
        fail "CSV injection (--$how gpu): formula cells in: $cells"
    fi
done

command -v gnuplot >/dev/null 2>&1 || { echo "skipped: no gnuplot"; [ "$fails" -eq 0 ] || exit 1; exit 77; }
is_png() { [ "$(head -c 8 "$1" 2>/dev/null | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ]; }
markers() { ls -A "$tmp" | grep '^pwn' || true; }

# run <what> <args...>: status 0 (with a PNG) or 2, and no marker files
run() {
    local what=$1; shift
    rm -f out.png out.csv
    local err; err=$("$bin" "$@" 2>&1 >/dev/null); local rc=$? before=$fails
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 2 ]; then fail "$what: status $rc: $err"; fi
    if [ "$rc" -eq 0 ] && ! is_png out.png; then fail "$what: status 0 but out.png is not a PNG"; fi
    local m; m=$(markers)
    if [ -n "$m" ]; then fail "$what: gnuplot ran a command (created $m)"; rm -f "$tmp"/pwn*; fi
    [ "$fails" -ne "$before" ] || echo "ok: $what -> $rc ${err:0:100}"
}

# JSON string literals: each decodes to a payload that creates ./pwnN if pasted into a gnuplot script
names=(
    '"a\"; system(\"touch pwn1\"); b=\""'
    '"a'"'"'; system('"'"'touch pwn2'"'"'); b='"'"'"'
    '"a`touch pwn3`b"'
    '"a\nsystem(\"touch pwn4\")\nb"'
    '"x\"\nEOD\nsystem(\"touch pwn5\")\n$e << EOD\n"'
    '"@m `touch pwn6` @GPVAL_TERM"'
    '"a\\\"; system(\"touch pwn7\"); b=\\\""'
    '"a\r\u0000system(\"touch pwn8\")"'
)
long='"'$(printf 'x%.0s' $(seq 1 400))'\"; system(\"touch pwn9\"); b=\""'
names+=("$long")
i=0
for n in "${names[@]}"; do
    i=$((i + 1))
    cluster_named "c$i.json" "$n"
    run "cluster name #$i" cost curve --model "$model" --cluster "c$i.json" --gpus 8 --vary precision=bf16,fp8 \
        --csv out.csv --plot out.png
    run "cluster name #$i, gpu sweep" cost curve --model "$model" --cluster "$base" --gpus 8 \
        --vary precision=bf16,fp8 --vary2 "gpu=$tmp/c$i.json,h100-sxm" --csv out.csv --plot out.png
done

titles=(
    'a"; system("touch pwn11"); b="'
    "a'; system('touch pwn12'); b='"
    'a`touch pwn13`b'
    $'a\nsystem("touch pwn14")\n'
    $'a"\nEOD\nsystem("touch pwn15")\n'
    '@x `touch pwn16`'
    'a\"; system("touch pwn17"); b=\"'
    "$(printf 'y%.0s' $(seq 1 5000))\"; system(\"touch pwn18\")"
)
for t in "${titles[@]}"; do
    run "--title ${t:0:40}" cost curve --model "$model" --cluster "$base" --gpus 8 --vary mfu=0.3,0.5 \
        --title "$t" --csv out.csv --plot out.png
done

# gpu=FILE values whose file names are the payload (the label is the file's stem)
for stem in 'a"; system("touch pwn21"); b="' "a'; system('touch pwn22'); b='" 'q`touch pwn23`' \
    $'n\nsystem("touch pwn24")\nEOD\nsystem("touch pwn25")'; do
    cp "$base" "$stem.json"
    run "gpu file ${stem:0:30}" cost curve --model "$model" --cluster "$base" --gpus 8 \
        --vary "gpu=$tmp/$stem.json,h100-sxm" --csv out.csv --plot out.png
    run "gpu file ${stem:0:30} (vary2)" cost curve --model "$model" --cluster "$base" --gpus 8 \
        --vary mfu=0.3,0.5 --vary2 "gpu=$tmp/$stem.json,h100-sxm" --csv out.csv --plot out.png
done

# output paths never enter the script: a hostile name is just a file name
for p in "o'; system('touch pwn31'); '.png" 'o"; system("touch pwn32"); ".png' 'o`touch pwn33`.png' \
    "o\$(touch pwn34).png"; do
    rm -f -- "$p"
    "$bin" cost curve --model "$model" --cluster "$base" --gpus 8 --vary mfu=0.3,0.5 --csv out.csv --plot "$p" \
        >/dev/null 2>err.txt
    rc=$?
    if [ "$rc" -ne 0 ] || ! is_png "$p"; then fail "--plot '$p': status $rc, $(cat err.txt)"; else echo "ok: --plot '$p'"; fi
    rm -f -- "$p"
    m=$(markers)
    [ -z "$m" ] || { fail "--plot '$p': created $m"; rm -f "$tmp"/pwn*; }
done

# the claim's chart goes through the same path
rc=0
"$bin" claim --no-sensitivity --model "$src/configs/models/deepseek-v3.json" \
    --cluster "$src/configs/clusters/h800-2048.json" --h100 "$base" --h200 "$src/configs/clusters/h200.json" \
    --a100 "$src/configs/clusters/a100-80gb.json" --plot "c'\`touch pwn41\`.png" >/dev/null 2>err.txt || rc=$?
if [ "$rc" -ne 0 ] || ! is_png "c'\`touch pwn41\`.png"; then fail "claim --plot: status $rc, $(cat err.txt)"; else echo "ok: claim --plot"; fi
[ -z "$(markers)" ] || fail "claim --plot: created $(markers)"

# a normal run draws real pictures
"$bin" cost curve --model "$model" --cluster "$base" --gpus 8 --vary gpus=8:64:4 --vary2 precision=bf16,fp8 \
    --csv out.csv --plot out.png >/dev/null 2>err.txt || fail "normal PNG run: $(cat err.txt)"
is_png out.png && echo "ok: normal run wrote a PNG" || fail "normal run: out.png is not a PNG"
"$bin" cost curve --model "$model" --cluster "$base" --gpus 8 --vary gpus=8:64:4 --csv out.csv --plot out.svg \
    >/dev/null 2>err.txt || fail "normal SVG run: $(cat err.txt)"
grep -q '<svg' out.svg 2>/dev/null && echo "ok: normal run wrote an SVG" || fail "normal run: out.svg is not an SVG"

[ -z "$(markers)" ] || fail "marker files at the end: $(markers)"
echo "$fails failure(s)"
exit $((fails > 0))
