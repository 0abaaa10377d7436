#!/usr/bin/env bash
# fp8lab train --compare end to end: configs/runs/tiny.json trained as bf16 and fp8-block on the same seed and
# data (--json: each recipe's losses, the rel diff recomputed here from them, the metrics files read back, the
# final validation losses within 1 % of each other: the issue's acceptance), the side-by-side table, the chart
# (or plot null without gnuplot), and the refusals with status 2: an unknown or repeated recipe, fewer than two,
# an empty name, --recipe / --resume / --dry-run / --stop-at with --compare, and an --out holding earlier runs.
# Pinned to the CPU backend; sampling and intermediate checkpoints are off (they do not change the losses).
source "$(dirname "${BASH_SOURCE[0]}")/cli_common.bash"
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-2}

tiny="$src/configs/runs/tiny.json"

# ---- refusals first: instant, and none may create its output folder ----
two=(train --config "$tiny" --compare bf16,fp8-block --out bad)
expect 2 "give at least two recipes" train --config "$tiny" --compare bf16 --out bad
expect 2 "recipe 'fp4': expected fp32, bf16" train --config "$tiny" --compare bf16,fp4 --out bad
expect 2 "recipe bf16 is listed twice" train --config "$tiny" --compare bf16,fp8-block,bf16 --out bad
expect 2 "an empty recipe name" train --config "$tiny" --compare bf16,,fp8-block --out bad
expect 2 "an empty recipe name" train --config "$tiny" --compare= --out bad
expect 2 "--compare cannot be combined with --recipe" "${two[@]}" --recipe bf16
expect 2 "--compare cannot be combined with --recipe" "${two[@]}" --recipe=bf16
expect 2 "--compare cannot be combined with --resume" "${two[@]}" --resume
expect 2 "--compare cannot be combined with --dry-run" "${two[@]}" --dry-run
expect 2 "--compare cannot be combined with --stop-at" "${two[@]}" --stop-at 3
[ ! -e bad ] || fail "a refused comparison created its output folder"

train_data

# ---- the comparison ----
"$bin" train --device cpu --config "$tiny" --compare bf16,fp8-block --sample-every 0 --checkpoint-every 0 \
    --out cmp "${data[@]}" --json >cmp.json 2>cmp.err
rc=$?
[ "$rc" -eq 0 ] || fail "train --compare: status $rc: $(tail -5 cmp.err)"
sed -n '/^training loss every/,$p' cmp.err
grep -qE '^ +step +bf16 +fp8-block$' cmp.err || fail "no side-by-side table header in stderr"
[ "$(grep -cE '^ +(0|10|20) val +[0-9.]+ +[0-9.]+$' cmp.err)" -eq 3 ] || fail "table: expected val rows at 0, 10, 20"
for r in bf16 fp8-block; do
    [ "$(wc -l <"cmp/$r/metrics.jsonl")" -eq 20 ] || fail "cmp/$r/metrics.jsonl: not 20 lines"
    [ -f "cmp/$r/checkpoint-20/model.safetensors" ] || fail "cmp/$r: no checkpoint-20"
done
if command -v gnuplot >/dev/null; then have_gnuplot=1; else have_gnuplot=0; fi
if command -v python3 >/dev/null; then
    HAVE_GNUPLOT=$have_gnuplot python3 - <<'EOF' || fail "cmp.json / metrics contents"
import json, math, os
out = json.load(open("cmp.json"))
recs = out["recipes"]
assert [r["recipe"] for r in recs] == ["bf16", "fp8-block"], recs
for r in recs:
    for k in ("first_loss", "loss", "first_val_loss", "val_loss", "tokens_per_s"):
        assert isinstance(r[k], float) and r[k] > 0, (r["recipe"], k, r[k])
    assert r["step"] == 20 and r["metrics"] == "cmp/%s/metrics.jsonl" % r["recipe"], r
    rows = [json.loads(l) for l in open(r["metrics"])]
    assert [x["step"] for x in rows] == list(range(1, 21)), r["metrics"]
    assert [x["step"] for x in rows if "val_loss" in x] == [10, 20], r["metrics"]
    # what the JSON reports is what the run logged
    assert r["first_loss"] == rows[0]["loss"] and r["loss"] == rows[-1]["loss"], r
    assert r["val_loss"] == rows[-1]["val_loss"], r
    assert r["val_loss"] < r["first_val_loss"] - 0.5, r  # it learned something: ~5.5 -> ~3.7
a, b = recs[0], recs[1]
# the same seed and data: the same initial weights, so the step-0 validation losses nearly agree
assert abs(a["first_val_loss"] - b["first_val_loss"]) < 0.01 * a["first_val_loss"], (a, b)
# recomputed from the printed losses: cJSON may print a double 1 ulp off, which the difference of two close
# numbers magnifies to ~1e-12 relative, hence rel_tol 1e-9
want = abs(b["val_loss"] - a["val_loss"]) / a["val_loss"]
got = out["final_val_loss_rel_diff"]
assert math.isclose(got, want, rel_tol=1e-9), (got, want)
assert math.isclose(b["val_loss_rel_diff"], want, rel_tol=1e-9) and a["val_loss_rel_diff"] is None, recs
assert math.isclose(out["final_loss_rel_diff"], abs(b["loss"] - a["loss"]) / a["loss"], rel_tol=1e-9), out
# the acceptance: final validation losses within 1 % of each other
assert got < 0.01, "final val loss rel diff %.4f %% >= 1 %%" % (100 * got)
assert out["reference"] == "bf16", out
if os.environ["HAVE_GNUPLOT"] == "1":
    assert out["plot"] == "cmp/compare.png", out["plot"]
    assert open("cmp/compare.png", "rb").read(8) == b"\x89PNG\r\n\x1a\n"
else:
    assert out["plot"] is None and not os.path.exists("cmp/compare.png"), out["plot"]
print("final val loss: bf16 %.4f, fp8-block %.4f: rel diff %.4f %%" % (a["val_loss"], b["val_loss"], 100 * got))
EOF
fi

# ---- an --out holding these runs is refused before anything trains ----
before=$(cat cmp/bf16/metrics.jsonl)
expect 2 "holds checkpoints of an earlier run" \
    train --device cpu --config "$tiny" --compare bf16,fp8-block --out cmp "${data[@]}"
[ "$before" = "$(cat cmp/bf16/metrics.jsonl)" ] || fail "the refused comparison rewrote cmp/bf16/metrics.jsonl"

finish
