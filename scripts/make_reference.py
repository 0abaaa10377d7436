#!/usr/bin/env python3
"""Writes tests/data/ref_gpt2/ and tests/data/ref_llama/: a tiny random Hugging Face GPT-2 and Llama, and what
PyTorch computes with them in float64, for tests/test_reference.c (which needs no Python). A dev script: CI
does not run it; rerun it only to change the models (the files are committed).

    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install torch transformers safetensors numpy
    /tmp/venv/bin/python scripts/make_reference.py [OUT_DIR]        # OUT_DIR default: tests/data

Each folder holds
    config.json, model.safetensors   exactly as transformers' save_pretrained writes them (float32 weights)
    reference.safetensors            tokens  int32 [B][T+1]  (inputs tok[:, :T], targets tok[:, 1:])
                                     logits  float32 [B][T][V]
                                     loss    float32 [] (mean cross-entropy over the B*T next-token targets)
                                     grad.NAME float32, shape of NAME: d loss / d NAME for every parameter NAME
                                              (Hugging Face names; GPT-2's tied transformer.wte.weight holds the
                                              sum over its two uses, embedding and output head)
The weights are drawn (fixed seed), rounded to float32 and saved; the forward and backward then run on those
float32 values in float64 (model.double()), so the reference is the exact answer for the saved weights up to
float64 rounding. The weights are drawn wider than a fresh init (norm weights and biases away from 1 and 0) so
that no path of the backward is degenerate. The models are small so that each folder stays under 300 KB:
    GPT-2  2 layers, n_embd 32, 4 heads, n_inner 128, vocab 97, n_positions 32, tied head
    Llama  2 layers, hidden 32, 4 heads, 2 key/value heads (grouped-query), head_dim 8, intermediate 86,
           rope_theta 50000, rms_norm_eps 1e-5, vocab 97, untied head
"""
import json
import os
import sys

import torch
import transformers
from safetensors.torch import save_file

B, T, V = 2, 16, 97
SEED = 20240520


def gpt2_model():
    cfg = transformers.GPT2Config(vocab_size=V, n_embd=32, n_layer=2, n_head=4, n_inner=128, n_positions=32,
                                  layer_norm_epsilon=1e-5, activation_function="gelu_new",
                                  resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, tie_word_embeddings=True,
                                  bos_token_id=0, eos_token_id=0)
    return transformers.GPT2LMHeadModel(cfg)


def llama_model():
    cfg = transformers.LlamaConfig(vocab_size=V, hidden_size=32, intermediate_size=86, num_hidden_layers=2,
                                   num_attention_heads=4, num_key_value_heads=2, head_dim=8,
                                   max_position_embeddings=32, rms_norm_eps=1e-5, rope_theta=50000.0,
                                   hidden_act="silu", attention_bias=False, mlp_bias=False,
                                   tie_word_embeddings=False, attention_dropout=0.0)
    return transformers.LlamaForCausalLM(cfg)


def randomize(model, gen):
    """Every parameter drawn anew: matrices N(0, 0.15), embeddings N(0, 0.5), norm weights 1 + N(0, 0.2), biases
    N(0, 0.1); all rounded to float32 (the model is float32 here)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            z = torch.randn(p.shape, generator=gen, dtype=torch.float64)
            if "ln_" in name or "norm" in name:
                v = 1.0 + 0.2 * z if name.endswith("weight") else 0.1 * z
            elif p.dim() == 1:
                v = 0.1 * z
            elif "wte" in name or "wpe" in name or "embed_tokens" in name:
                v = 0.5 * z
            else:
                v = 0.15 * z
            p.copy_(v.to(p.dtype))


def reference(model, tokens):
    """float64 forward and backward on the model's (float32-valued) weights."""
    model = model.double()
    model.zero_grad(set_to_none=True)
    inputs, targets = tokens[:, :T].long(), tokens[:, 1:].long()
    logits = model(input_ids=inputs).logits
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, V), targets.reshape(-1))
    loss.backward()
    out = {"tokens": tokens.to(torch.int32).contiguous(),
           "logits": logits.detach().float().contiguous(),
           "loss": loss.detach().float().reshape(())}
    for name, p in model.named_parameters():  # a tied weight appears once, its .grad the sum of both uses
        out["grad." + name] = p.grad.detach().float().contiguous()
    return out, loss.item()


def write(name, model, out_root, gen):
    model.eval()  # no dropout (all rates are 0 anyway)
    randomize(model, gen)
    folder = os.path.join(out_root, "ref_" + name)
    os.makedirs(folder, exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    tokens = torch.randint(0, V, (B, T + 1), generator=gen, dtype=torch.int64)
    ref, loss = reference(model, tokens)
    save_file(ref, os.path.join(folder, "reference.safetensors"),
              metadata={"format": "pt", "made_by": "scripts/make_reference.py",
                        "torch": torch.__version__, "transformers": transformers.__version__,
                        "B": str(B), "T": str(T)})
    size = sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder))
    print(f"{folder}: loss {loss:.6f}, {len(ref) - 3} gradients, {size / 1024:.0f} KB "
          f"({', '.join(sorted(os.listdir(folder)))})")
    with open(os.path.join(folder, "config.json")) as f:
        cfg = json.load(f)
    return cfg, size


def main():
    out_root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "tests", "data")
    torch.manual_seed(SEED)
    gen = torch.Generator().manual_seed(SEED)
    ok = True
    for name, make in (("gpt2", gpt2_model), ("llama", llama_model)):
        torch.manual_seed(SEED)
        _, size = write(name, make(), out_root, gen)
        ok &= size < 300 * 1024
    if not ok:
        sys.exit("a folder is 300 KB or larger: make the model smaller")


if __name__ == "__main__":
    main()
