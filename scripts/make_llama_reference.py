#!/usr/bin/env python3
"""Reference logits and greedy continuations from Hugging Face transformers.

Loads a GGUF model through transformers (which dequantizes it to float32),
runs each prompt, and writes tests/data/<name>_reference.json plus the
last-position logits as raw float32 (<name>_reference_logits.f32).

    python3 scripts/make_llama_reference.py [--model PATH.gguf] [--name smollm2]

Needs: torch, transformers, accelerate, gguf (CPU is enough).
"""
import argparse
import json
import os
import pathlib

import numpy as np
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

PROMPTS = [
    "The capital of France is",
    "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
    "<|im_start|>user\nWhat is the tallest mountain in the world?<|im_end|>\n<|im_start|>assistant\n",
    "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n",
    "Once upon a time, in a small village by the sea, there lived",
    "La vie est belle, et le soleil brille sur",
    "1, 2, 3, 5, 8, 13, 21,",
    "Q: Why is the sky blue?\nA:",
    "SELECT name, COUNT(*) FROM users WHERE",
    "Hi",
    # A longer prompt (a few hundred tokens) exercises many KV blocks.
    " ".join(
        f"Paragraph {i}: the quick brown fox jumps over the lazy dog while the cat watches."
        for i in range(24)
    )
    + " In summary,",
]
NEW_TOKENS = 64


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--model",
        default=os.path.expanduser("~/.cache/tessera/models/SmolLM2-135M-Instruct.Q4_1.gguf"),
    )
    ap.add_argument("--name", default="smollm2")
    ap.add_argument("--out", default=str(pathlib.Path(__file__).resolve().parent.parent / "tests/data"))
    args = ap.parse_args()

    model_path = pathlib.Path(args.model)
    tok = AutoTokenizer.from_pretrained(model_path.parent, gguf_file=model_path.name)
    model = AutoModelForCausalLM.from_pretrained(
        model_path.parent, gguf_file=model_path.name, dtype=torch.float32
    )
    model.eval()
    torch.manual_seed(0)

    cases = []
    all_logits = []
    with torch.no_grad():
        for prompt in PROMPTS:
            ids = tok(prompt, add_special_tokens=True)["input_ids"]
            out = model(torch.tensor([ids]), use_cache=True)
            logits = out.logits[0, -1].float()
            all_logits.append(logits.numpy().astype(np.float32))
            past = out.past_key_values
            generated, gaps = [], []
            step_logits = logits
            for _ in range(NEW_TOKENS):
                top2 = torch.topk(step_logits, 2)
                nxt = int(top2.indices[0])
                gaps.append(float(top2.values[0] - top2.values[1]))
                generated.append(nxt)
                out = model(torch.tensor([[nxt]]), past_key_values=past, use_cache=True)
                past = out.past_key_values
                step_logits = out.logits[0, -1].float()
            cases.append(
                {"prompt": prompt, "prompt_ids": ids, "greedy_ids": generated, "top2_gaps": gaps}
            )
            print(f"{len(ids):4d} prompt tokens -> {tok.decode(generated)[:60]!r}")

    out_dir = pathlib.Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    np.stack(all_logits).tofile(out_dir / f"{args.name}_reference_logits.f32")
    meta = {
        "generator": "scripts/make_llama_reference.py",
        "model_file": model_path.name,
        "transformers": __import__("transformers").__version__,
        "torch": torch.__version__,
        "vocab_size": int(all_logits[0].shape[0]),
        "cases": cases,
    }
    (out_dir / f"{args.name}_reference.json").write_text(json.dumps(meta, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
