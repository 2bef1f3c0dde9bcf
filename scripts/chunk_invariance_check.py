#!/usr/bin/env python3
"""Chunked prefill must not change a prompt's logits on the CPU.

    scripts/chunk_invariance_check.py TESSERA_BIN [--kernels amx avx512-vnni avx2 portable]

For random-weight Llamas (`--load-format dummy`) with head sizes 64 and 128,
scores one 1500-token prompt (`prompt_logprobs`) in one step and in chunks of
97 tokens (`--max-num-batched-tokens 97`), once per CPU kernel family
(`TESSERA_KERNELS`; families this CPU lacks are reported and left out) and at
1 and all threads. The CPU path is batch- and chunk-invariant, so the
logprobs must be identical. Exit code 1 on any difference.
"""
import argparse
import json
import os
import pathlib
import random
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[1]


def configs(work):
    base = json.loads((ROOT / "tests/data/configs/small-llama.json").read_text())
    d128 = dict(base, hidden_size=1024, num_attention_heads=8, num_key_value_heads=2,
                intermediate_size=2048)
    (work / "d128.json").write_text(json.dumps(d128))
    return {"head_dim 64": ROOT / "tests/data/configs/small-llama.json",
            "head_dim 128": work / "d128.json"}


def score(binary, config, prompt, budget, kernels, threads, work):
    out = work / "out.jsonl"
    env = dict(os.environ, TESSERA_KERNELS=kernels)
    cmd = [binary, "generate", "-m", str(config), "--load-format", "dummy", "--input",
           str(prompt), "--output", str(out), "--max-num-batched-tokens", str(budget)]
    if threads:
        cmd += ["-t", str(threads)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        return None, proc.stderr.strip().splitlines()[-1:]
    return [e["logprob"] if e else None
            for e in json.loads(out.read_text())["prompt_logprobs"]], None


def supported(kernels):
    """Whether this CPU has the family (TESSERA_KERNELS falls back silently)."""
    flags = set()
    for line in open("/proc/cpuinfo"):
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            break
    need = {"amx": {"amx_tile", "avx512_vnni"}, "avx512-vnni": {"avx512f", "avx512_vnni"},
            "avx2": {"avx2", "fma", "f16c"}, "portable": set()}
    return need.get(kernels, {"?"}) <= flags


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("binary")
    ap.add_argument("--kernels", nargs="+", default=["amx", "avx512-vnni", "avx2", "portable"])
    args = ap.parse_args()
    work = pathlib.Path(tempfile.mkdtemp())
    rng = random.Random(1)
    prompt = work / "prompt.jsonl"
    prompt.write_text(json.dumps({"prompt_token_ids": [rng.randrange(1, 2000) for _ in range(1500)],
                                  "max_tokens": 1, "prompt_logprobs": 1}) + "\n")
    ok = True
    for name, config in configs(work).items():
        for kernels in args.kernels:
            if not supported(kernels):
                print(f"{name}, kernels {kernels}: this CPU lacks them")
                continue
            for threads in (0, 1):
                whole, err = score(args.binary, config, prompt, 4096, kernels, threads, work)
                if whole is None:
                    print(f"{name}, kernels {kernels}: not run ({' '.join(err)})")
                    break
                chunked, err = score(args.binary, config, prompt, 97, kernels, threads, work)
                diff = [i for i, (a, b) in enumerate(zip(whole, chunked)) if a != b]
                ok = ok and not diff and chunked is not None
                print(f"{name}, kernels {kernels}, threads {threads or 'all'}: "
                      f"{len(diff)} of {len(whole) - 1} prompt logprobs differ"
                      + (f" (first at positions {diff[:5]})" if diff else ""))
    print("chunk invariance: " + ("OK" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
