"""What the 8-bit activation quantization of cpu::matmul costs, measured on
the real SmolLM2-135M-Instruct Q4_1 weights (the numbers quoted in
include/tessera/backend/quant.h come from `pytest -s` on this file).

A float64/float32 numpy forward pass of the model (weights dequantized by
`gguf`) runs twice in lockstep: once with float activations into every
matmul, once with the activations quantized exactly like tessera does
(blocks of 32 for Q4_1/Q8_0 weights: d = amax/127, q = round-half-even(x *
127/amax), x' = d * q). Reported: relative error of each projection's output
on the real hidden states, and the effect on the final logits.
Skipped when the model file is not present.
"""

import numpy as np
import pytest

from gguf_numpy_llama import MODEL, Model, attention, rms_norm, rope

TEXT = ("The capital of France is Paris . It is known for the Eiffel Tower , the Louvre museum "
        "and its many cafes . Every year millions of people visit the city to see")


def quantize_activations(x, block=32):
    """tessera's activation round trip (quant_activations.cpp), rows of x."""
    x = np.asarray(x, dtype=np.float32)
    b = x.reshape(*x.shape[:-1], -1, block)
    amax = np.max(np.abs(b), axis=-1, keepdims=True).astype(np.float32)
    d = (amax / np.float32(127)).astype(np.float32)
    with np.errstate(divide="ignore"):
        inv = np.where(amax != 0, np.float32(127) / amax, np.float32(0)).astype(np.float32)
    q = np.rint((b * inv).astype(np.float32))
    return (d * q).astype(np.float32).reshape(x.shape)


def rel_err(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


@pytest.fixture(scope="module")
def results():
    if not MODEL.exists():
        pytest.skip(f"{MODEL} not present")
    return forward_both(Model(MODEL))


def forward_both(m):
    """Runs the float and the 8-bit-activation forward passes side by side."""
    ids = m.tokens(TEXT)
    assert len(ids) >= 20
    T = len(ids)
    positions = np.arange(T, dtype=np.float64)
    emb = m.weight("token_embd.weight")
    h = {"f32": emb[ids].copy(), "q8": emb[ids].copy()}
    errors = {k: [] for k in ("qkv", "o", "gate_up", "down", "head")}

    def mm(kind, x, w, path):
        y = x @ w.T
        if path == "q8":
            yq = quantize_activations(x) @ w.T
            errors[kind].append(rel_err(yq, y))
            return yq
        return y

    hd = 576 // m.n_heads
    for layer in range(m.n_layers):
        W = {n: m.weight(f"blk.{layer}.{n}.weight") for n in (
            "attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down",
            "attn_norm", "ffn_norm")}
        for path in ("f32", "q8"):
            x = rms_norm(h[path], W["attn_norm"], m.eps)
            q = mm("qkv", x, W["attn_q"], path).reshape(T, m.n_heads, hd)
            k = mm("qkv", x, W["attn_k"], path).reshape(T, m.n_kv, hd)
            v = mm("qkv", x, W["attn_v"], path).reshape(T, m.n_kv, hd)
            a = attention(rope(q, positions, m.theta), rope(k, positions, m.theta), v, m.n_heads, m.n_kv)
            h[path] = h[path] + mm("o", a.reshape(T, -1), W["attn_output"], path)
            x = rms_norm(h[path], W["ffn_norm"], m.eps)
            g = mm("gate_up", x, W["ffn_gate"], path)
            u = mm("gate_up", x, W["ffn_up"], path)
            act = (g / (1.0 + np.exp(-g.astype(np.float64)))).astype(np.float32) * u
            h[path] = h[path] + mm("down", act, W["ffn_down"], path)
    norm_w = m.weight("output_norm.weight")
    logits = {p: mm("head", rms_norm(h[p], norm_w, m.eps), emb, p) for p in ("f32", "q8")}
    return errors, logits


def test_projection_errors(results):
    errors, _ = results
    print("\nrelative error of projection outputs, 8-bit vs float activations (real hidden states)")
    for kind, errs in errors.items():
        e = np.array(errs)
        print(f"  {kind:8s} mean {e.mean() * 100:.2f}%  max {e.max() * 100:.2f}%  ({len(e)} matmuls)")
        assert e.max() < 0.05, kind


def test_synthetic_activations_on_real_rows():
    """Real weight rows, synthetic activations: Gaussian and heavy-tailed."""
    if not MODEL.exists():
        pytest.skip(f"{MODEL} not present")
    m = Model(MODEL)
    rng = np.random.default_rng(0)
    print("\nrelative error on real weight rows, synthetic activations (64 rows each)")
    for name in ("blk.0.attn_q.weight", "blk.15.ffn_gate.weight", "blk.29.ffn_down.weight"):
        w = m.weight(name)
        for label, x in (("gaussian", rng.standard_normal((64, w.shape[1]))),
                         ("student-t(3)", rng.standard_t(3, (64, w.shape[1])))):
            x = x.astype(np.float32)
            e = rel_err(quantize_activations(x) @ w.T, x @ w.T)
            print(f"  {name:24s} {label:13s} {e * 100:.2f}%")
            assert e < 0.03


def test_logits(results):
    _, logits = results
    f, q = logits["f32"].astype(np.float64), logits["q8"].astype(np.float64)
    diff = q - f
    top1 = np.mean(np.argmax(f, -1) == np.argmax(q, -1))
    top5 = np.mean([len(set(np.argsort(-f[t])[:5]) & set(np.argsort(-q[t])[:5])) / 5 for t in range(len(f))])
    pf = np.exp(f - f.max(-1, keepdims=True)); pf /= pf.sum(-1, keepdims=True)
    lq = q - q.max(-1, keepdims=True); lq -= np.log(np.exp(lq).sum(-1, keepdims=True))
    lf = np.log(pf)
    kl = np.mean(np.sum(pf * (lf - lq), -1))
    print(f"\nlogits over {len(f)} positions: std {f.std():.3f}, RMS diff {np.sqrt(np.mean(diff ** 2)):.4f}, "
          f"max |diff| {np.abs(diff).max():.4f}, top-1 agree {top1 * 100:.1f}%, "
          f"top-5 overlap {top5 * 100:.1f}%, KL(f32||q8) {kl:.2e} nats")
    # Where the float model is not close to a tie, the greedy token is unchanged.
    top2 = np.sort(f, -1)[:, -2:]
    clear = (top2[:, 1] - top2[:, 0]) > 1.0
    print(f"positions with a float top-1 margin > 1 logit: {clear.sum()}, all agree: "
          f"{np.all(np.argmax(f, -1)[clear] == np.argmax(q, -1)[clear])}")
    assert np.all(np.argmax(f, -1)[clear] == np.argmax(q, -1)[clear])
    assert top1 >= 0.8
    assert np.sqrt(np.mean(diff ** 2)) < 0.1 * f.std()
    assert kl < 1e-2
