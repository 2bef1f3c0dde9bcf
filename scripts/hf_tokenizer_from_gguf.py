#!/usr/bin/env python3
"""Builds a Hugging Face `tokenizers.Tokenizer` from a GGUF file's tokenizer
metadata, and writes tokenizer.json + tokenizer_config.json for an HF folder.

It is the independent reference the tokenizer tests compare tessera against,
and scripts/gguf_to_hf.py imports write_tokenizer_files() from here.

    python3 scripts/hf_tokenizer_from_gguf.py MODEL.gguf OUT_DIR

GGUF `tokenizer.ggml.pre` names the pre-tokenizer of the tokenizer.json the
GGUF was converted from (converters recognise it by hashing its output). We
map each name back to that pre-tokenizer:

* smollm (also starcoder, refact, codeshell): the published SmolLM2
  tokenizer.json has Sequence[Digits(individual_digits=True),
  ByteLevel(add_prefix_space=False, use_regex=True)]. GGUF readers express the
  same thing as two regexes, "\\p{N}" (each digit alone) followed by the GPT-2
  split; both mean: every digit is its own word, the rest splits as GPT-2.
* gpt2 (and default, mpt, olmo, phi-2, stablelm2): ByteLevel(use_regex=True).
* llama3 / llama-bpe: Split(Llama 3 regex, isolated) + ByteLevel(use_regex=False),
  with ignore_merges as Llama 3's tokenizer.json sets it.
* qwen2: Split(Qwen2 regex) + ByteLevel(use_regex=False), NFC normalizer.

tessera's C++ side (src/tokenizer/pre_tokenizer_presets.cpp) keeps the same table.
"""

from __future__ import annotations

import json
import os
import sys

import gguf
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers
from tokenizers import pre_tokenizers, processors

GPT2_DIGITS_FIRST = {"smollm", "starcoder", "refact", "codeshell"}
GPT2_PLAIN = {"default", "gpt2", "gpt-2", "mpt", "olmo", "phi-2", "stablelm2"}
LLAMA3_NAMES = {"llama3", "llama-bpe", "llama-v3", "smaug-bpe", "dbrx"}
LLAMA3_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
QWEN2_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
KNOWN_PRE = GPT2_DIGITS_FIRST | GPT2_PLAIN | LLAMA3_NAMES | {"qwen2"}

# GGUF token types (tokenizer.ggml.token_type).
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6


def _field_value(field):
    """A GGUF metadata field as a Python value (strings decoded as UTF-8)."""
    types = field.types
    if types[0] == gguf.GGUFValueType.ARRAY:
        if types[-1] == gguf.GGUFValueType.STRING:
            return [bytes(field.parts[i]).decode("utf-8") for i in field.data]
        return [field.parts[i].tolist()[0] for i in field.data]
    if types[0] == gguf.GGUFValueType.STRING:
        return bytes(field.parts[field.data[0]]).decode("utf-8")
    return field.parts[field.data[0]].tolist()[0]


def read_tokenizer_metadata(gguf_path: str) -> dict:
    """The tokenizer.* keys of a GGUF file, e.g. meta["tokenizer.ggml.tokens"]."""
    reader = gguf.GGUFReader(gguf_path)
    return {k: _field_value(f) for k, f in reader.fields.items() if k.startswith("tokenizer.")}


def _pre_tokenizer(pre: str):
    if pre in GPT2_DIGITS_FIRST:
        return None, pre_tokenizers.Sequence([
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True),
        ])
    if pre in GPT2_PLAIN:
        return None, pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    if pre in LLAMA3_NAMES or pre == "qwen2":
        pattern = QWEN2_PATTERN if pre == "qwen2" else LLAMA3_PATTERN
        normalizer = normalizers.NFC() if pre == "qwen2" else None
        return normalizer, pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(pattern), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False),
        ])
    raise ValueError(f"unsupported tokenizer.ggml.pre '{pre}'")


def _spm_merges(tokens, scores, types):
    """SentencePiece BPE as rank-ordered merges: every split of a token into
    two tokens, ranked by the merged token's score (highest first)."""
    vocab = {t: i for i, t in reversed(list(enumerate(tokens)))}
    order = sorted(range(len(tokens)), key=lambda i: -scores[i])
    merges = []
    for i in order:
        if types and types[i] not in (NORMAL, USER_DEFINED):
            continue
        t = tokens[i]
        for cut in range(1, len(t)):
            left, right = t[:cut], t[cut:]
            if left in vocab and right in vocab:
                merges.append((left, right))
    return merges


def build_tokenizer(meta: dict) -> Tokenizer:
    """An HF tokenizer equivalent to the GGUF tokenizer metadata `meta`."""
    kind = meta.get("tokenizer.ggml.model")
    tokens = meta["tokenizer.ggml.tokens"]
    types = meta.get("tokenizer.ggml.token_type", [])
    vocab = {}
    for i, t in enumerate(tokens):
        vocab.setdefault(t, i)
    spm = kind == "llama"
    if kind == "gpt2":
        merges = [tuple(m.split(" ", 1)) for m in meta.get("tokenizer.ggml.merges", [])]
        pre = meta.get("tokenizer.ggml.pre", "default")
        model = models.BPE(vocab=vocab, merges=merges, fuse_unk=False,
                           ignore_merges=pre in LLAMA3_NAMES)
        tok = Tokenizer(model)
        normalizer, pre_tok = _pre_tokenizer(pre)
        if normalizer is not None:
            tok.normalizer = normalizer
        tok.pre_tokenizer = pre_tok
        tok.decoder = decoders.ByteLevel()
    elif spm:
        merges = meta.get("tokenizer.ggml.merges")
        merges = ([tuple(m.split(" ", 1)) for m in merges] if merges else
                  _spm_merges(tokens, meta["tokenizer.ggml.scores"], types))
        unk_id = meta.get("tokenizer.ggml.unknown_token_id")
        model = models.BPE(vocab=vocab, merges=merges, byte_fallback=True, fuse_unk=True,
                           unk_token=tokens[unk_id] if unk_id is not None else None)
        tok = Tokenizer(model)
        steps = [normalizers.Replace(" ", "\u2581")]
        if meta.get("tokenizer.ggml.add_space_prefix", True):
            steps.insert(0, normalizers.Prepend("\u2581"))
        tok.normalizer = normalizers.Sequence(steps)
        dec = [decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse()]
        if meta.get("tokenizer.ggml.add_space_prefix", True):
            dec.append(decoders.Strip(" ", 1, 0))
        tok.decoder = decoders.Sequence(dec)
    else:
        raise ValueError(f"unsupported tokenizer.ggml.model '{kind}'")

    added = []
    for i, t in enumerate(types):
        if t in (CONTROL, UNKNOWN):
            added.append(AddedToken(tokens[i], special=True, normalized=False))
        elif t == USER_DEFINED:
            content = tokens[i].replace("\u2581", " ") if spm else tokens[i]
            added.append(AddedToken(content, special=False, normalized=False))
    tok.add_special_tokens([a for a in added if a.special])
    tok.add_tokens([a for a in added if not a.special])

    add_bos = meta.get("tokenizer.ggml.add_bos_token", spm)
    add_eos = meta.get("tokenizer.ggml.add_eos_token", False)
    bos = meta.get("tokenizer.ggml.bos_token_id")
    eos = meta.get("tokenizer.ggml.eos_token_id")
    single, special = ["$A"], []
    if add_bos and bos is not None:
        single.insert(0, tokens[bos])
        special.append((tokens[bos], bos))
    if add_eos and eos is not None:
        single.append(tokens[eos])
        special.append((tokens[eos], eos))
    if special:
        tok.post_processor = processors.TemplateProcessing(
            single=" ".join(single), pair=" ".join(single + ["$B"]), special_tokens=special)
    elif not spm:
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
    return tok


def tokenizer_from_gguf(gguf_path: str) -> Tokenizer:
    return build_tokenizer(read_tokenizer_metadata(gguf_path))


def tokenizer_config(meta: dict) -> dict:
    tokens = meta["tokenizer.ggml.tokens"]
    spm = meta.get("tokenizer.ggml.model") == "llama"

    def token(key):
        i = meta.get(key)
        return tokens[i] if i is not None and 0 <= i < len(tokens) else None

    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": token("tokenizer.ggml.bos_token_id"),
        "eos_token": token("tokenizer.ggml.eos_token_id"),
        "unk_token": token("tokenizer.ggml.unknown_token_id"),
        "pad_token": token("tokenizer.ggml.padding_token_id"),
        "add_bos_token": bool(meta.get("tokenizer.ggml.add_bos_token", spm)),
        "add_eos_token": bool(meta.get("tokenizer.ggml.add_eos_token", False)),
        "clean_up_tokenization_spaces": False,
    }
    if "tokenizer.chat_template" in meta:
        config["chat_template"] = meta["tokenizer.chat_template"]
    return {k: v for k, v in config.items() if v is not None}


def write_tokenizer_files(gguf_path: str, out_dir: str) -> None:
    """Writes tokenizer.json and tokenizer_config.json for `gguf_path` into out_dir."""
    meta = read_tokenizer_metadata(gguf_path)
    os.makedirs(out_dir, exist_ok=True)
    build_tokenizer(meta).save(os.path.join(out_dir, "tokenizer.json"))
    with open(os.path.join(out_dir, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(tokenizer_config(meta), f, ensure_ascii=False, indent=2)
        f.write("\n")


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(f"usage: {argv[0]} MODEL.gguf OUT_DIR", file=sys.stderr)
        return 2
    write_tokenizer_files(argv[1], argv[2])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
