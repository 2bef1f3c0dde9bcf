#!/usr/bin/env python3
"""Reference logits of a random-init Llama (GQA, llama3 rope scaling) from
Hugging Face transformers, for tests/reference/hf_reference_test.cpp.

Builds the model from a LlamaConfig with random weights (seeded), rounds the
weights to values both bfloat16 and float16 hold exactly (so tessera's bf16
or fp16 copy of them is exact and only the arithmetic differs; the model
itself stays float32, rotary frequencies included), saves it as an HF folder
(config.json +
model.safetensors; no tokenizer: the test feeds token ids), runs a few
random token sequences of different lengths through it in float32 (TF32
off) and writes every position's logits:

    OUT/config.json, OUT/model.safetensors
    OUT/reference.json   {"vocab_size", "sequences": [[ids...], ...],
                          "bf16_baseline": [...], "fp16_baseline": [...]}
                          per sequence: transformers itself in bf16 / fp16
                          against its float32 (rel. L2, top-1)
    OUT/logits.f32       float32 [sum of lengths, vocab], sequence after sequence

    python3 scripts/make_gpu_reference.py --out DIR [--device cuda]

Needs torch, transformers, safetensors (on the GPU machine: all there).
"""
import argparse
import json
import pathlib
import time

import torch
from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM

LENGTHS = [1, 17, 128, 700, 1500]


def half_baseline(folder, dtype, device, sequences, refs):
    """Per sequence, transformers in `dtype` against the float32 logits."""
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype).to(device).eval()
    rows = []
    with torch.no_grad():
        for ids, ref in zip(sequences, refs):
            x = torch.tensor([ids], device=device)
            got = model(input_ids=x).logits[0].float()
            rel = float((got - ref).norm() / ref.norm())
            top1 = float((got.argmax(-1) == ref.argmax(-1)).float().mean())
            rows.append({"length": len(ids), "rel_l2": rel, "top1": top1})
    del model
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--seed", type=int, default=1234)
    args = ap.parse_args()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.manual_seed(args.seed)
    t0 = time.time()

    config = LlamaConfig(
        vocab_size=2048,
        hidden_size=1024,
        intermediate_size=2816,
        num_hidden_layers=4,
        num_attention_heads=8,
        num_key_value_heads=2,  # GQA: 4 query heads per KV head
        head_dim=128,
        max_position_embeddings=4096,
        rms_norm_eps=1e-5,
        rope_theta=500000.0,
        # llama3 scaling with a short original context, so that it changes
        # the frequencies the test's positions use.
        rope_scaling={
            "rope_type": "llama3",
            "factor": 8.0,
            "low_freq_factor": 1.0,
            "high_freq_factor": 4.0,
            "original_max_position_embeddings": 1024,
        },
        tie_word_embeddings=False,
        attention_bias=False,
        mlp_bias=False,
    )
    model = LlamaForCausalLM(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            # Weights both 16-bit types hold exactly: bf16's 8 significant
            # bits, then fp16's grid (only values below 2^-14 move, onto
            # fp16's subnormal steps, which bf16 also holds). Norms away
            # from 1 so they matter.
            if p.dim() == 1:
                p.uniform_(0.5, 1.5)
            p.copy_(p.to(torch.bfloat16).to(torch.float16).to(torch.float32))
    # Save a bf16 copy of the weights, but keep this model in float32 as it
    # is: Module.to(bfloat16) would also round the rotary inv_freq buffer,
    # and the reference would rotate by bf16-rounded frequencies.
    model.save_pretrained(out, state_dict={k: v.to(torch.bfloat16) for k, v in model.state_dict().items()})
    model.to(args.device)

    gen = torch.Generator().manual_seed(args.seed + 1)
    sequences = [torch.randint(0, config.vocab_size, (n,), generator=gen).tolist() for n in LENGTHS]
    refs = []
    with open(out / "logits.f32", "wb") as f, torch.no_grad():
        for ids in sequences:
            x = torch.tensor([ids], device=args.device)
            ref = model(input_ids=x).logits[0].float()
            f.write(ref.cpu().numpy().astype("float32").tobytes())
            refs.append(ref)
    # transformers itself in bf16 and in fp16 (loaded the usual way, from the
    # folder), against its float32 logits: the scale of 16-bit error to expect.
    del model
    baselines = {name: half_baseline(out, dtype, args.device, sequences, refs)
                 for name, dtype in (("bf16", torch.bfloat16), ("fp16", torch.float16))}
    meta = {
        "vocab_size": config.vocab_size,
        "sequences": sequences,
        "bf16_baseline": baselines["bf16"],
        "fp16_baseline": baselines["fp16"],
        "device": torch.cuda.get_device_name() if args.device == "cuda" else "cpu",
        "torch": torch.__version__,
    }
    import transformers

    meta["transformers"] = transformers.__version__
    (out / "reference.json").write_text(json.dumps(meta))
    print(f"reference: {len(sequences)} sequences {LENGTHS} in {out} ({time.time() - t0:.1f} s)")
    for name, rows in baselines.items():
        for b in rows:
            print(f"  transformers {name} vs fp32, {b['length']} tokens: rel L2 {b['rel_l2']:.2e}, "
                  f"top-1 {100 * b['top1']:.1f}%")


if __name__ == "__main__":
    main()
