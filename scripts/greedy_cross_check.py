#!/usr/bin/env python3
"""Greedy decoding of one model on two devices, compared position by position.

    scripts/greedy_cross_check.py TESSERA_BIN [-m smollm2-135m] [--tokens 32]
        [--margin 0.5] [--out DIR]

Each device generates greedy continuations of the same prompts
(`tessera generate --input`). Then each device scores the other's
continuation by teacher forcing (`prompt_logprobs`): at every position the
scorer's own best token and the logprob it gives the other device's token.
Where the two pick different tokens the scorer's margin (its best logprob
minus that of the other's token) says how close the call was. Greedy outputs
"match" when every position agrees or is a near tie on both devices: margin
at most --margin nats (0.5: the other token has at least 60% of the best
one's probability). Positions after a divergence still count: teacher
forcing puts both devices on the same prefix. Exit code 1 when they do not
match.
"""
import argparse
import json
import pathlib
import subprocess
import sys
import tempfile

PROMPTS = [
    "The capital of France is",
    "def fibonacci(n):\n",
    "Once upon a time, in a small village,",
    "<|im_start|>user\nWhat is the tallest mountain in the world?<|im_end|>\n"
    "<|im_start|>assistant\n",
    "1, 2, 3, 5, 8, 13, 21,",
    "Q: Why is the sky blue?\nA:",
]


def run(binary, model, device, lines, work, name):
    src, out = work / f"{name}.in.jsonl", work / f"{name}.out.jsonl"
    src.write_text("".join(json.dumps(l) + "\n" for l in lines), encoding="utf-8")
    subprocess.run([binary, "generate", "-m", model, "--device", device, "--input", str(src),
                    "--output", str(out)], check=True, stderr=subprocess.DEVNULL)
    return [json.loads(l) for l in out.read_text(encoding="utf-8").splitlines()]


def generate(binary, model, device, tokens, work):
    lines = [{"id": i, "prompt": p, "max_tokens": tokens, "temperature": 0, "ignore_eos": True}
             for i, p in enumerate(PROMPTS)]
    return run(binary, model, device, lines, work, f"greedy_{device}")


def score(binary, model, device, generated, work, name):
    """Per prompt, per generated position: (scorer's best id, its logprob,
    the scorer's logprob of the generated token)."""
    lines = [{"id": r["id"], "prompt_token_ids": r["prompt_token_ids"] +
              r["choices"][0]["token_ids"], "max_tokens": 1, "prompt_logprobs": 1}
             for r in generated]
    out = []
    for r, s in zip(generated, run(binary, model, device, lines, work, name)):
        n = len(r["prompt_token_ids"])
        out.append([(e["top"][0][0], e["top"][0][1], e["logprob"])
                    for e in s["prompt_logprobs"][n:]])
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("binary")
    ap.add_argument("-m", "--model", default="smollm2-135m")
    ap.add_argument("--devices", nargs=2, default=["cpu", "cuda"])
    ap.add_argument("--tokens", type=int, default=32)
    ap.add_argument("--margin", type=float, default=0.5)
    ap.add_argument("--out", type=pathlib.Path)
    args = ap.parse_args()
    work = args.out or pathlib.Path(tempfile.mkdtemp())
    work.mkdir(parents=True, exist_ok=True)
    a, b = args.devices
    gen = {d: generate(args.binary, args.model, d, args.tokens, work) for d in (a, b)}
    # scored[x]: the other device's tokens as device x sees them.
    scored = {a: score(args.binary, args.model, a, gen[b], work, f"{b}_on_{a}"),
              b: score(args.binary, args.model, b, gen[a], work, f"{a}_on_{b}")}
    positions = identical = ties = 0
    worst = 0.0
    ok = True
    for i, prompt in enumerate(PROMPTS):
        ta, tb = gen[a][i]["choices"][0]["token_ids"], gen[b][i]["choices"][0]["token_ids"]
        first = next((k for k, (x, y) in enumerate(zip(ta, tb)) if x != y), len(ta))
        notes = []
        # Device b's tokens scored by a, and a's scored by b.
        for scorer, tokens in ((a, tb), (b, ta)):
            for k, (best, best_lp, lp) in enumerate(scored[scorer][i]):
                positions += 1
                if best == tokens[k]:
                    identical += 1
                    continue
                margin = best_lp - lp
                worst = max(worst, margin)
                if margin <= args.margin:
                    ties += 1
                else:
                    ok = False
                notes.append(f"{scorer} at {k}: best {best}, other's {tokens[k]} "
                             f"{margin:.3f} nats behind")
        print(f"prompt {i} {prompt[:30]!r}: identical for {first} of {len(ta)} tokens"
              + ("; " + "; ".join(notes) if notes else ""))
    print(f"greedy {a} vs {b}: {positions} teacher-forced positions, {identical} same best token, "
          f"{ties} near ties (<= {args.margin} nats), {positions - identical - ties} clear "
          f"disagreements; largest margin {worst:.3f} nats -> {'MATCH' if ok else 'MISMATCH'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
