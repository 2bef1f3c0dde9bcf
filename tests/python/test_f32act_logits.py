"""What each CPU activation precision does to a real model's logits, with
tessera's own matmul kernels (the numbers quoted in
include/tessera/backend/quant.h come from `pytest -s` on this file).

A numpy forward pass of SmolLM2-135M-Instruct Q4_1 (weights from `gguf`)
runs three times: every projection (q/k/v, o, gate/up, down, head) computed
in float64 from the dequantized weights (the reference), or by tessera's
cpu::matmul on the GGUF bytes in ActivationPrecision::kFloat or kInt8 (through
bench_matmul_pipe). Everything else (norms, rope, attention, SiLU) is the
same numpy code in all three, so the logit differences are the matmul's.
Skipped when the model file or the pipe binary is not present.
"""
import os
import pathlib
import subprocess

import numpy as np
import pytest

from gguf_numpy_llama import MODEL, Model, attention, rms_norm, rope

TEXTS = [
    "The capital of France is Paris . It is known for the Eiffel Tower , the Louvre museum "
    "and its many cafes . Every year millions of people visit the city to see",
    "def fibonacci ( n ) : if n < 2 : return n return fibonacci ( n - 1 ) + fibonacci ( n - 2 )",
    "Photosynthesis is the process by which green plants use sunlight , water and carbon "
    "dioxide to make",
]


def pipe_binary():
    if "TESSERA_MATMUL_PIPE" in os.environ:
        return pathlib.Path(os.environ["TESSERA_MATMUL_PIPE"])
    root = pathlib.Path(os.environ["TESSERA_BIN"]).parent if "TESSERA_BIN" in os.environ \
        else pathlib.Path(__file__).resolve().parents[2] / "build"
    return root / "bench" / "bench_matmul_pipe"


class Pipe:
    """tessera's cpu::matmul in a child process (bench/matmul_pipe.cpp)."""

    def __init__(self, path):
        self.proc = subprocess.Popen([str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.shapes = {}

    def add_weight(self, wid, tensor):
        n, k = int(tensor.shape[1]), int(tensor.shape[0])
        data = np.ascontiguousarray(tensor.data).tobytes()
        self.proc.stdin.write(f"W {wid} {tensor.tensor_type.name} {n} {k}\n".encode() + data)
        self.shapes[wid] = (n, k)

    def matmul(self, wid, x, precision):
        n, k = self.shapes[wid]
        x = np.ascontiguousarray(x, dtype=np.float32)
        assert x.shape[1] == k
        self.proc.stdin.write(f"M {wid} {x.shape[0]} {precision}\n".encode() + x.tobytes())
        self.proc.stdin.flush()
        out = self.proc.stdout.read(4 * x.shape[0] * n)
        assert len(out) == 4 * x.shape[0] * n, "bench_matmul_pipe failed"
        return np.frombuffer(out, dtype=np.float32).reshape(x.shape[0], n)

    def close(self):
        try:
            self.proc.stdin.write(b"Q\n")
            self.proc.stdin.close()
        except BrokenPipeError:
            pass
        self.proc.wait(timeout=30)


PATHS = ("ref", "f32", "int8")


def forward_all(m, pipe, ids, dense):
    """Logits [T, vocab] of each path; the paths run side by side. dense
    caches float64 weights across calls."""
    T = len(ids)
    positions = np.arange(T, dtype=np.float64)
    hd = 576 // m.n_heads

    def mm(path, name, x):
        if path == "ref":
            if name not in dense:
                dense[name] = m.weight(name).astype(np.float64)
            return (x.astype(np.float64) @ dense[name].T).astype(np.float32)
        return pipe.matmul(name, x, path)

    emb = m.weight("token_embd.weight")
    h = {p: emb[ids].copy() for p in PATHS}
    for layer in range(m.n_layers):
        n = lambda s: f"blk.{layer}.{s}.weight"  # noqa: E731
        attn_norm, ffn_norm = m.weight(n("attn_norm")), m.weight(n("ffn_norm"))
        for p in PATHS:
            x = rms_norm(h[p], attn_norm, m.eps)
            q = mm(p, n("attn_q"), x).reshape(T, m.n_heads, hd)
            k = mm(p, n("attn_k"), x).reshape(T, m.n_kv, hd)
            v = mm(p, n("attn_v"), x).reshape(T, m.n_kv, hd)
            a = attention(rope(q, positions, m.theta), rope(k, positions, m.theta), v, m.n_heads, m.n_kv)
            h[p] = h[p] + mm(p, n("attn_output"), a.reshape(T, -1))
            x = rms_norm(h[p], ffn_norm, m.eps)
            g = mm(p, n("ffn_gate"), x)
            u = mm(p, n("ffn_up"), x)
            act = (g / (1.0 + np.exp(-g.astype(np.float64)))).astype(np.float32) * u
            h[p] = h[p] + mm(p, n("ffn_down"), act)
    norm_w = m.weight("output_norm.weight")
    return {p: mm(p, "token_embd.weight", rms_norm(h[p], norm_w, m.eps)) for p in PATHS}


@pytest.fixture(scope="module")
def results():
    if not MODEL.exists():
        pytest.skip(f"{MODEL} not present")
    binary = pipe_binary()
    if not binary.exists():
        pytest.skip(f"{binary} not built (configure with -DTESSERA_BENCH=ON)")
    m = Model(MODEL)
    pipe = Pipe(binary)
    try:
        for name, t in m.tensors.items():
            if name.endswith(".weight") and len(t.shape) == 2:
                pipe.add_weight(name, t)
        dense = {}
        return [forward_all(m, pipe, m.tokens(text), dense) for text in TEXTS]
    finally:
        pipe.close()


def rel_l2(a, b):
    a, b = a.astype(np.float64), b.astype(np.float64)
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def test_logits_per_precision(results):
    print()
    worst = {}
    for p in ("f32", "int8"):
        last = [rel_l2(r[p][-1], r["ref"][-1]) for r in results]
        every = [rel_l2(r[p], r["ref"]) for r in results]
        agree = np.mean(np.concatenate([np.argmax(r[p], -1) == np.argmax(r["ref"], -1)
                                        for r in results]))
        positions = sum(len(r["ref"]) for r in results)
        print(f"{p:5s}: last-position logits relative L2 error max {max(last):.2e} "
              f"(per prompt {', '.join(f'{e:.1e}' for e in last)}); all positions {max(every):.2e}; "
              f"top-1 agrees at {agree * 100:.1f}% of {positions} positions")
        worst[p] = max(every)
    assert worst["f32"] < 1e-4
    assert worst["int8"] > 10 * worst["f32"]  # the 8-bit path is measurably coarser
