#!/usr/bin/env bash
# ZeRO-1 in fp8lab train (--zero 1, train/dp.h): the gradients reduce-scattered, each rank's AdamW on its block of
# the buffer, the FP32 weights all-gathered; Open MPI ranks (mpirun --oversubscribe, CPU backend, fp32 recipe,
# configs/runs/tiny.json):
#   1. 4 ranks with and without --zero 1, in fp32 and in the default fp8-block recipe: the same final training and
#      validation loss and the same weights (CRC-32C) to the bit, weights identical on every rank: the exact
#      gradient planes (nn/grad_sink.h) are reduce-scattered instead of all-reduced, which gives the same sums in
#      any order, and AdamW is elementwise (before the exact sums: 4e-6 apart in fp32, from Open MPI's other
#      summation order);
#   2. a checkpoint written with --zero 1 by 4 ranks at step 10 (each rank its block of the moments in
#      optimizer-R-of-4.safetensors, the rest in optimizer-shared.safetensors, optimizer.manifest.json naming
#      them) resumed WITHOUT ZeRO by 2 ranks at --batch 8 and by 1 rank at --batch 16 (the same global batch):
#      both end within 1e-5 of run 1's plain result (measured: equal; with a shard missing, its block of the
#      moments would be zeros); a shard with a flipped byte is refused naming the file;
#   3. 2 ranks with and without --zero 1: bit-identical weights (the same CRC-32C) and byte-identical
#      model.safetensors; the ZeRO-1 checkpoint has the sharded optimizer files and no optimizer.safetensors;
#   4. 3 ranks (858880 floats: a remainder of 1 float after 3 blocks, owned by every rank) within 1e-5 relative
#      of 3 ranks without ZeRO, weights identical across ranks;
#   5. --zero 1 on one rank (no mpirun): the plain step, the same loss to the last digit; --zero 2 refused;
#   6. --zero-gather bf16 and fp8 (the updated blocks all-gathered rounded, the FP32 masters sharded), 4 ranks:
#      weights identical across ranks, final losses within 3 % of the FP32 gather's (measured 0.5 % and 1.0 %),
#      a run stopped at step 10 and resumed ends with the uninterrupted run's weights to the bit (checkpoints
#      hold the FP32 masters), and a bf16 checkpoint of 4 ranks resumed by 2 at --batch 8 too (BF16 rounding is
#      elementwise, so the rank count does not change it); --zero-gather fp4 refused.
# Skipped where mpirun or the MPI build is missing.
source "$(dirname "$0")/cli_common.bash" "$1"

mpi_setup

train_data
cfg=(--config "$src/configs/runs/tiny.json" --device cpu --recipe fp32 --sample-every 0 "${data[@]}")

# 1. 4 ranks, with and without ZeRO-1
out=$(ranks 1 --out probe --steps 1 2>&1)
if grep -q "built without MPI" <<<"$out"; then echo "skipped: fp8lab built without MPI"; exit 77; fi
# the console's "weights identical across N ranks (CRC-32C X on rank 0)"
same_crc() {
    local a b
    a=$(grep -o 'CRC-32C [0-9a-f]*' "$2")
    b=$(grep -o 'CRC-32C [0-9a-f]*' "$3")
    if [ -n "$a" ] && [ "$a" = "$b" ]; then echo "ok: $1: weights $b in both"
    else fail "$1: weights '$b', reference '$a'"; fi
}
ranks 4 --out plain4 >plain4.json 2>plain4.err || fail "4 ranks: $(tail -3 plain4.err)"
ranks 4 --zero 1 --out zero4 >zero4.json 2>zero4.err || fail "4 ranks --zero 1: $(tail -3 zero4.err)"
compare "4 ranks, --zero 1 against --zero 0" plain4.json zero4.json 0
same_crc "4 ranks, --zero 1 against --zero 0" plain4.err zero4.err
grep -q "ZeRO-1" zero4.err || fail "4 ranks --zero 1: the console does not say ZeRO-1"
ranks 4 --recipe fp8-block --out plain4b >plain4b.json 2>plain4b.err || fail "4 ranks fp8-block: $(tail -3 plain4b.err)"
ranks 4 --recipe fp8-block --zero 1 --out zero4b >zero4b.json 2>zero4b.err ||
    fail "4 ranks fp8-block --zero 1: $(tail -3 zero4b.err)"
compare "4 ranks fp8-block, --zero 1 against --zero 0" plain4b.json zero4b.json 0
same_crc "4 ranks fp8-block, --zero 1 against --zero 0" plain4b.err zero4b.err

# 2. a ZeRO-1 checkpoint resumed without ZeRO on 2 ranks
ranks 4 --zero 1 --out split --stop-at 10 >split.json 2>split.err ||
    fail "4 ranks --zero 1 to step 10: $(tail -3 split.err)"
cp -r split split1
cp -r split splitbad
ranks 2 --batch 8 --out split --resume >resume2.json 2>resume2.err || fail "2 ranks resuming: $(tail -3 resume2.err)"
[ "$(key resume2.json resumed_from)" = 10 ] || fail "2 ranks: resumed_from $(key resume2.json resumed_from), wanted 10"
compare "4 ranks --zero 1 to step 10, then 2 ranks without" plain4.json resume2.json 1e-5
"$bin" train "${cfg[@]}" --json --batch 16 --out split1 --resume >resume1.json 2>resume1.err ||
    fail "1 rank resuming: $(tail -3 resume1.err)"
compare "4 ranks --zero 1 to step 10, then 1 rank" plain4.json resume1.json 1e-5
shard=splitbad/checkpoint-10/optimizer-1-of-4.safetensors
[ -s "$shard" ] || fail "no $shard"
printf '\x55' | dd of="$shard" bs=1 seek=$(($(stat -c %s "$shard") - 7)) conv=notrunc status=none
if "$bin" train "${cfg[@]}" --json --batch 16 --out splitbad --resume >/dev/null 2>bad.err; then
    fail "a flipped byte in $shard: resumed anyway"
elif grep -q "optimizer-1-of-4.safetensors" bad.err; then echo "ok: a flipped byte in $shard: $(grep -m1 "optimizer-1-of-4" bad.err)"
else fail "a flipped byte in $shard: the error does not name it: $(tail -3 bad.err)"; fi

# 3. 2 ranks: bit-identical
ranks 2 --steps 10 --out plain2 >plain2.json 2>plain2.err || fail "2 ranks: $(tail -3 plain2.err)"
ranks 2 --steps 10 --zero 1 --out zero2 >zero2.json 2>zero2.err || fail "2 ranks --zero 1: $(tail -3 zero2.err)"
same_crc "2 ranks, --zero 1 against --zero 0" plain2.err zero2.err
if cmp -s plain2/checkpoint-10/model.safetensors zero2/checkpoint-10/model.safetensors; then
    echo "ok: 2 ranks: checkpoint-10/model.safetensors byte-identical with and without --zero 1"
else fail "2 ranks: checkpoint-10/model.safetensors differs with --zero 1"; fi
for f in optimizer.manifest.json optimizer-0-of-2.safetensors optimizer-1-of-2.safetensors optimizer-shared.safetensors; do
    [ -s "zero2/checkpoint-10/$f" ] || fail "2 ranks --zero 1: no checkpoint-10/$f"
done
[ ! -e zero2/checkpoint-10/optimizer.safetensors ] || fail "2 ranks --zero 1: optimizer.safetensors written too"

# 4. 3 ranks: blocks and a remainder
ranks 3 --steps 10 --out plain3 >plain3.json 2>plain3.err || fail "3 ranks: $(tail -3 plain3.err)"
ranks 3 --steps 10 --zero 1 --out zero3 >zero3.json 2>zero3.err || fail "3 ranks --zero 1: $(tail -3 zero3.err)"
compare "3 ranks, --zero 1 against --zero 0" plain3.json zero3.json 1e-5

# 5. one rank
"$bin" train "${cfg[@]}" --json --steps 5 --out plain1 >plain1.json 2>plain1.err || fail "1 rank: $(tail -3 plain1.err)"
"$bin" train "${cfg[@]}" --json --steps 5 --zero 1 --out zero1 >zero1.json 2>zero1.err ||
    fail "1 rank --zero 1: $(tail -3 zero1.err)"
if [ -n "$(key zero1.json loss)" ] && [ "$(key zero1.json loss)" = "$(key plain1.json loss)" ]; then
    echo "ok: 1 rank: --zero 1 loss $(key zero1.json loss), the same as without"
else fail "1 rank: --zero 1 loss $(key zero1.json loss), without $(key plain1.json loss)"; fi
expect 2 "zero" train "${cfg[@]}" --steps 1 --zero 2 --out bad

# 6. rounded all-gathers
for g in bf16 fp8; do
    ranks 4 --recipe fp8-block --zero 1 --zero-gather "$g" --out "g$g" >"g$g.json" 2>"g$g.err" ||
        fail "4 ranks --zero-gather $g: $(tail -3 "g$g.err")"
    compare "4 ranks fp8-block, --zero-gather $g against fp32" zero4b.json "g$g.json" 3e-2
    ranks 4 --recipe fp8-block --zero 1 --zero-gather "$g" --out "s$g" --stop-at 10 >/dev/null 2>"s$g.err" ||
        fail "4 ranks --zero-gather $g to step 10: $(tail -3 "s$g.err")"
    [ "$g" = bf16 ] && cp -r sbf16 sbf16.two
    ranks 4 --recipe fp8-block --zero 1 --zero-gather "$g" --out "s$g" --resume >"s$g.json" 2>"s$g.err" ||
        fail "4 ranks --zero-gather $g resuming: $(tail -3 "s$g.err")"
    same_crc "4 ranks --zero-gather $g: stopped at step 10 and resumed, against uninterrupted" "g$g.err" "s$g.err"
done
ranks 2 --recipe fp8-block --zero 1 --zero-gather bf16 --batch 8 --out sbf16.two --resume >two.json 2>two.err ||
    fail "2 ranks resuming a 4-rank --zero-gather bf16 checkpoint: $(tail -3 two.err)"
same_crc "--zero-gather bf16: 4 ranks to step 10, then 2 ranks, against 4 ranks throughout" gbf16.err two.err
expect 2 "zero-gather" train "${cfg[@]}" --steps 1 --zero 1 --zero-gather fp4 --out bad

finish
