"""tessera's SentencePiece BPE (GGUF tokenizer.ggml.model = "llama": "▁"
spaces, scores, <0xXX> byte fallback) against the `sentencepiece` library.

tests/data/tokenizer_spm_reference.json holds a small model trained by
`scripts/make_tokenizer_corpus.py --spm` and the library's own ids and
decoded text for part of the corpus; here the model becomes a GGUF file."""

from __future__ import annotations

import json

import gguf
import pytest

from test_tokenizer_cli import ROOT, hf_tokenizer_from_gguf, run_tokenize

REFERENCE = ROOT / "tests" / "data" / "tokenizer_spm_reference.json"


@pytest.fixture(scope="module")
def reference():
    return json.loads(REFERENCE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def spm_gguf(reference, tmp_path_factory):
    path = tmp_path_factory.mktemp("spm") / "spm.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_tokenizer_model("llama")
    writer.add_token_list([p[0] for p in reference["pieces"]])
    writer.add_token_scores([float(p[1]) for p in reference["pieces"]])
    writer.add_token_types([int(p[2]) for p in reference["pieces"]])
    writer.add_bos_token_id(reference["bos_id"])
    writer.add_eos_token_id(reference["eos_id"])
    writer.add_unk_token_id(reference["unk_id"])
    writer.add_add_bos_token(True)
    writer.add_add_space_prefix(reference["add_dummy_prefix"])
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def _first_mismatches(texts, ours, theirs, limit=5):
    bad = [(t, o, r) for t, o, r in zip(texts, ours, theirs) if o != r]
    return len(bad), bad[:limit]


def test_encode_matches_sentencepiece(reference, spm_gguf):
    texts = [c["text"] for c in reference["cases"]]
    ours = run_tokenize(spm_gguf, texts, "--no-special")
    count, first = _first_mismatches(texts, ours, [c["ids"] for c in reference["cases"]])
    assert count == 0, f"{count} of {len(texts)} differ from sentencepiece, first: {first}"
    # Byte fallback is exercised: rare characters became <0xXX> pieces.
    byte_ids = {i for i, p in enumerate(reference["pieces"]) if p[2] == 6}
    assert sum(any(i in byte_ids for i in ids) for ids in ours) > 50


def test_bos_is_added(reference, spm_gguf):
    cases = reference["cases"][:50]
    ours = run_tokenize(spm_gguf, [c["text"] for c in cases])
    assert ours == [[reference["bos_id"]] + c["ids"] for c in cases]


def test_decode_matches_sentencepiece(reference, spm_gguf):
    ids = [c["ids"] for c in reference["cases"]]
    ours = run_tokenize(spm_gguf, ids, "--decode")
    count, first = _first_mismatches([c["text"] for c in reference["cases"]], ours,
                                     [c["decoded"] for c in reference["cases"]])
    assert count == 0, f"{count} decodes differ from sentencepiece, first: {first}"
    streamed = run_tokenize(spm_gguf, ids, "--decode", "--incremental")
    assert ["".join(p) for p in streamed] == ours


def test_hf_reference_agrees(reference, spm_gguf, tmp_path):
    """hf_tokenizer_from_gguf.py's SentencePiece conversion reproduces the
    library too, and tessera reads the tokenizer.json it writes."""
    tok = hf_tokenizer_from_gguf.tokenizer_from_gguf(str(spm_gguf))
    texts = [c["text"] for c in reference["cases"]]
    theirs = [e.ids for e in tok.encode_batch(texts, add_special_tokens=False)]
    count, first = _first_mismatches(texts, theirs, [c["ids"] for c in reference["cases"]])
    assert count == 0, f"HF conversion: {count} differ, first: {first}"
    hf_tokenizer_from_gguf.write_tokenizer_files(str(spm_gguf), str(tmp_path))
    ours = run_tokenize(tmp_path, texts, "--no-special")
    count, first = _first_mismatches(texts, ours, theirs)
    assert count == 0, f"from tokenizer.json: {count} differ, first: {first}"


@pytest.mark.parametrize("scheme,split", [("first", False), ("always", True), ("first", True)])
def test_hf_metaspace_variants(reference, spm_gguf, tmp_path, scheme, split):
    """Newer tokenizer.json files (Llama 2 legacy=false, Mistral) spell the
    space handling as a Metaspace pre-tokenizer instead of normalizers."""
    from tokenizers import Tokenizer

    hf_tokenizer_from_gguf.write_tokenizer_files(str(spm_gguf), str(tmp_path))
    path = tmp_path / "tokenizer.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["normalizer"] = None
    data["pre_tokenizer"] = {"type": "Metaspace", "replacement": "\u2581",
                             "prepend_scheme": scheme, "split": split}
    data["decoder"] = {"type": "Sequence", "decoders": [
        {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": scheme, "split": split},
        {"type": "ByteFallback"}, {"type": "Fuse"}]}
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    tok = Tokenizer.from_file(str(path))
    texts = [c["text"] for c in reference["cases"]]
    texts += ["<s>hello world", "hi</s> there", "</s>", " lead", "  two", "a<s> b<s>c"]
    theirs = [e.ids for e in tok.encode_batch(texts, add_special_tokens=False)]
    ours = run_tokenize(tmp_path, texts, "--no-special", "--parse-special")
    count, first = _first_mismatches(texts, ours, theirs)
    assert count == 0, f"{count} of {len(texts)} differ from HF, first: {first}"
    decoded = run_tokenize(tmp_path, theirs, "--decode")
    want = tok.decode_batch(theirs, skip_special_tokens=False)
    count, first = _first_mismatches(texts, decoded, want)
    assert count == 0, f"{count} decodes differ from HF, first: {first}"
