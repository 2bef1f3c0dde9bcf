"""A numpy forward pass of the default model's GGUF for the Python tests that
measure what tessera's CPU matmul precisions do to real hidden states and
logits: the weights (dequantized by `gguf`), a whitespace tokenizer for
plain-word test texts, and float64 RMSNorm, rotary embedding and attention.
"""
import os
import pathlib

import numpy as np

MODEL = pathlib.Path(os.environ.get(
    "TESSERA_MODEL", pathlib.Path.home() / ".cache/tessera/models/SmolLM2-135M-Instruct.Q4_1.gguf"))


class Model:
    def __init__(self, path):
        from gguf import GGUFReader
        from gguf.quants import dequantize
        self.reader = GGUFReader(str(path))
        self.tensors = {t.name: t for t in self.reader.tensors}
        self.dequantize = dequantize
        f = self.reader.fields
        self.n_layers = int(f["llama.block_count"].parts[-1][0])
        self.n_heads = int(f["llama.attention.head_count"].parts[-1][0])
        self.n_kv = int(f["llama.attention.head_count_kv"].parts[-1][0])
        self.theta = float(f["llama.rope.freq_base"].parts[-1][0])
        self.eps = float(f["llama.attention.layer_norm_rms_epsilon"].parts[-1][0])
        tok = f["tokenizer.ggml.tokens"]
        self.vocab = {bytes(tok.parts[i]).decode("utf-8", "replace"): n
                      for n, i in enumerate(tok.data)}

    def weight(self, name):
        t = self.tensors[name]
        w = np.asarray(self.dequantize(t.data, t.tensor_type), dtype=np.float32)
        return w.reshape([int(s) for s in reversed(t.shape)]) if w.ndim == 1 and len(t.shape) > 1 else w

    def tokens(self, text):
        ids = []
        for i, word in enumerate(text.split()):
            for cand in (word, "\u0120" + word) if i == 0 else ("\u0120" + word, word):
                if cand in self.vocab:
                    ids.append(self.vocab[cand])
                    break
        return np.array(ids)


def rms_norm(x, w, eps):
    x64 = x.astype(np.float64)
    return (x64 / np.sqrt(np.mean(x64 * x64, axis=-1, keepdims=True) + eps) * w).astype(np.float32)


def rope(x, positions, theta):
    # GGUF llama q/k rows are ordered for rotation of adjacent pairs.
    d = x.shape[-1]
    inv = theta ** (-np.arange(0, d, 2, dtype=np.float64) / d)
    ang = positions[:, None] * inv[None, :]
    cos, sin = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
    x0, x1 = x[..., 0::2].astype(np.float64), x[..., 1::2].astype(np.float64)
    out = np.empty(x.shape, dtype=np.float64)
    out[..., 0::2] = x0 * cos - x1 * sin
    out[..., 1::2] = x0 * sin + x1 * cos
    return out.astype(np.float32)


def attention(q, k, v, n_heads, n_kv):
    T, hd = q.shape[0], q.shape[-1]
    group = n_heads // n_kv
    out = np.empty_like(q)
    mask = np.triu(np.full((T, T), -np.inf), 1)
    for h in range(n_heads):
        s = q[:, h, :].astype(np.float64) @ k[:, h // group, :].T.astype(np.float64) / np.sqrt(hd) + mask
        p = np.exp(s - s.max(axis=-1, keepdims=True))
        p /= p.sum(axis=-1, keepdims=True)
        out[:, h, :] = (p @ v[:, h // group, :].astype(np.float64)).astype(np.float32)
    return out
