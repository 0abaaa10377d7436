#!/usr/bin/env bash
# fp8lab train --profile on the CPU: a 3-step run of the default byte-level GPT-2 (4 layers) under fp8-block and
# bf16. The table has one row per op kind in order (GEMM, quantize, attention, norm/activation, optimizer,
# other), then "outside the ops" and "step"; the GEMM row counts the model's 3 x (4 Linears x 4 layers + head)
# = 51 GEMMs per step; GEMM and attention rates in TFLOP/s, the others in GB/s; the shares add up to 100 %; the
# step row is the measured step time. --json carries the same as a "profile" object; without --profile there is
# no table; --help says that profiling serialises the GPU. No timing is asserted beyond the sums.
source "$(dirname "${BASH_SOURCE[0]}")/cli_common.bash"
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-2}

train_data
run=(train --device cpu --steps 3 --batch 4 --seq 32 --warmup 1 --val-every 0 --sample-every 0 --checkpoint-every 0
     "${data[@]}")

# the table's rows, checked by awk: kinds in order, numbers where numbers belong, units, shares summing to 100
check_table() { # check_table <file> <recipe>
    awk -v recipe="$2" '
        BEGIN { n = split("GEMM quantize attention norm/activation optimizer other", kinds, " ") }
        /^step time: measured / { measured = $4 }
        /^profile: 3 steps on cpu \(/ { inp = 1; next }
        inp && /^op kind/ { next }
        inp && $1 == "outside" { rest_pct = $6 + 0; next }
        inp && $1 == "step" { step_ms = $2 + 0; step_pct = $3; inp = 0; next }
        inp {
            k++
            if ($1 != kinds[k]) bad = bad " row " k " is " $1 " (expected " kinds[k] ")"
            if ($2 !~ /^[0-9]+\.[0-9]$/ || $3 !~ /^[0-9]+\.[0-9]+$/ || $4 !~ /^[0-9]+\.[0-9]%$/)
                bad = bad " " $1 ": not numbers: " $0
            calls[$1] = $2 + 0; pct += $4 + 0
            unit = $NF
            if ($2 + 0 > 0 && ($1 == "GEMM" || $1 == "attention") && unit != "TFLOP/s") bad = bad " " $1 " unit " unit
            if ($2 + 0 > 0 && $1 != "GEMM" && $1 != "attention" && unit != "GB/s" && unit != "-")
                bad = bad " " $1 " unit " unit
        }
        END {
            if (k != n) bad = bad " " k " kind rows (expected " n ")"
            if (calls["GEMM"] != 51) bad = bad " GEMM calls/step " calls["GEMM"] " (expected 51)"
            if (calls["attention"] != 8)
                bad = bad " attention calls/step " calls["attention"] " (expected 4 fwd + 4 bwd)"
            if (calls["optimizer"] < 2) bad = bad " optimizer calls/step " calls["optimizer"]
            if (calls["quantize"] <= 0) bad = bad " no quantize calls under " recipe
            s = pct + rest_pct
            if (s < 99.4 || s > 100.6) bad = bad " shares add up to " s " %"
            if (step_pct != "100.0%") bad = bad " step row share " step_pct
            if (measured == "" || step_ms <= 0 || (step_ms - measured) ^ 2 > (0.006 * measured + 0.01) ^ 2)
                bad = bad " step row " step_ms " ms vs measured " measured " ms"
            if (bad != "") { print bad; exit 1 }
        }' "$1"
}

for recipe in fp8-block bf16; do
    "$bin" "${run[@]}" --recipe "$recipe" --out "run-$recipe" --profile >"prof-$recipe.txt" 2>&1
    rc=$?
    [ "$rc" -eq 0 ] || fail "--profile --recipe $recipe: status $rc: $(tail -5 "prof-$recipe.txt")"
    sed -n '/^step time:/,$p' "prof-$recipe.txt"
    msg=$(check_table "prof-$recipe.txt" "$recipe") || fail "--recipe $recipe table: $msg"
done

# --json: the same numbers in a "profile" object on stdout, the table on stderr
"$bin" "${run[@]}" --out run-json --profile --json >prof.json 2>prof.err || fail "--profile --json: $(tail -3 prof.err)"
grep -q "^profile: 3 steps on cpu" prof.err || fail "--json: the table is not on stderr"
if command -v python3 >/dev/null; then
    python3 - <<'PY' || fail "--json profile object"
import json
p = json.load(open("prof.json"))["profile"]
kinds = [k["kind"] for k in p["kinds"]]
assert kinds == ["GEMM", "quantize", "attention", "norm/activation", "optimizer", "other"], kinds
g = p["kinds"][0]
assert p["steps"] == 3 and p["step_ms"] > 0, p
assert g["calls_per_step"] == 51 and "tflops" in g and (g["tflops"] is None or g["tflops"] > 0), g
assert all(("gbps" in k) for k in p["kinds"] if k["kind"] not in ("GEMM", "attention")), p
assert sum(k["pct_of_step"] for k in p["kinds"]) <= 100.5, p
PY
fi

# without --profile: no table
"$bin" "${run[@]}" --out run-plain >plain.txt 2>&1 || fail "plain run: $(tail -3 plain.txt)"
! grep -q "^profile:" plain.txt || fail "a table without --profile"
grep -q "^step time: measured .* (the simulator has no model of a CPU: no prediction)" plain.txt ||
    fail "no 'step time' line with the CPU's missing prediction: $(tail -3 plain.txt)"

"$bin" train --help 2>&1 | grep -A4 -e "--profile" | grep -q "serialises" ||
    fail "--help: --profile does not say it serialises the GPU"

finish
