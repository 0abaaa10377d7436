#!/usr/bin/env bash
# Every row of configs/calibration/public-runs.json is one `fp8lab sim` command: the row's layout and the
# software of its time (--attention, --tp-overlap, --grad-reduce-after, --grad-fp32, --p2p-async) as flags.
# Each command must give the simulated tokens/GPU/s and error that configs/calibration/README.md and README.md
# print for that row (to their rounding), so that neither table goes stale when the simulator changes.
set -u
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
src=${FP8LAB_SOURCE_DIR:?run through ctest}
command -v python3 >/dev/null || { echo "skipped: python3 not found"; exit 77; }
cd "$src" || exit 1
python3 - "$bin" <<'EOF'
import json, subprocess, sys

sys.path.insert(0, "scripts")
import public_runs

binary = sys.argv[1]
runs = public_runs.load()


def table(path, sim_col, err_col):
    rows = {}
    for line in open(path):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) > err_col and cells[0].isdigit():
            err = cells[err_col].replace("−", "-").replace("%", "").strip()
            rows[int(cells[0])] = (float(cells[sim_col]), float(err))
    return rows


docs = {"configs/calibration/README.md": table("configs/calibration/README.md", 8, 9),
        "README.md": table("README.md", 5, 6)}
bad = 0
for i, r in enumerate(runs, 1):
    try:
        res, sim = public_runs.simulate(binary, r)
    except RuntimeError as e:
        print(f"FAIL: row {i} ({e})")
        bad += 1
        continue
    # the software the row asked for is the software simulated, and --json says so
    want = {"attention": r.get("attention", "flash3"), "tp_overlap": r.get("tp_overlap", "wgrad"),
            "loss": r.get("loss", "fused"),
            "grad_reduce_after": bool(r.get("grad_reduce_after")), "grad_fp32": bool(r.get("grad_fp32")),
            "p2p_async": bool(r.get("p2p_async"))}
    got = {k: res["plan"].get(k) for k in want}
    if got != want:
        print(f"FAIL: row {i}: --json plan says {got}, the flags asked for {want}")
        bad += 1
    err = 100 * public_runs.error(r, sim)
    print(f"row {i:2d} {r['run'][:60]:60s} simulated {sim:9.1f}  error {err:+5.1f} %")
    for path, rows in docs.items():
        if i not in rows:
            print(f"FAIL: {path} has no row {i}")
            bad += 1
        elif abs(rows[i][0] - sim) > 0.051 + 1e-4 * sim or abs(rows[i][1] - err) > 0.051:
            print(f"FAIL: {path} row {i} says {rows[i][0]} ({rows[i][1]:+.1f} %), the tool {sim:.1f} ({err:+.1f} %)")
            bad += 1

# --compute-scale, a what-if: every compute op's kernel time (its time less the one kernel boundary it carries)
# is multiplied by it, communication is not, and --json states the scale. On the 7.1B row (TP 2, userbuffers).
gap = json.loads(subprocess.run([binary, "info", "--kernel-model", "--json"], capture_output=True,
                                text=True).stdout)["kernel_gap_s"]
row = runs[13]
base, _ = public_runs.simulate(binary, row, ["--ops"])
scaled, _ = public_runs.simulate(binary, row, ["--ops", "--compute-scale", "1.19"])
kinds = set()
for a, b in zip(base["ops"], scaled["ops"]):
    want = a["time_s"] if a["kind"] == "comm" else 1.19 * (a["time_s"] - gap) + gap
    kinds.add(a["kind"])
    if a["name"] != b["name"] or abs(b["time_s"] - want) > 1e-12 + 1e-9 * want:
        print(f"FAIL: --compute-scale 1.19: {b['name']} takes {b['time_s']:.6g} s, expected {want:.6g} s")
        bad += 1
if (len(base["ops"]) != len(scaled["ops"]) or not {"gemm", "attn", "eltwise", "comm"} <= kinds or
        base["compute_scale"] != 1 or scaled["compute_scale"] != 1.19 or
        not scaled["step_time_s"] > base["step_time_s"]):
    print(f"FAIL: --compute-scale 1.19: {len(scaled['ops'])} ops of kinds {sorted(kinds)}, compute_scale "
          f"{scaled['compute_scale']}, step {base['step_time_s']:.4f} -> {scaled['step_time_s']:.4f} s")
    bad += 1
sys.exit(1 if bad else 0)
EOF
