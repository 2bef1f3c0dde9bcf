#!/usr/bin/env python3
"""transformers' generate at the shapes of `tessera bench latency` and
`tessera bench throughput`, for the side-by-side in scripts/gpu-check.sh.

Builds the model of an HF config.json with random bf16 weights directly on
the GPU (no checkpoint needed), then times, with random token prompts and
greedy decoding that ignores EOS:
  - latency: batch 1, an --input-len prompt: time to first token (one
    forward of the prompt) and decode ms/token (generate of --output-len
    tokens minus the prefill, per token);
  - throughput: --batch prompts of ISL tokens, OSL new tokens each, for each
    ISL/OSL pair of --grid, in one generate call (all prompts the same
    length, so no padding).
Prints one markdown table; --json FILE writes the rows.

    python3 scripts/hf_generate_bench.py --config tests/data/configs/llama3-8b.json
"""
import argparse
import json
import time

import torch
from transformers import AutoConfig, AutoModelForCausalLM


def timed(fn):
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    out = fn()
    torch.cuda.synchronize()
    return time.perf_counter() - t0, out


def generate(model, ids, new_tokens):
    return model.generate(
        input_ids=ids,
        attention_mask=torch.ones_like(ids),
        max_new_tokens=new_tokens,
        min_new_tokens=new_tokens,
        do_sample=False,
        pad_token_id=0,
    )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True)
    ap.add_argument("--input-len", type=int, default=2048)
    ap.add_argument("--output-len", type=int, default=128)
    ap.add_argument("--grid", default="128/128:64", help="ISL/OSL:batch,... for throughput")
    ap.add_argument("--json")
    args = ap.parse_args()

    config = AutoConfig.from_pretrained(args.config)
    t0 = time.time()
    torch.manual_seed(0)
    with torch.device("cuda"):
        try:
            model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
        except TypeError:  # transformers before 4.56 named it torch_dtype
            model = AutoModelForCausalLM.from_config(config, torch_dtype=torch.bfloat16)
    model = model.to(torch.bfloat16).eval()
    load_s = time.time() - t0
    vocab = config.vocab_size
    rows = []
    with torch.no_grad():
        ids = torch.randint(0, vocab, (1, args.input_len), device="cuda")
        generate(model, ids[:, :16], 4)  # warm-up
        prefill_s, _ = timed(lambda: model(input_ids=ids))
        prefill_s, _ = timed(lambda: model(input_ids=ids))
        total_s, _ = timed(lambda: generate(model, ids, args.output_len))
        decode_ms = (total_s - prefill_s) / (args.output_len - 1) * 1e3
        rows.append({"run": f"latency: TTFT, {args.input_len} tokens", "value": prefill_s * 1e3,
                     "unit": "ms"})
        rows.append({"run": f"latency: decode, batch 1 (after {args.input_len})",
                     "value": decode_ms, "unit": "ms/token"})
        for spec in args.grid.split(","):
            shape, batch = spec.split(":")
            isl, osl = (int(x) for x in shape.split("/"))
            batch = int(batch)
            ids = torch.randint(0, vocab, (batch, isl), device="cuda")
            s, out = timed(lambda: generate(model, ids, osl))
            generated = (out.shape[1] - isl) * batch
            rows.append({"run": f"throughput: {isl}/{osl}, batch {batch}",
                         "value": generated / s, "unit": "output tok/s", "seconds": s})
    print(f"transformers generate ({torch.cuda.get_device_name()}, {config.model_type}, bf16, "
          f"random weights built in {load_s:.1f} s; attention {model.config._attn_implementation})")
    print("| run | value | unit |")
    print("|-----|------:|------|")
    for r in rows:
        print(f"| {r['run']} | {r['value']:.2f} | {r['unit']} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
