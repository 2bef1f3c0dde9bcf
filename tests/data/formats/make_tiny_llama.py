#!/usr/bin/env python3
"""Writes a tiny random Llama model three ways, for the WeightSource and
ModelConfig tests:

  tiny_llama.gguf           as llama.cpp's converter would (Q/K rows permuted
                            per head, F32 norms, F16 MLP), written by gguf-py
  tiny_llama_hf/            scripts/gguf_to_hf.py of it (one safetensors file)
  tiny_llama_hf_sharded/    the same with --shards 3
  tiny_llama.json           the config and the HF-layout weights' checksums

    python3 tests/data/formats/make_tiny_llama.py
"""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import gguf

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]

CONFIG = {
    "vocab_size": 64,
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 8,
    "max_position_embeddings": 256,
    "rms_norm_eps": 1e-5,
    "rope_theta": 50000.0,
    "rope_scaling_factor": 2.0,  # linear
}


def permute(w, n_head):
    """llama.cpp's convert_hf_to_gguf permutation of Q/K rows."""
    rows = w.shape[0]
    return w.reshape(n_head, 2, rows // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def hf_weights(rng):
    c = CONFIG
    d, f, hd = c["hidden_size"], c["intermediate_size"], c["head_dim"]
    q_dim, kv_dim = c["num_attention_heads"] * hd, c["num_key_value_heads"] * hd

    def w(*shape):
        return (rng.standard_normal(shape) * 0.2).astype(np.float32)

    out = {"model.embed_tokens.weight": w(c["vocab_size"], d),
           "model.norm.weight": 1 + w(d),
           "lm_head.weight": w(c["vocab_size"], d)}
    for l in range(c["num_hidden_layers"]):
        p = f"model.layers.{l}."
        out.update({
            p + "input_layernorm.weight": 1 + w(d),
            p + "self_attn.q_proj.weight": w(q_dim, d),
            p + "self_attn.k_proj.weight": w(kv_dim, d),
            p + "self_attn.v_proj.weight": w(kv_dim, d),
            p + "self_attn.o_proj.weight": w(d, q_dim),
            p + "post_attention_layernorm.weight": 1 + w(d),
            p + "mlp.gate_proj.weight": w(f, d),
            p + "mlp.up_proj.weight": w(f, d),
            p + "mlp.down_proj.weight": w(d, f),
        })
    # F16 in the GGUF: round here so both copies hold the same values.
    for name in out:
        if ".mlp." in name:
            out[name] = out[name].astype(np.float16).astype(np.float32)
    return out


def gguf_name(hf):
    table = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
             "lm_head.weight": "output.weight"}
    if hf in table:
        return table[hf]
    layer = {"input_layernorm": "attn_norm", "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
             "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output",
             "post_attention_layernorm": "ffn_norm", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
             "mlp.down_proj": "ffn_down"}
    _, _, n, rest = hf.split(".", 3)
    return f"blk.{n}.{layer[rest.removesuffix('.weight')]}.weight"


def write_gguf(path, weights):
    c = CONFIG
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name("Tiny Llama")
    w.add_block_count(c["num_hidden_layers"])
    w.add_context_length(c["max_position_embeddings"])
    w.add_embedding_length(c["hidden_size"])
    w.add_feed_forward_length(c["intermediate_size"])
    w.add_head_count(c["num_attention_heads"])
    w.add_head_count_kv(c["num_key_value_heads"])
    w.add_layer_norm_rms_eps(c["rms_norm_eps"])
    w.add_rope_freq_base(c["rope_theta"])
    w.add_rope_dimension_count(c["head_dim"])
    w.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
    w.add_rope_scaling_factor(c["rope_scaling_factor"])
    w.add_tokenizer_model("gpt2")
    w.add_token_list([f"t{i}" for i in range(c["vocab_size"])])
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    for hf, value in weights.items():
        if hf.endswith("q_proj.weight"):
            value = permute(value, c["num_attention_heads"])
        elif hf.endswith("k_proj.weight"):
            value = permute(value, c["num_key_value_heads"])
        if ".mlp." in hf:
            value = value.astype(np.float16)
        w.add_tensor(gguf_name(hf), np.ascontiguousarray(value))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main():
    weights = hf_weights(np.random.default_rng(7))
    gguf_path = HERE / "tiny_llama.gguf"
    write_gguf(gguf_path, weights)
    converter = ROOT / "scripts" / "gguf_to_hf.py"
    for folder, extra in (("tiny_llama_hf", []), ("tiny_llama_hf_sharded", ["--shards", "3"])):
        out = HERE / folder
        shutil.rmtree(out, ignore_errors=True)
        subprocess.run([sys.executable, str(converter), str(gguf_path), str(out), "--no-tokenizer",
                        *extra], check=True)
    expected = dict(CONFIG)
    expected["tensors"] = {name: {"shape": list(v.shape), "sum": float(v.astype(np.float64).sum()),
                                  "first": float(v.reshape(-1)[0])}
                           for name, v in weights.items()}
    (HERE / "tiny_llama.json").write_text(json.dumps(expected, indent=1) + "\n")
    print(f"wrote {gguf_path.name} and the HF folders", file=sys.stderr)


if __name__ == "__main__":
    main()
