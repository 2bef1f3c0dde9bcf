"""Every GGUF pre-tokenizer name tessera knows, checked against HF
`tokenizers` running the pre-tokenizer hf_tokenizer_from_gguf.py maps it to.

The vocabulary and merges are the default model's; only tokenizer.ggml.pre
changes, written into a metadata-only GGUF file with the `gguf` package."""

from __future__ import annotations

import gguf
import pytest

from test_tokenizer_cli import (describe_mismatches, hf_tokenizer_from_gguf, load_corpus,
                                model_path, run_tokenize)

PRE_NAMES = ["gpt2", "llama-bpe", "qwen2", "starcoder", "smollm"]


def write_gguf(path, meta: dict, pre: str):
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_tokenizer_model(meta["tokenizer.ggml.model"])
    writer.add_tokenizer_pre(pre)
    writer.add_token_list(meta["tokenizer.ggml.tokens"])
    writer.add_token_types(meta["tokenizer.ggml.token_type"])
    writer.add_token_merges(meta["tokenizer.ggml.merges"])
    writer.add_bos_token_id(meta["tokenizer.ggml.bos_token_id"])
    writer.add_eos_token_id(meta["tokenizer.ggml.eos_token_id"])
    writer.add_add_bos_token(pre == "llama-bpe")  # Llama 3 adds BOS: exercise that too
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


@pytest.fixture(scope="module")
def meta():
    return hf_tokenizer_from_gguf.read_tokenizer_metadata(str(model_path()))


@pytest.fixture(scope="module")
def corpus():
    return load_corpus()


@pytest.mark.parametrize("pre", PRE_NAMES)
def test_pre_tokenizer_matches_hf(pre, meta, corpus, tmp_path):
    path = tmp_path / f"{pre}.gguf"
    write_gguf(path, meta, pre)
    reference = hf_tokenizer_from_gguf.tokenizer_from_gguf(str(path))
    theirs = [e.ids for e in reference.encode_batch(corpus)]
    ours = run_tokenize(path, corpus, "--parse-special")
    report = describe_mismatches(corpus, ours, theirs, reference)
    assert not report, f"pre={pre}: {report}"
    if pre == "llama-bpe":
        assert all(ids and ids[0] == meta["tokenizer.ggml.bos_token_id"] for ids in ours)
    # The HF folder written from the same file reads back the same way.
    folder = tmp_path / "hf"
    hf_tokenizer_from_gguf.write_tokenizer_files(str(path), str(folder))
    ours_hf = run_tokenize(folder, corpus, "--parse-special")
    report = describe_mismatches(corpus, ours_hf, theirs, reference)
    assert not report, f"pre={pre} from tokenizer.json: {report}"


def test_unknown_pre_is_a_clean_error(meta, tmp_path):
    import subprocess
    from test_tokenizer_cli import tessera_bin

    path = tmp_path / "odd.gguf"
    write_gguf(path, meta, "no-such-pre-tokenizer")
    proc = subprocess.run([tessera_bin(), "tokenize", "-m", str(path), "-p", "x"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "no-such-pre-tokenizer" in proc.stderr
