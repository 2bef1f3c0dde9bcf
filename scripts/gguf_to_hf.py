#!/usr/bin/env python3
"""Derives a Hugging Face model folder from a Llama-family GGUF file.

    scripts/gguf_to_hf.py MODEL.gguf OUT_DIR [--shards N]

Writes config.json and the weights dequantized to F32 (model.safetensors, or
with --shards N > 1, model-0000i-of-0000N.safetensors plus
model.safetensors.index.json). GGUF llama files store the rows of Q and K
permuted per head for adjacent-pair rotary embeddings; this undoes that, so
the folder loads in `transformers` as the same model. Tokenizer files come
from scripts/hf_tokenizer_from_gguf.py when that script exists.
"""
import argparse
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import gguf
from safetensors.numpy import save_file

# GGUF name -> HF name; per-layer names are after "blk.N." / "model.layers.N.".
GLOBAL_NAMES = {
    "token_embd.weight": "model.embed_tokens.weight",
    "output_norm.weight": "model.norm.weight",
    "output.weight": "lm_head.weight",
}
LAYER_NAMES = {
    "attn_norm.weight": "input_layernorm.weight",
    "attn_q.weight": "self_attn.q_proj.weight",
    "attn_k.weight": "self_attn.k_proj.weight",
    "attn_v.weight": "self_attn.v_proj.weight",
    "attn_output.weight": "self_attn.o_proj.weight",
    "ffn_norm.weight": "post_attention_layernorm.weight",
    "ffn_gate.weight": "mlp.gate_proj.weight",
    "ffn_up.weight": "mlp.up_proj.weight",
    "ffn_down.weight": "mlp.down_proj.weight",
}


def hf_name(name):
    if name in GLOBAL_NAMES:
        return GLOBAL_NAMES[name]
    parts = name.split(".", 2)
    if len(parts) == 3 and parts[0] == "blk" and parts[1].isdigit() and parts[2] in LAYER_NAMES:
        return f"model.layers.{parts[1]}.{LAYER_NAMES[parts[2]]}"
    return None


def unpermute(w, n_head):
    """Inverse of the converter's per-head row permutation
    w.reshape(n_head, 2, head_dim // 2, dim).swapaxes(1, 2): rows stored as
    interleaved (re, im) pairs go back to the [first half, second half]
    order HF's rotate_half expects."""
    rows, dim = w.shape
    head_dim = rows // n_head
    return np.ascontiguousarray(
        w.reshape(n_head, head_dim // 2, 2, dim).swapaxes(1, 2).reshape(rows, dim))


class Metadata:
    def __init__(self, reader):
        self.fields = reader.fields

    def get(self, key, default=None):
        field = self.fields.get(key)
        if field is None:
            return default
        value = field.contents()
        return value

    def require(self, key):
        value = self.get(key)
        if value is None:
            sys.exit(f"error: {key} missing from the GGUF file")
        return value


def f32_clean(x):
    """The shortest decimal that is the same float32 (1e-05, not 9.99e-06)."""
    return float(str(np.float32(x)))


def make_config(meta, tensor_names, vocab_rows):
    arch = meta.require("general.architecture")
    if arch != "llama":
        sys.exit(f"error: architecture {arch!r} is not supported (llama only)")
    a = lambda k: f"{arch}.{k}"  # noqa: E731
    hidden = int(meta.require(a("embedding_length")))
    heads = int(meta.require(a("attention.head_count")))
    kv_heads = int(meta.get(a("attention.head_count_kv"), heads))
    head_dim = int(meta.get(a("attention.key_length"), hidden // heads))
    config = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "_name_or_path": meta.get("general.name", ""),
        "vocab_size": vocab_rows,
        "hidden_size": hidden,
        "intermediate_size": int(meta.require(a("feed_forward_length"))),
        "num_hidden_layers": int(meta.require(a("block_count"))),
        "num_attention_heads": heads,
        "num_key_value_heads": kv_heads,
        "head_dim": head_dim,
        "hidden_act": "silu",
        "max_position_embeddings": int(meta.require(a("context_length"))),
        "rms_norm_eps": f32_clean(meta.require(a("attention.layer_norm_rms_epsilon"))),
        "rope_theta": f32_clean(meta.get(a("rope.freq_base"), 10000.0)),
        "tie_word_embeddings": "output.weight" not in tensor_names,
        "attention_bias": False,
        "mlp_bias": False,
        "torch_dtype": "float32",
    }
    for key, hf_key in (("tokenizer.ggml.bos_token_id", "bos_token_id"),
                        ("tokenizer.ggml.eos_token_id", "eos_token_id"),
                        ("tokenizer.ggml.padding_token_id", "pad_token_id")):
        if meta.get(key) is not None:
            config[hf_key] = int(meta.get(key))
    scaling = meta.get(a("rope.scaling.type"))
    if scaling in ("linear", "llama3"):
        rs = {"rope_type": scaling, "factor": f32_clean(meta.require(a("rope.scaling.factor")))}
        if scaling == "llama3":
            rs["low_freq_factor"] = f32_clean(meta.get(a("rope.scaling.low_freq_factor"), 1.0))
            rs["high_freq_factor"] = f32_clean(meta.get(a("rope.scaling.high_freq_factor"), 4.0))
            rs["original_max_position_embeddings"] = int(
                meta.require(a("rope.scaling.original_context_length")))
        config["rope_scaling"] = rs
    elif scaling not in (None, "none"):
        sys.exit(f"error: rope scaling {scaling!r} is not supported")
    if meta.get(a("rope.dimension_count"), head_dim) != head_dim:
        sys.exit("error: partial rotary embeddings are not supported")
    return config


def convert_tensors(reader, config):
    out = {}
    for t in reader.tensors:
        name = hf_name(t.name)
        if name is None:
            sys.exit(f"error: tensor {t.name} has no HF Llama counterpart")
        w = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32, copy=False)
        w = w.reshape([int(d) for d in reversed(t.shape)])
        if t.name.endswith("attn_q.weight"):
            w = unpermute(w, config["num_attention_heads"])
        elif t.name.endswith("attn_k.weight"):
            w = unpermute(w, config["num_key_value_heads"])
        out[name] = np.ascontiguousarray(w)
    return out


def save(tensors, out_dir, shards):
    metadata = {"format": "pt"}
    if shards <= 1:
        save_file(tensors, str(out_dir / "model.safetensors"), metadata=metadata)
        return
    names = list(tensors)
    total = sum(tensors[n].nbytes for n in names)
    groups = [[] for _ in range(shards)]
    done = 0
    for n in names:  # consecutive runs of roughly equal bytes
        groups[min(shards - 1, done * shards // max(total, 1))].append(n)
        done += tensors[n].nbytes
    weight_map = {}
    for i, group in enumerate(groups):
        fname = f"model-{i + 1:05d}-of-{shards:05d}.safetensors"
        save_file({n: tensors[n] for n in group}, str(out_dir / fname), metadata=metadata)
        weight_map.update({n: fname for n in group})
    index = {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}
    (out_dir / "model.safetensors.index.json").write_text(json.dumps(index, indent=2) + "\n")


def write_tokenizer(gguf_path, out_dir):
    script = Path(__file__).resolve().parent / "hf_tokenizer_from_gguf.py"
    if not script.exists():
        print(f"warning: {script.name} not found; no tokenizer files written", file=sys.stderr)
        return
    spec = importlib.util.spec_from_file_location("hf_tokenizer_from_gguf", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.write_tokenizer_files(str(gguf_path), str(out_dir))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("gguf", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--shards", type=int, default=1, help="split weights over N files")
    parser.add_argument("--no-tokenizer", action="store_true", help="skip tokenizer files")
    args = parser.parse_args()
    if args.shards < 1:
        parser.error("--shards must be >= 1")

    reader = gguf.GGUFReader(str(args.gguf))
    meta = Metadata(reader)
    by_name = {t.name: t for t in reader.tensors}
    if "token_embd.weight" not in by_name:
        sys.exit("error: no token_embd.weight in the GGUF file")
    vocab_rows = int(by_name["token_embd.weight"].shape[-1])
    config = make_config(meta, by_name, vocab_rows)
    tensors = convert_tensors(reader, config)

    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    save(tensors, args.out_dir, args.shards)
    if not args.no_tokenizer:
        write_tokenizer(args.gguf, args.out_dir)
    print(f"wrote {args.out_dir} ({len(tensors)} tensors)", file=sys.stderr)


if __name__ == "__main__":
    main()
