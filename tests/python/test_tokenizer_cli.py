"""`tessera tokenize` as a command (flags, errors), and the helpers the
other tokenizer suites import: the default model, running the command, the
HF reference built from GGUF metadata."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import hf_tokenizer_from_gguf  # noqa: E402

CORPUS = ROOT / "tests" / "data" / "tokenizer_corpus.jsonl"
MODEL_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def model_path() -> Path:
    models = os.environ.get("TESSERA_MODELS", os.path.expanduser("~/.cache/tessera/models"))
    path = Path(models) / MODEL_NAME
    if not path.is_file():
        pytest.fail(f"default model missing at {path}: run scripts/fetch-model.sh smollm2-135m "
                    "(CI fetches it before the tests)")
    return path


def tessera_bin() -> str:
    binary = os.environ.get("TESSERA_BIN", str(ROOT / "build" / "tessera"))
    if not Path(binary).is_file():
        pytest.fail(f"tessera binary not found at {binary} (set TESSERA_BIN or build first)")
    return binary


def load_corpus() -> list[str]:
    with open(CORPUS, encoding="utf-8", newline="\n") as f:
        return [json.loads(line) for line in f.read().split("\n") if line]


def run_tokenize(model: str | Path, inputs: list, *flags: str) -> list:
    """Feeds `inputs` (strings, or id lists with --decode) to one `tessera
    tokenize` process, one JSON value per line; returns its answers."""
    stdin = "".join(json.dumps(x) + "\n" for x in inputs)
    proc = subprocess.run([tessera_bin(), "tokenize", "-m", str(model), *flags], input=stdin,
                          capture_output=True, text=True, encoding="utf-8", timeout=600)
    assert proc.returncode == 0, f"tessera tokenize failed ({proc.returncode}): {proc.stderr}"
    out = [json.loads(line) for line in proc.stdout.split("\n") if line]
    assert len(out) == len(inputs), f"{len(inputs)} inputs but {len(out)} answers"
    return out


def describe_mismatches(texts, ours, theirs, reference, limit=8) -> str:
    """A readable report of the first few differences (text, both id lists)."""
    bad = [i for i in range(len(texts)) if ours[i] != theirs[i]]
    if not bad:
        return ""
    lines = [f"{len(bad)} of {len(texts)} strings differ from HF tokenizers:"]
    for i in bad[:limit]:
        text = texts[i] if len(texts[i]) < 200 else texts[i][:200] + "..."
        lines.append(f"  text   {text!r}")
        lines.append(f"  ours   {ours[i][:40]} {[reference.id_to_token(t) for t in ours[i][:12]]}")
        lines.append(f"  hf     {theirs[i][:40]} "
                     f"{[reference.id_to_token(t) for t in theirs[i][:12]]}")
    return "\n".join(lines)


# --- the command itself -------------------------------------------------------


def _run(args, stdin=""):
    return subprocess.run([tessera_bin(), "tokenize", *args], input=stdin, capture_output=True,
                          text=True, encoding="utf-8", timeout=120)


def test_prompt_flag_and_short_name():
    model_path()  # fails clearly when the model is not fetched
    proc = _run(["-m", "smollm2-135m", "-p", "Hello world"])
    assert proc.returncode == 0, proc.stderr
    ids = json.loads(proc.stdout)
    ref = hf_tokenizer_from_gguf.tokenizer_from_gguf(str(model_path()))
    assert ids == ref.encode("Hello world").ids


def test_parse_special_and_skip_special():
    model = str(model_path())
    text = "<|im_start|>user\nHi<|im_end|>"
    plain = json.loads(_run(["-m", model, "-p", text]).stdout)
    parsed = json.loads(_run(["-m", model, "--parse-special", "-p", text]).stdout)
    assert 1 in parsed and 2 in parsed and 1 not in plain and 2 not in plain
    out = _run(["-m", model, "--decode", "--skip-special"], json.dumps(parsed) + "\n").stdout
    assert json.loads(out) == "user\nHi"
    out = _run(["-m", model, "--decode"], json.dumps(parsed) + "\n").stdout
    assert json.loads(out) == text


def test_missing_model_is_a_clean_error():
    proc = _run(["-m", "/nonexistent/model.gguf", "-p", "x"])
    assert proc.returncode == 2
    assert proc.stderr.startswith("error:") and "model" in proc.stderr


def test_bad_input_lines_are_clean_errors():
    model = str(model_path())
    for args, stdin in ((["-m", model], "not json\n"), (["-m", model], "[1, 2]\n"),
                        (["-m", model, "--decode"], "[1, 99999999]\n"),
                        (["-m", model, "--decode"], '"text"\n')):
        proc = _run(args, stdin)
        assert proc.returncode == 2, (args, stdin, proc.stderr)
        assert proc.stderr.startswith("error:")


def test_not_a_gguf_file(tmp_path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"definitely not gguf")
    proc = _run(["-m", str(bad), "-p", "x"])
    assert proc.returncode == 2 and proc.stderr.startswith("error:")
