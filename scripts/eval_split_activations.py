#!/usr/bin/env python3
"""What splitting each activation block into several int8 parts would do to
the default model's logits (numpy forward pass, weights from `gguf`): part 1
is the block quantized at amax/127, each next part quantizes what is left
at a scale 254 times finer. Integer dot products of each part are exact, so
such a mode would keep batch invariance on VNNI and AMX alike; this script
measures its accuracy before any kernel is written.

    python3 scripts/eval_split_activations.py [--parts 1 2 3]
"""
import argparse
import pathlib
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tests" / "python"))
import test_dequant_activation_error as forward  # noqa: E402
from gguf_numpy_llama import MODEL, Model  # noqa: E402


def split_quantize(x, parts, block=32):
    x = np.asarray(x, dtype=np.float32)
    b = x.reshape(*x.shape[:-1], -1, block).astype(np.float64)
    d = np.max(np.abs(b), axis=-1, keepdims=True) / 127.0
    out = np.zeros_like(b)
    for _ in range(parts):
        with np.errstate(divide="ignore", invalid="ignore"):
            q = np.where(d != 0, np.rint((b - out) / d), 0)
        out += d * np.clip(q, -127, 127)
        d = d / 254.0
    return out.astype(np.float32).reshape(x.shape)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--parts", type=int, nargs="+", default=[1, 2, 3])
    args = ap.parse_args()
    if not MODEL.exists():
        sys.exit(f"{MODEL} not present (scripts/fetch-model.sh)")
    m = Model(MODEL)
    for parts in args.parts:
        forward.quantize_activations = lambda x, block=32, p=parts: split_quantize(x, p, block)
        _, logits = forward.forward_both(m)
        f, q = logits["f32"].astype(np.float64), logits["q8"].astype(np.float64)
        last = np.linalg.norm(q[-1] - f[-1]) / np.linalg.norm(f[-1])
        every = np.linalg.norm(q - f) / np.linalg.norm(f)
        top1 = np.mean(np.argmax(f, -1) == np.argmax(q, -1))
        print(f"{parts} int8 part(s): logits relative L2 {last:.2e} (last position), "
              f"{every:.2e} (all {len(f)} positions); top-1 agreement {top1 * 100:.1f}%", flush=True)


if __name__ == "__main__":
    main()
