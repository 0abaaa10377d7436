#!/usr/bin/env python3
"""fp8lab <-> Hugging Face transformers, both directions, for GPT-2 and Llama (FP32 recipe). A dev script: CI does
not run it (it needs torch and transformers).

    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install torch transformers safetensors numpy
    /tmp/venv/bin/python scripts/hf_roundtrip.py [--fp8lab build/fp8lab] [--work DIR] [--text FILE] [--seq T]

(a) fp8lab -> transformers: `fp8lab train --recipe fp32` a few steps of a tiny GPT-2 / Llama on byte-level shards
    (`fp8lab data build` of --text, vocab 256); the checkpoint folder is loaded with
    AutoModelForCausalLM.from_pretrained (no missing or unexpected weights allowed) and its mean loss over the
    validation shard (float64, rows as llm.c's evaluation reads them: inputs tok[iT .. iT+T-1], targets
    tok[iT+1 .. iT+T]) compared with `fp8lab eval --init-from CKPT --data SHARD --seq T --recipe fp32 --json`.
(b) transformers -> fp8lab: a random transformers model, save_pretrained to a folder, evaluated the same two ways.
Passes when every |fp8lab - transformers| / transformers <= 1e-4. Prints a table; exit status 1 on a miss.
"""
import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import torch
import transformers

TOL = 1e-4
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))

GPT2 = {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "vocab_size": 256, "n_embd": 64,
        "n_layer": 2, "n_head": 4, "n_positions": 128, "layer_norm_epsilon": 1e-5, "tie_word_embeddings": True}
LLAMA = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 256, "hidden_size": 64,
         "intermediate_size": 172, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
         "max_position_embeddings": 128, "rms_norm_eps": 1e-5, "rope_theta": 50000.0,
         "tie_word_embeddings": False}


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode:
        sys.exit(f"failed ({r.returncode}): {' '.join(cmd)}\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    return r.stdout


def read_shard(path):
    """llm.c token shard: 256 int32 header (magic, version, count), then the tokens (uint16 v1, uint32 v7)."""
    with open(path, "rb") as f:
        head = np.frombuffer(f.read(1024), dtype="<i4")
        magic, version, n = int(head[0]), int(head[1]), int(head[2])
        dt = {(20240520, 1): "<u2", (20240801, 7): "<u4"}[(magic, version)]
        tok = np.frombuffer(f.read(), dtype=dt)
    assert tok.size == n, f"{path}: header says {n} tokens, file holds {tok.size}"
    return tok.astype(np.int64)


def hf_loss(model_dir, shard, T, B=8):
    """Mean next-token cross-entropy over every llm.c evaluation row of the shard, float64."""
    model, info = transformers.AutoModelForCausalLM.from_pretrained(model_dir, output_loading_info=True,
                                                                    attn_implementation="eager")
    problems = {k: v for k, v in info.items() if v}
    if problems:
        sys.exit(f"{model_dir}: transformers reports {problems}")
    model = model.double().eval()
    tok = read_shard(shard)
    rows = (tok.size - 1) // T
    x = torch.from_numpy(tok[: rows * T].reshape(rows, T))
    y = torch.from_numpy(tok[1: rows * T + 1].reshape(rows, T))
    total, count = 0.0, 0
    with torch.no_grad():
        for i in range(0, rows, B):
            logits = model(input_ids=x[i:i + B]).logits
            total += torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y[i:i + B].reshape(-1),
                                                       reduction="sum").item()
            count += y[i:i + B].numel()
    return total / count, count


def fp8lab_loss(exe, model_dir, shard, T):
    out = run([exe, "eval", "--init-from", model_dir, "--data", shard, "--seq", str(T), "--recipe", "fp32",
               "--device", "cpu", "--json"])
    o = json.loads(out)
    return o["val_loss"], int(o["tokens"])


def fp8lab_to_hf(exe, work, name, cfg, train, val, T, steps):
    cfg_path = os.path.join(work, f"{name}.json")
    with open(cfg_path, "w") as f:
        json.dump(cfg, f)
    out = os.path.join(work, f"run-{name}")
    run([exe, "train", "--model", cfg_path, "--data", train, "--val-data", val, "--recipe", "fp32",
         "--device", "cpu", "--steps", str(steps), "--batch", "4", "--seq", str(T), "--warmup", "2",
         "--val-every", "0", "--sample-every", "0", "--checkpoint-every", "0", "--out", out])
    ckpt = os.path.join(out, f"checkpoint-{steps}")
    return ckpt


def hf_to_fp8lab(work, name, cfg, seed):
    torch.manual_seed(seed)
    conf = transformers.AutoConfig.for_model(**{k: v for k, v in cfg.items() if k != "architectures"})
    model = transformers.AutoModelForCausalLM.from_config(conf)
    with torch.no_grad():  # wider than the init, so the loss is far from ln(256) and depends on every weight
        for pname, p in model.named_parameters():
            if p.dim() == 1:
                p.add_(0.1 * torch.randn_like(p))
            else:
                p.normal_(0.0, 0.1)
    folder = os.path.join(work, f"hf-{name}")
    model.save_pretrained(folder, safe_serialization=True)
    return folder


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fp8lab", default=os.path.join(ROOT, "build", "fp8lab"))
    ap.add_argument("--work", default=None, help="scratch folder (default: a fresh temporary one)")
    ap.add_argument("--text", default=os.path.join(ROOT, "README.md"), help="text for the byte-level shards")
    ap.add_argument("--seq", type=int, default=64)
    ap.add_argument("--steps", type=int, default=20)
    a = ap.parse_args()
    torch.set_num_threads(2)
    work = a.work or tempfile.mkdtemp(prefix="fp8lab-hf-")
    os.makedirs(work, exist_ok=True)
    data = os.path.join(work, "data")
    run([a.fp8lab, "data", "build", a.text, "--out", data, "--seq-len", str(a.seq)])
    train = os.path.join(data, "data_train_*.bin")
    val = sorted(glob.glob(os.path.join(data, "data_val_*.bin")))[0]
    print(f"fp8lab {a.fp8lab}; transformers {transformers.__version__}, torch {torch.__version__}; "
          f"T = {a.seq}, data {val}; scratch {work}")
    rows, ok = [], True
    for name, cfg in (("gpt2", GPT2), ("llama", LLAMA)):
        for direction, folder in (
                ("fp8lab train -> from_pretrained", fp8lab_to_hf(a.fp8lab, work, name, cfg, train, val, a.seq,
                                                                 a.steps)),
                ("save_pretrained -> fp8lab eval", hf_to_fp8lab(work, name, cfg, 1234))):
            ours, n_ours = fp8lab_loss(a.fp8lab, folder, val, a.seq)
            ref, n_ref = hf_loss(folder, val, a.seq)
            rel = abs(ours - ref) / abs(ref)
            good = rel <= TOL and n_ours == n_ref
            ok &= good
            rows.append((name, direction, ours, ref, rel, n_ours, good))
    print(f"\n{'model':6} {'direction':34} {'fp8lab eval':>12} {'transformers':>12} {'rel. diff':>10} "
          f"{'tokens':>7}  ")
    for name, direction, ours, ref, rel, n, good in rows:
        print(f"{name:6} {direction:34} {ours:12.7f} {ref:12.7f} {rel:10.2e} {n:7d}  {'ok' if good else 'MISS'}")
    print(f"\ntolerance {TOL:g} relative; {'all within' if ok else 'a MISS'}")
    if not a.work:
        shutil.rmtree(work, ignore_errors=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
