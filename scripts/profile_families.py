#!/usr/bin/env python3
"""Sums the GPU kernels of DeepSeek's published H800 training profile by family, for the simulator's test.

Input: train.json from github.com/deepseek-ai/profile-data (a PyTorch-profiler trace of one DualPipe forward chunk
and one backward chunk run overlapped, 4 MoE layers each, EP64, TP1, 4K sequence, balanced routing; its README).
Output (stdout): the JSON that configs/calibration/deepseek-v3-h800-profile.json holds. Only the standard library.

    python3 scripts/profile_families.py train.json > configs/calibration/deepseek-v3-h800-profile.json
"""
import json
import sys

# kernel-name fragment -> family, first match wins (the names are DeepSeek's internal kernels; "_acc" Wgrad GEMMs
# accumulate into the FP32 gradient, "m_grouped" GEMMs are the routed experts' forward and Dgrad)
FAMILIES = [
    ("fp8_dptp128c_acc", "gemm_fp8_wgrad"),
    ("m_grouped_fp8_ptp128c", "gemm_fp8_experts_fwd_dgrad"),
    ("fp8_ptp128c::GemmKernel", "gemm_fp8_dense_fwd_dgrad"),
    ("FlashAttnBwd", "attention_bwd"),
    ("compute_attn_ws", "attention_fwd"),
    ("xmma_gemm_bf16", "gemm_bf16"),
    ("dpsk::ep::", "expert_all_to_all"),
]

GAP_MAX_US = 20


def family(name):
    for frag, fam in FAMILIES:
        if frag in name:
            return fam
    return "other"


def main(path):
    with open(path) as f:
        trace = json.load(f)
    kernels = [e for e in trace["traceEvents"] if e.get("cat") == "kernel"]
    if not kernels:
        sys.exit(f"{path}: no kernel events (expected a PyTorch-profiler trace with CUDA activity)")
    # every family present in the file, those with no kernel at 0 (the reader expects each one)
    fams = {fam: {"ms": 0.0, "kernels": 0} for fam in [f for _, f in FAMILIES] + ["other"]}
    streams = {}
    for e in kernels:
        fam = family(e["name"])
        s = fams.setdefault(fam, {"ms": 0.0, "kernels": 0})
        s["ms"] += e["dur"] / 1000
        s["kernels"] += 1
        st = streams.setdefault(e["args"]["stream"], {"busy_ms": 0.0, "kernels": 0})
        st["busy_ms"] += e["dur"] / 1000
        st["kernels"] += 1
    for s in list(fams.values()) + list(streams.values()):
        for k in s:
            if isinstance(s[k], float):
                s[k] = round(s[k], 3)
    # the forward attention kernel's grid is (query tiles of 128, heads, batch): the micro-batch's tokens
    attn = next(e for e in kernels if family(e["name"]) == "attention_fwd")
    gx, heads, batch = attn["args"]["grid"]
    gemm_grids = sorted({max(e["args"]["grid"]) for e in kernels if family(e["name"]).startswith("gemm_fp8")})
    # the compute kernels' busy time, their streams together (some Wgrad GEMMs run on a second stream beside
    # other compute): every kernel but the all-to-all ones, intervals merged
    busy, end, idle = 0.0, None, []
    for a, b in sorted((e["ts"], e["ts"] + e["dur"]) for e in kernels if family(e["name"]) != "expert_all_to_all"):
        if end is None or a > end:
            busy += 0 if end is None else end - start
            if end is not None:
                idle.append(a - end)
            start, end = a, b
        else:
            end = max(end, b)
    busy += end - start
    # the GPU idle between one compute kernel's end and the next one's start (streams merged): up to GAP_MAX_US
    # the cost of a kernel boundary (launch, ramp and drain; the simulator's kernel_gap_s); in this trace each longer
    # one has the all-to-all's kernels running through it: a wait for the all-to-all
    short = sorted(g for g in idle if g <= GAP_MAX_US)
    waits = [g for g in idle if g > GAP_MAX_US]
    t0 = min(e["ts"] for e in kernels)
    t1 = max(e["ts"] + e["dur"] for e in kernels)
    dev = trace["deviceProperties"][0]
    out = {
        "_about": "GPU kernel time of DeepSeek's published H800 training profile, summed by family "
                  "(scripts/profile_families.py); read by tests/test_sim_profile.c",
        "source": {
            "repo": "deepseek-ai/profile-data",
            "file": "train.json",
            "commit": "de0b460f9d5abee8ea5c88666e4b0a4f72ce0201",
            "url": "https://github.com/deepseek-ai/profile-data",
            "setup": "one DualPipe forward chunk and one backward chunk of another micro-batch, run overlapped; "
                     "4 MoE layers each; EP64, TP1, 4K sequence; absolutely balanced routing; PP communication "
                     "not included (the repository's README)",
        },
        "device": dev["name"],
        "sms": dev["numSms"],
        "layers": 4,
        "tokens": gx * 128 * batch,
        "heads": heads,
        "gemm_ctas": gemm_grids,
        "span_ms": round((t1 - t0) / 1000, 3),
        "compute_busy_ms": round(busy / 1000, 3),
        "kernel_gaps": {
            "max_us": GAP_MAX_US,
            "count": len(short),
            "mean_us": round(sum(short) / len(short), 3),
            "median_us": short[len(short) // 2],
            "waits": {"count": len(waits), "ms": round(sum(waits) / 1000, 3)},
        },
        "streams": {str(k): v for k, v in sorted(streams.items())},
        "families": dict(sorted(fams.items())),
    }
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
