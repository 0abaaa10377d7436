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
import json, re, subprocess, sys

binary = sys.argv[1]
runs = json.load(open("configs/calibration/public-runs.json"))["runs"]


def flags(r):
    f = ["--model", r["model"], "--cluster", r["cluster"], "--json"]
    for key in ("gpus", "tp", "pp", "dp", "ep", "seq", "global_batch", "micro_batch", "zero", "comm_sms",
                "moe_imbalance"):
        f += ["--" + key.replace("_", "-"), str(r[key])]
    for key in ("precision", "schedule", "recompute"):
        f += ["--" + key, r[key]]
    f += ["--attention", r.get("attention", "flash3"), "--tp-overlap", r.get("tp_overlap", "wgrad")]
    f += ["--loss", r.get("loss", "fused")]
    f += ["--sequence-parallel"] if r["sp"] else []
    f += ["--no-mtp"] if not r["mtp"] else []
    for key in ("grad_reduce_after", "grad_fp32", "p2p_async"):
        f += ["--" + key.replace("_", "-")] if r.get(key) else []
    return f


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
    out = subprocess.run([binary, "sim"] + flags(r), capture_output=True, text=True)
    if out.returncode:
        print(f"FAIL: row {i} ({r['run']}): exit {out.returncode}: {out.stderr.strip()}")
        bad += 1
        continue
    res = json.loads(out.stdout)
    sim = res["tokens_per_gpu_s"] * r.get("goodput", 1.0)
    # the software the row asked for is the software simulated, and --json says so
    want = {"attention": r.get("attention", "flash3"), "tp_overlap": r.get("tp_overlap", "wgrad"),
            "loss": r.get("loss", "fused"),
            "grad_reduce_after": bool(r.get("grad_reduce_after")), "grad_fp32": bool(r.get("grad_fp32")),
            "p2p_async": bool(r.get("p2p_async"))}
    got = {k: res["plan"].get(k) for k in want}
    if got != want:
        print(f"FAIL: row {i}: --json plan says {got}, the flags asked for {want}")
        bad += 1
    err = 100 * (sim / r["published_tokens_per_gpu_s"] - 1)
    print(f"row {i:2d} {r['run'][:60]:60s} simulated {sim:9.1f}  error {err:+5.1f} %")
    for path, rows in docs.items():
        if i not in rows:
            print(f"FAIL: {path} has no row {i}")
            bad += 1
        elif abs(rows[i][0] - sim) > 0.051 + 1e-4 * sim or abs(rows[i][1] - err) > 0.051:
            print(f"FAIL: {path} row {i} says {rows[i][0]} ({rows[i][1]:+.1f} %), the tool {sim:.1f} ({err:+.1f} %)")
            bad += 1
sys.exit(1 if bad else 0)
EOF
