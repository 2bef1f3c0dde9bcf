#!/usr/bin/env python3
"""Reference distributions for the sampler tests (tests/engine/sampler_test.cpp).

Writes tests/data/sampling_reference.json: for each case the raw logits, the
parameters, the token history, and - computed here in float64 with numpy,
straight from the published definitions - the processed logits (logit bias,
min_tokens, HF repetition penalty, OpenAI presence/frequency penalties), the
final sampling distribution (temperature, then top-k, top-p, min-p, each
renormalizing) and the raw log-softmax. -inf is written as null.

Run: python3 scripts/gen_sampling_reference.py
"""
import json
import pathlib

import numpy as np

OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "data" / "sampling_reference.json"


def process(logits, p, prompt, output, eos):
    x = logits.astype(np.float64).copy()
    for tok, bias in p.get("logit_bias", {}).items():
        x[int(tok)] += bias
    if len(output) < p.get("min_tokens", 0):
        for t in p.get("stop_token_ids", []):
            x[t] = -np.inf
        if not p.get("ignore_eos", False):
            for t in eos:
                x[t] = -np.inf
    r = p.get("repetition_penalty", 1.0)
    if r != 1.0:
        for t in set(prompt) | set(output):
            x[t] = x[t] / r if x[t] > 0 else x[t] * r
    counts = np.bincount(np.asarray(output, dtype=np.int64), minlength=len(x)) if output else np.zeros(len(x))
    x -= counts * p.get("frequency_penalty", 0.0) + (counts > 0) * p.get("presence_penalty", 0.0)
    return x


def distribution(x, p):
    v = len(x)
    t = p.get("temperature", 1.0)
    if t < 1e-5:
        probs = np.zeros(v)
        probs[int(np.argmax(x))] = 1.0  # numpy argmax: first (lowest) index on ties
        return probs
    ids = np.arange(v)
    order = np.lexsort((ids, -x))  # best first, lower id on ties
    keep = np.zeros(v, dtype=bool)
    k = p.get("top_k", 0)
    keep[order[: k if 0 < k < v else v]] = True
    w = np.where(keep, np.exp((x - x.max()) / t), 0.0)
    probs = w / w.sum()
    top_p = p.get("top_p", 1.0)
    if top_p < 1.0:
        cum_before = np.cumsum(probs[order]) - probs[order]
        assert np.min(np.abs(cum_before - top_p)) > 1e-5, "top_p boundary too close to call"
        kept = order[cum_before < top_p]
        mask = np.zeros(v, dtype=bool)
        mask[kept] = True
        probs = np.where(mask, probs, 0.0)
        probs /= probs.sum()
    min_p = p.get("min_p", 0.0)
    if min_p > 0.0:
        ratio = probs / probs.max()
        assert np.min(np.abs(ratio[probs > 0] - min_p)) > 1e-5, "min_p boundary too close to call"
        probs = np.where(ratio >= min_p, probs, 0.0)
        probs /= probs.sum()
    return probs


def log_softmax(x):
    x = x.astype(np.float64)
    m = x.max()
    return x - (m + np.log(np.exp(x - m).sum()))


def short(v):
    return float(f"{v:.10g}")


def nulls(a):
    return [None if np.isneginf(v) else short(v) for v in a]


def main():
    rng = np.random.default_rng(20240611)
    cases = []

    def add(name, logits, params, prompt=(), output=(), eos=(0,), wide=False):
        logits = np.asarray(logits, dtype=np.float32)
        x = process(logits, params, list(prompt), list(output), list(eos))
        case = {
            "name": name,
            "logits": [float(v) for v in logits],  # float32 values, exact
            "params": params,
            "prompt": list(prompt),
            "output": list(output),
            "eos": list(eos),
            "probs": [short(v) for v in distribution(x, params)],
        }
        if not wide:  # small cases also check the processors and raw logprobs
            case["processed"] = nulls(x)
            case["raw_logprobs"] = [short(v) for v in log_softmax(logits)]
        cases.append(case)

    base = rng.normal(0.0, 2.0, 16)
    add("temperature_1", base, {"temperature": 1.0})
    add("temperature_0.5", base, {"temperature": 0.5})
    add("temperature_2", base, {"temperature": 2.0})
    add("greedy", base, {"temperature": 0.0})
    add("top_k_5", base, {"temperature": 1.0, "top_k": 5})
    add("top_p_0.8", base, {"temperature": 0.7, "top_p": 0.8})
    add("min_p_0.1", base, {"temperature": 1.0, "min_p": 0.1})
    add("top_k_top_p_min_p", base, {"temperature": 1.3, "top_k": 8, "top_p": 0.9, "min_p": 0.05})
    add("top_k_ties", [1.0, 2.0, 2.0, 2.0, 0.5, 2.0, -1.0, 0.0], {"temperature": 1.0, "top_k": 2})
    history = dict(prompt=[1, 2, 2, 9, 12], output=[2, 5, 5, 5, 14, 9])
    add("repetition_penalty", base, {"temperature": 1.0, "repetition_penalty": 1.3}, **history)
    add("presence_frequency", base,
        {"temperature": 1.0, "presence_penalty": 0.5, "frequency_penalty": 0.3}, **history)
    add("negative_penalties", base,
        {"temperature": 1.0, "presence_penalty": -1.0, "frequency_penalty": -0.4,
         "repetition_penalty": 0.8}, **history)
    add("logit_bias", base, {"temperature": 1.0, "logit_bias": {"3": 2.5, "7": -100.0, "0": 1.0}})
    add("min_tokens_active", base,
        {"temperature": 1.0, "min_tokens": 5, "stop_token_ids": [4, 11]}, output=[1, 2], eos=[0, 6])
    add("min_tokens_reached", base,
        {"temperature": 1.0, "min_tokens": 2, "stop_token_ids": [4, 11]}, output=[1, 2], eos=[0, 6])
    add("min_tokens_ignore_eos", base,
        {"temperature": 1.0, "min_tokens": 5, "stop_token_ids": [4], "ignore_eos": True},
        output=[1], eos=[0, 6])
    add("everything", base,
        {"temperature": 0.8, "top_k": 10, "top_p": 0.95, "min_p": 0.02,
         "repetition_penalty": 1.2, "presence_penalty": 0.3, "frequency_penalty": 0.2,
         "logit_bias": {"5": 1.5}, "min_tokens": 3, "stop_token_ids": [11]},
        prompt=[5, 6, 7], output=[5, 8], eos=[0])
    # Larger vocabularies for the partial-sort paths (exact probabilities only).
    wide = rng.normal(0.0, 1.0, 2000)
    add("wide_top_p_0.9", wide, {"temperature": 1.0, "top_p": 0.9}, wide=True)
    add("wide_top_p_0.3", wide, {"temperature": 0.5, "top_p": 0.3}, wide=True)
    add("wide_top_k_700", wide, {"temperature": 1.0, "top_k": 700}, wide=True)
    add("wide_min_p", wide, {"temperature": 1.0, "min_p": 0.3}, wide=True)

    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"cases": cases}, separators=(",", ":")) + "\n")
    print(f"wrote {len(cases)} cases to {OUT}")


if __name__ == "__main__":
    main()
