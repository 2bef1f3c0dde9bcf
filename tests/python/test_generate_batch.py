"""Offline batch mode (`tessera generate --input prompts.jsonl`) on the default
model: one result line per input line, in order; prompt token ids as HF
`tokenizers` encodes the prompt; logprobs and prompt logprobs in their
documented shapes; and teacher forcing agrees with generation: scoring a
prompt followed by its greedy continuation gives, as prompt logprobs, the
logprobs the continuation was generated with (CPU steps are batch- and
chunk-invariant). Bad input lines exit with code 2 and name the line.
"""
import json
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
from hf_tokenizer_from_gguf import tokenizer_from_gguf  # noqa: E402

MODEL = pathlib.Path(os.environ.get(
    "TESSERA_MODEL", pathlib.Path.home() / ".cache/tessera/models/SmolLM2-135M-Instruct.Q4_1.gguf"))
PROMPTS = ["The capital of France is", "def fibonacci(n):\n", "Once upon a time,",
           "1, 2, 3, 5, 8, 13,"]


def tessera():
    path = os.environ.get("TESSERA_BIN")
    if not path:
        pytest.fail("TESSERA_BIN is not set (ctest sets it to the built binary)")
    if not MODEL.is_file():
        pytest.fail(f"default model not downloaded: {MODEL}")
    return path


def run_batch(tmp_path, lines, *extra):
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    proc = subprocess.run([tessera(), "generate", "-m", "smollm2-135m", "--input", str(src),
                           "--output", str(out), *extra], capture_output=True, timeout=600)
    results = ([json.loads(l) for l in out.read_text(encoding="utf-8").splitlines()]
               if proc.returncode == 0 else [])
    return proc, results


def check_entry(entry, token_id, k):
    assert entry["token_id"] == token_id
    assert entry["logprob"] <= 0.0
    top = entry["top"]
    assert len(top) == k
    assert [p for _, p in top] == sorted((p for _, p in top), reverse=True)


def test_logprobs_and_teacher_forcing(tmp_path):
    hf = tokenizer_from_gguf(str(MODEL))
    lines = [{"id": f"p{i}", "prompt": p, "max_tokens": 12, "temperature": 0, "ignore_eos": True,
              "logprobs": 3, "prompt_logprobs": 2} for i, p in enumerate(PROMPTS)]
    proc, results = run_batch(tmp_path, lines)
    assert proc.returncode == 0, proc.stderr.decode()
    assert [r["id"] for r in results] == [l["id"] for l in lines]
    scoring = []
    for prompt, r in zip(PROMPTS, results):
        ids = r["prompt_token_ids"]
        assert ids == hf.encode(prompt).ids
        choice = r["choices"][0]
        assert len(choice["token_ids"]) == 12 and len(choice["logprobs"]) == 12
        for t, entry in zip(choice["token_ids"], choice["logprobs"]):
            check_entry(entry, t, 3)
            assert entry["top"][0] == [t, entry["logprob"]]  # greedy: the best token
        plp = r["prompt_logprobs"]
        assert len(plp) == len(ids) and plp[0] is None
        for t, entry in zip(ids[1:], plp[1:]):
            check_entry(entry, t, 2)
        scoring.append({"prompt_token_ids": ids + choice["token_ids"], "max_tokens": 1,
                        "prompt_logprobs": 1})

    proc, scored = run_batch(tmp_path, scoring)
    assert proc.returncode == 0, proc.stderr.decode()
    for r, s in zip(results, scored):
        n = len(r["prompt_token_ids"])
        generated = [e["logprob"] for e in r["choices"][0]["logprobs"]]
        forced = [e["logprob"] for e in s["prompt_logprobs"][n:]]
        assert forced == pytest.approx(generated, abs=1e-5)
        assert [e["top"][0][0] for e in s["prompt_logprobs"][n:]] == r["choices"][0]["token_ids"]


def test_stop_token_ids_and_plain_output(tmp_path):
    proc, free = run_batch(tmp_path, [{"prompt": PROMPTS[0], "max_tokens": 10, "temperature": 0,
                                       "ignore_eos": True}])
    assert proc.returncode == 0, proc.stderr.decode()
    tokens = free[0]["choices"][0]["token_ids"]
    assert "logprobs" not in free[0]["choices"][0] and "prompt_logprobs" not in free[0]
    stop = tokens[4]
    proc, stopped = run_batch(tmp_path, [{"prompt": PROMPTS[0], "max_tokens": 10, "temperature": 0,
                                          "ignore_eos": True, "stop_token_ids": [stop]}])
    assert proc.returncode == 0, proc.stderr.decode()
    choice = stopped[0]["choices"][0]
    assert choice["token_ids"] == tokens[:tokens.index(stop) + 1]
    assert choice["finish_reason"] == "stop"


@pytest.mark.parametrize("line", [{"prompt": "x", "logprobs": "three"},
                                  {"prompt": "x", "stop_token_ids": 5},
                                  {"max_tokens": 3}])
def test_bad_lines_exit_2(tmp_path, line):
    proc, _ = run_batch(tmp_path, [{"prompt": "fine", "max_tokens": 1}, line])
    assert proc.returncode == 2
    err = proc.stderr.decode().strip().splitlines()
    assert err and "line 2" in err[-1]
