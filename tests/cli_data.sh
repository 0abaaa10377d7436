#!/usr/bin/env bash
# fp8lab data build | info | builtin end to end: text -> byte-level llm.c shards with a validation split, what
# `data info` prints, shards written the way llm.c's dev/data/data_common.py writes them (uint16 and uint32), and
# bad flags and bad shards refused with status 2 and a message naming the flag or file.
set -u
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

expect() { # expect <status> <stderr substring> <args...>
    local want=$1 msg=$2; shift 2
    local err; err=$("$bin" "$@" 2>&1 >/dev/null); local rc=$?
    if [ "$rc" -ne "$want" ] || ! grep -qF -- "$msg" <<<"$err"; then
        fail "fp8lab $* -> status $rc, stderr: $err (wanted $want and '$msg')"
    else
        echo "ok: -> $rc: $(head -1 <<<"$err")"
    fi
}

# a small text: 20000 bytes in two files
for i in $(seq 1 400); do echo "line $i: the quick brown fox jumps over the lazy dog."; done >a.txt
head -c 20000 a.txt >t1.txt
: >t2.txt
printf 'tail of the text\n' >>t2.txt
n=$(( $(wc -c <t1.txt) + $(wc -c <t2.txt) ))

out=$("$bin" data build t1.txt t2.txt --out shards --seq-len 64 --shard-tokens 7000 2>&1)
rc=$?
[ "$rc" -eq 0 ] || fail "data build: status $rc: $out"
echo "$out"
val=$(( (n + 9) / 10 ))
train=$(( n - val ))
grep -qF "train: $train tokens in 3 shards" <<<"$out" || fail "data build: expected $train training tokens in 3 shards"
grep -qF "val:   $val tokens in 1 shard" <<<"$out" || fail "data build: expected $val validation tokens"
[ -f shards/data_train_000002.bin ] && [ -f shards/data_val_000000.bin ] && [ ! -e shards/data_train_000003.bin ] ||
    fail "data build: wrong files: $(ls shards)"
[ "$(ls -a shards | wc -l)" -eq 6 ] || fail "data build: stray files in the output folder: $(ls -a shards)"
size=$(stat -c %s shards/data_val_000000.bin)
[ "$size" -eq $((1024 + 2 * val)) ] || fail "data_val_000000.bin: $size bytes, expected $((1024 + 2 * val))"

# the tokens are the bytes: the training shards and the validation shard, concatenated, are the text
if command -v python3 >/dev/null; then
    python3 - "$n" <<'EOF' || fail "shard contents differ from the text"
import struct, sys, glob
data = open("t1.txt", "rb").read() + open("t2.txt", "rb").read()
got = b""
for f in sorted(glob.glob("shards/data_train_*.bin")) + sorted(glob.glob("shards/data_val_*.bin")):
    b = open(f, "rb").read()
    h = struct.unpack("<256i", b[:1024])
    assert h[0] == 20240520 and h[1] == 1 and h[2] == (len(b) - 1024) // 2 and not any(h[3:]), (f, h[:4])
    got += bytes(struct.unpack("<%dH" % h[2], b[1024:]))
assert got == data, "mismatch"
print("ok: shards hold the text byte for byte")
EOF
fi

info=$("$bin" data info shards/data_train_000000.bin shards/data_val_000000.bin)
rc=$?
echo "$info"
[ "$rc" -eq 0 ] || fail "data info: status $rc"
grep -qE "data_val_000000.bin: version 1 \(magic 20240520, uint16 tokens\), $val tokens, token ids 10\.\.122" \
    <<<"$info" ||
    fail "data info: unexpected output for the validation shard"
"$bin" data info --json shards/data_val_000000.bin >info.json || fail "data info --json: status $?"
if command -v python3 >/dev/null; then
    python3 -c "import json; s = json.load(open('info.json'))['shards'][0]
assert s['tokens'] == $val and s['version'] == 1 and s['max_token'] == 122, s" ||
        fail "data info --json: $(cat info.json)"
fi

# a rebuild into the same folder with fewer shards leaves only its own
"$bin" data build t1.txt t2.txt --out shards --seq-len 64 >rebuild.txt || fail "rebuild: status $?"
grep -qF "removed 2 shards of an earlier build" rebuild.txt || fail "rebuild: $(cat rebuild.txt)"
[ ! -e shards/data_train_000001.bin ] || fail "rebuild left data_train_000001.bin"
"$bin" data build t1.txt --out json-out --seq-len 8 --json >build.json || fail "data build --json: status $?"
grep -q '"train_shards":' build.json || fail "data build --json: $(cat build.json)"

# flags: every one has a range, the parser is strict
expect 2 "--val-fraction: 0.9 is not in (0, 0.5]" data build t1.txt --out x --val-fraction 0.9
expect 2 "--val-fraction: 0 is not in (0, 0.5]" data build t1.txt --out x --val-fraction 0
expect 2 "--shard-tokens: bad value '1.5'" data build t1.txt --out x --shard-tokens 1.5
expect 2 "--shard-tokens: 1 is not in [2, 2147483647]" data build t1.txt --out x --shard-tokens 1
expect 2 "--seq-len: 0 is not in [1, 1048576]" data build t1.txt --out x --seq-len 0
expect 2 "--seq-len: bad value '0x10'" data build t1.txt --out x --seq-len 0x10
expect 2 "--out is required" data build t1.txt
expect 2 "no TEXT files given" data build --out x
expect 2 "unknown flag '--bogus'" data build t1.txt --out x --bogus 1
expect 2 "missing.txt: cannot open" data build missing.txt --out x
expect 2 "fewer than seq_len + 1 = 1025" data build t2.txt --out x
expect 2 "a.txt/x" data build t1.txt --out a.txt/x
expect 2 "unknown data command 'bogus'" data bogus
expect 2 "--vocab: 0 is not in [1, 4294967296]" data info --vocab 0 shards/data_val_000000.bin
expect 2 "no FILE given" data info
[ ! -e x ] || fail "a refused build created its output folder"

# bad shards
expect 2 "t1.txt: header[0] (magic)" data info t1.txt
expect 2 "nosuch.bin: cannot open" data info nosuch.bin
expect 2 "expected a token id < 100" data info --vocab 100 shards/data_val_000000.bin
head -c 2000 shards/data_val_000000.bin >cut.bin
expect 2 "cut.bin: header[2] (token count) = $val, but the file holds 976 bytes of tokens" data info cut.bin
: >empty.bin
expect 2 "empty.bin: empty file" data info empty.bin
# one bad file among good ones: the good ones are still listed, the status says something failed
"$bin" data info shards/data_val_000000.bin empty.bin >mixed.txt 2>/dev/null
rc=$?
[ "$rc" -eq 2 ] && grep -q "data_val_000000.bin: version 1" mixed.txt || fail "mixed info: status $rc, $(cat mixed.txt)"

# shards as llm.c's dev/data scripts write them (GPT-2: uint16, version 1; llama-3: magic 20240801, uint32, version 7)
if command -v python3 >/dev/null; then
    python3 - <<'EOF'
import struct
def shard(name, magic, version, fmt, toks):
    with open(name, "wb") as f:
        f.write(struct.pack("<256i", magic, version, len(toks), *([0] * 253)))
        f.write(struct.pack("<%d%s" % (len(toks), fmt), *toks))
shard("gpt2.bin", 20240520, 1, "H", [50256, 15496, 11, 995, 0, 3])
shard("llama3.bin", 20240801, 7, "I", [128000, 9906, 11, 1917, 0, 128001])
shard("v2.bin", 20240520, 2, "H", [1, 2, 3])
EOF
    info=$("$bin" data info gpt2.bin llama3.bin)
    echo "$info"
    grep -qF "gpt2.bin: version 1 (magic 20240520, uint16 tokens), 6 tokens, token ids 0..50256" <<<"$info" ||
        fail "llm.c GPT-2 shard: $info"
    grep -qF "llama3.bin: version 7 (magic 20240801, uint32 tokens), 6 tokens, token ids 0..128001" <<<"$info" ||
        fail "llm.c llama-3 shard: $info"
    expect 2 "v2.bin: header[1] (version) = 2, expected 1 with magic 20240520" data info v2.bin
    expect 2 "llama3.bin: token 0 = 128000, expected a token id < 50257" data info --vocab 50257 llama3.bin
fi

# the built-in corpus: missing source names the package; the real one when Debian's fortunes is installed
expect 2 "apt-get install fortunes" data builtin --cache c1 --source "$tmp/no-such-folder"
if [ -d /usr/share/games/fortunes ]; then
    out=$("$bin" data builtin --cache cache 2>&1) || fail "data builtin: $out"
    echo "$out"
    grep -qF "built the corpus" <<<"$out" || fail "data builtin did not build: $out"
    out=$("$bin" data builtin --cache cache 2>&1) || fail "data builtin (cached): $out"
    grep -qF "cached:" <<<"$out" || fail "data builtin rebuilt a cached corpus: $out"
    "$bin" data info --vocab 256 cache/data_train_*.bin cache/data_val_*.bin || fail "built-in shards do not check"
else
    echo "note: Debian package 'fortunes' not installed: the real built-in corpus is not built here"
fi

[ "$fails" -eq 0 ] && echo "all data CLI checks passed" || echo "$fails failure(s)"
[ "$fails" -eq 0 ]
