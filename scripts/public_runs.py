"""The rows of configs/calibration/public-runs.json as `fp8lab sim` commands (standard library only).

Shared by tests/cli_public_runs.sh, which checks that each row's command gives what the README tables print, and
scripts/calibration_scan.py.
"""
import json
import os
import subprocess

RUNS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "configs", "calibration", "public-runs.json")


def load(path=RUNS):
    with open(path) as f:
        return json.load(f)["runs"]


def flags(r):
    """The row's layout and the software of its time (--attention, --tp-overlap, --loss, ...) as sim flags."""
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


def simulate(binary, r, extra=()):
    """Runs the row; returns (result JSON, simulated tokens/GPU/s compared at the row's goodput), or raises
    RuntimeError with the command's error."""
    out = subprocess.run([binary, "sim"] + flags(r) + list(extra), capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"{r['run']}: exit {out.returncode}: {out.stderr.strip()}")
    res = json.loads(out.stdout)
    return res, res["tokens_per_gpu_s"] * r.get("goodput", 1.0)


def error(r, sim):
    """simulated / published - 1"""
    return sim / r["published_tokens_per_gpu_s"] - 1
