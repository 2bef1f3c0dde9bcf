"""Helpers shared by the tokenizer suites: the default model, running
`tessera tokenize`, and the HF reference built from GGUF metadata."""

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
