#!/usr/bin/env python3
"""Training speed on the CPU: fp8lab against PyTorch eager, on fp8lab's default model and shapes (byte-level GPT-2,
4 layers x 128, 4 heads, tied head, configs/models/gpt2-tiny-bytes.json; B = 12, T = 64 as
configs/runs/default.json). A dev script: CI does not run it (it needs torch), and it asserts nothing about
speed; it prints the numbers and exits 1 when the acceptance below is missed.

    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install torch transformers safetensors numpy
    /tmp/venv/bin/python scripts/bench_cpu_vs_torch.py [--fp8lab build/fp8lab] [--steps 60] [--repeats 3]
        [--threads 2]

PyTorch: the same model written out in plain torch.nn (LayerNorm, fused c_attn, causal softmax attention through
F.scaled_dot_product_attention, tanh GELU, weight-tied head), float32, torch.set_num_threads(THREADS), AdamW
(betas 0.9/0.95, weight decay 0.1 on matrices, fp32 moments), gradient clipping at 1.0, on batches of the same
built-in corpus. Each step is zero_grad, forward, loss, backward, clip, step; timed with perf_counter.
fp8lab: `fp8lab train --recipe fp32|fp8-block --steps N --val-every 0 --sample-every 0 --device cpu` with
OMP_NUM_THREADS=THREADS; step_ms from <out>/metrics.jsonl (the trainer's whole step: batch, zero_grad, forward,
backward, AdamW with BF16 moments, the default).
Both: median step time over the steps after the first --warmup. Repeats alternate the runs so that machine
noise falls on all of them alike; the summary is the median over repeats (and the fastest repeat).
--compare-env GOMP_SPINCOUNT=0 adds PyTorch and fp8lab runs with that environment to each repeat (libgomp's idle workers
spin for GOMP_SPINCOUNT iterations after each parallel region, on the cores OpenBLAS's threads need next).
Acceptance: fp8lab fp32 tokens/s >= 1.0 x PyTorch, fp8-block step time <= 2 x fp32.
"""
import argparse
import glob
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
B, T = 12, 64


def read_tokens(pattern):
    out = []
    for p in sorted(glob.glob(pattern)):
        with open(p, "rb") as f:
            head = np.frombuffer(f.read(1024), dtype="<i4")
            out.append(np.frombuffer(f.read(), dtype="<u2" if head[1] == 1 else "<u4")[: head[2]])
    return np.concatenate(out).astype(np.int64)


def torch_bench(tokens, steps, warmup, threads, cfg):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    torch.set_num_threads(threads)
    torch.manual_seed(1337)
    C, H, L, V, P = cfg["n_embd"], cfg["n_head"], cfg["n_layer"], cfg["vocab_size"], cfg["n_positions"]

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln_1, self.ln_2 = nn.LayerNorm(C), nn.LayerNorm(C)
            self.c_attn, self.c_proj = nn.Linear(C, 3 * C), nn.Linear(C, C)
            self.c_fc, self.mlp_proj = nn.Linear(C, 4 * C), nn.Linear(4 * C, C)

        def forward(self, x):
            b, t, _ = x.shape
            q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)
            q, k, v = (z.view(b, t, H, C // H).transpose(1, 2) for z in (q, k, v))
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(b, t, C)
            x = x + self.c_proj(y)
            return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte, self.wpe = nn.Embedding(V, C), nn.Embedding(P, C)
            self.h = nn.ModuleList(Block() for _ in range(L))
            self.ln_f = nn.LayerNorm(C)

        def forward(self, idx, tgt):
            x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
            for blk in self.h:
                x = blk(x)
            logits = F.linear(self.ln_f(x), self.wte.weight)  # tied head
            return F.cross_entropy(logits.reshape(-1, V), tgt.reshape(-1))

    model = GPT()
    with torch.no_grad():  # fp8lab's init (GPT-2's), so both runs see the same kind of numbers
        for name, p in model.named_parameters():
            if p.dim() == 2:
                std = 0.02 / (2 * L) ** 0.5 if name.endswith(("c_proj.weight", "mlp_proj.weight")) else 0.02
                p.normal_(0.0, std)
            elif name.endswith("bias"):
                p.zero_()
    decay = [p for p in model.parameters() if p.dim() == 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=4e-3, betas=(0.9, 0.95), eps=1e-8)
    data = torch.from_numpy(tokens)
    rng = np.random.default_rng(1337)
    times, loss = [], float("nan")
    for s in range(steps):
        t0 = time.perf_counter()
        starts = rng.integers(0, data.numel() - T - 1, B)
        rows = torch.stack([data[i:i + T + 1] for i in starts])
        opt.zero_grad(set_to_none=True)
        lo = model(rows[:, :T], rows[:, 1:])
        lo.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        loss = lo.item()
        times.append(time.perf_counter() - t0)
    return statistics.median(times[warmup:]) * 1e3, loss


GRAD_SUM = []  # --grad-sum MODE for fp8lab (empty: the trainer's default, exact sums on the CPU)


def fp8lab_bench(exe, recipe, steps, warmup, threads, train, val, work, extra_env):
    out = os.path.join(work, f"run-{recipe}-{time.monotonic_ns()}")
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), **extra_env)
    cmd = [exe, "train", "--recipe", recipe, "--steps", str(steps), "--val-every", "0", "--sample-every", "0",
           "--device", "cpu", "--batch", str(B), "--seq", str(T), "--data", train, "--val-data", val,
           "--checkpoint-every", "0", "--out", out] + GRAD_SUM
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode:
        sys.exit(f"failed ({r.returncode}): {' '.join(cmd)}\n{r.stderr[-2000:]}")
    rows = [json.loads(line) for line in open(os.path.join(out, "metrics.jsonl")) if line.strip()]
    steps_ms = [row["step_ms"] for row in rows if "step_ms" in row and row.get("step") is not None]
    loss = [row["loss"] for row in rows if "loss" in row][-1]
    return statistics.median(steps_ms[warmup:]), loss


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fp8lab", default=os.path.join(ROOT, "build", "fp8lab"))
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--warmup", type=int, default=10, help="steps left out of the median")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--grad-sum", choices=["exact", "fast"],
                    help="fp8lab's gradient sums (default: the trainer's, exact on the CPU: split-invariant, "
                         "+14 %% a step; fast: plain FP32 accumulation, as PyTorch)")
    ap.add_argument("--fp8lab-env", action="append", default=[], metavar="NAME=VALUE",
                    help="extra environment for the fp8lab runs (e.g. GOMP_SPINCOUNT=0); repeatable")
    ap.add_argument("--compare-env", action="append", default=[], metavar="NAME=VALUE",
                    help="also run fp8lab fp32 and fp8-block with this environment, in the same repeats")
    ap.add_argument("--torch-only", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--tokens", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.grad_sum:
        GRAD_SUM[:] = ["--grad-sum", a.grad_sum]
    extra_env = dict(kv.split("=", 1) for kv in a.fp8lab_env)
    with open(os.path.join(ROOT, "configs", "models", "gpt2-tiny-bytes.json")) as f:
        cfg = json.load(f)
    if a.torch_only:
        ms, loss = torch_bench(read_tokens(a.tokens), a.steps, a.warmup, a.threads, cfg)
        print(json.dumps({"step_ms": ms, "loss": loss}))
        return
    work = tempfile.mkdtemp(prefix="fp8lab-bench-")
    o = json.loads(subprocess.run([a.fp8lab, "data", "builtin", "--cache", os.path.join(work, "builtin"), "--json"],
                                  capture_output=True, text=True, check=True).stdout)
    import torch
    print(f"B = {B}, T = {T}, {a.steps} steps (median of the last {a.steps - a.warmup}), {a.threads} threads; "
          f"torch {torch.__version__}; fp8lab {a.fp8lab} {' '.join(a.fp8lab_env)}; {os.cpu_count()} CPUs; "
          f"load average {os.getloadavg()[0]:.1f}")
    # every repeat runs all of them back to back, so that a busy spell of the machine hits each alike
    variants = [("torch", "PyTorch eager fp32", None, {})]
    if a.compare_env:
        variants.append(("torch+env", "PyTorch eager fp32 " + " ".join(a.compare_env), None,
                         dict(kv.split("=", 1) for kv in a.compare_env)))
    for recipe in ("fp32", "fp8-block"):
        variants.append((recipe, f"fp8lab {recipe}", recipe, extra_env))
    if a.compare_env:
        cmp_env = dict(kv.split("=", 1) for kv in a.compare_env)
        tag = " ".join(a.compare_env)
        for recipe in ("fp32", "fp8-block"):
            variants.append((f"{recipe}+env", f"fp8lab {recipe} {tag}", recipe, cmp_env))
    runs = {k: [] for k, *_ in variants}
    for rep in range(a.repeats):
        line = []
        for key, label, recipe, env in variants:
            if recipe is None:  # in a child process of its own, so that env reaches torch's OpenMP runtime
                r = subprocess.run([sys.executable, __file__, "--torch-only", "--steps", str(a.steps), "--warmup",
                                    str(a.warmup), "--threads", str(a.threads), "--tokens", o["train"]],
                                   capture_output=True, text=True, env=dict(os.environ, **env))
                if r.returncode:
                    sys.exit(f"the PyTorch run failed:\n{r.stderr[-3000:]}")
                ms = json.loads(r.stdout)["step_ms"]
            else:
                ms, _ = fp8lab_bench(a.fp8lab, recipe, a.steps, a.warmup, a.threads, o["train"], o["val"], work,
                                     env)
            runs[key].append(ms)
            line.append(f"{key} {ms:.1f}")
        print(f"  repeat {rep + 1}: " + ", ".join(line) + f" ms (load average {os.getloadavg()[0]:.1f})", flush=True)
    med = {k: statistics.median(v) for k, v in runs.items()}
    best = {k: min(v) for k, v in runs.items()}
    tps = {k: B * T / (v / 1e3) for k, v in med.items()}
    print(f"\n{'run':40} {'step ms':>9} {'tokens/s':>10} {'best ms':>9}   (median over repeats; best: the "
          f"fastest repeat)")
    for key, label, *_ in variants:
        print(f"{label:40} {med[key]:9.1f} {tps[key]:10.0f} {best[key]:9.1f}")
    r1 = tps["fp32"] / tps["torch"]
    r2 = med["fp8-block"] / med["fp32"]
    print(f"\nfp8lab fp32 / PyTorch tokens/s: {r1:.2f}x (best repeats: {best['torch'] / best['fp32']:.2f}x)  "
          f"(acceptance >= 1.0)")
    print(f"fp8-block / fp32 step time:     {r2:.2f}x (best repeats: {best['fp8-block'] / best['fp32']:.2f}x)  "
          f"(acceptance <= 2.0)")
    if a.compare_env:
        print(f"with {tag} (both): fp8lab fp32 / PyTorch {med['torch+env'] / med['fp32+env']:.2f}x, "
              f"fp8-block / fp32 {med['fp8-block+env'] / med['fp32+env']:.2f}x")
    shutil.rmtree(work, ignore_errors=True)
    sys.exit(0 if r1 >= 1.0 and r2 <= 2.0 else 1)

if __name__ == "__main__":
    main()
