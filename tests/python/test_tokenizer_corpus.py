"""tessera's tokenizer against HF `tokenizers` on the committed corpus, for
the default model read from its GGUF file and from an HF folder written by
scripts/hf_tokenizer_from_gguf.py."""

from __future__ import annotations

import pytest

from test_tokenizer_cli import (describe_mismatches, hf_tokenizer_from_gguf, load_corpus,
                                 model_path, run_tokenize)


@pytest.fixture(scope="module")
def model():
    return model_path()


@pytest.fixture(scope="module")
def corpus():
    texts = load_corpus()
    assert len(texts) >= 2000
    return texts


@pytest.fixture(scope="module")
def reference(model):
    return hf_tokenizer_from_gguf.tokenizer_from_gguf(str(model))


@pytest.fixture(scope="module")
def reference_ids(reference, corpus):
    return [e.ids for e in reference.encode_batch(corpus)]


@pytest.fixture(scope="module")
def hf_folder(model, tmp_path_factory):
    out = tmp_path_factory.mktemp("smollm2_hf")
    hf_tokenizer_from_gguf.write_tokenizer_files(str(model), str(out))
    return out


def test_gguf_parse_special_matches_hf(model, corpus, reference, reference_ids):
    ours = run_tokenize(model, corpus, "--parse-special")
    report = describe_mismatches(corpus, ours, reference_ids, reference)
    assert not report, report


def test_gguf_plain_text_matches_hf(model, corpus, reference):
    # Special-token text stays text: HF's encode_special_tokens mode.
    reference.encode_special_tokens = True
    try:
        theirs = [e.ids for e in reference.encode_batch(corpus)]
    finally:
        reference.encode_special_tokens = False
    ours = run_tokenize(model, corpus)
    report = describe_mismatches(corpus, ours, theirs, reference)
    assert not report, report
    assert theirs != [e.ids for e in reference.encode_batch(corpus)]  # the corpus has such text


def test_hf_folder_matches_hf(hf_folder, corpus, reference, reference_ids):
    ours = run_tokenize(hf_folder, corpus, "--parse-special")
    report = describe_mismatches(corpus, ours, reference_ids, reference)
    assert not report, report


def test_decode_roundtrip(model, corpus, reference_ids):
    decoded = run_tokenize(model, reference_ids, "--decode")
    bad = [(s, d) for s, d in zip(corpus, decoded) if s != d]
    assert not bad, f"{len(bad)} strings do not round-trip, first: {bad[0]!r}"


def test_decode_matches_hf(model, corpus, reference, reference_ids):
    for skip in (False, True):
        ours = run_tokenize(model, reference_ids, "--decode", *(["--skip-special"] if skip else []))
        theirs = reference.decode_batch(reference_ids, skip_special_tokens=skip)
        bad = [(i, o, t) for i, (o, t) in enumerate(zip(ours, theirs)) if o != t]
        assert not bad, f"skip_special={skip}: {len(bad)} differ, first: {bad[0]!r}"


def test_hf_folder_config(hf_folder, model):
    import json

    config = json.loads((hf_folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    meta = hf_tokenizer_from_gguf.read_tokenizer_metadata(str(model))
    assert config["chat_template"] == meta["tokenizer.chat_template"]
    assert config["bos_token"] == "<|im_start|>"
    assert config["eos_token"] == "<|im_end|>"
    assert config["add_bos_token"] is False


def test_incremental_detokenizer(model, corpus, reference_ids):
    """Streaming one id at a time gives whole characters only, adding up to the text."""
    streamed = run_tokenize(model, reference_ids, "--decode", "--incremental")
    for text, ids, pieces in zip(corpus, reference_ids, streamed):
        assert len(pieces) == len(ids) + 1
        assert "".join(pieces) == text, text
        if "\ufffd" not in text:
            assert not any("\ufffd" in p for p in pieces), (text, pieces)
    # The corpus does split characters across tokens (else this proves little).
    assert sum(p == "" for pieces in streamed for p in pieces[:-1]) > 100
