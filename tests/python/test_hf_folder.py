"""scripts/gguf_to_hf.py and `tessera info` on the folders it makes.

The HF folder derived from the default GGUF must hold the same model: its
config matches the GGUF metadata, each tensor equals gguf-py's dequantized
tensor (Q/K after llama.cpp's per-head permutation), transformers gives the
same logits for it as for the GGUF file, and `tessera info` reports the same
config for both.
"""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

gguf = pytest.importorskip("gguf")
safetensors_numpy = pytest.importorskip("safetensors.numpy")

ROOT = Path(__file__).resolve().parents[2]
CONVERTER = ROOT / "scripts" / "gguf_to_hf.py"
FIXTURES = ROOT / "tests" / "data" / "formats"
MODELS = Path(os.environ.get("TESSERA_MODELS", Path.home() / ".cache" / "tessera" / "models"))
DEFAULT_MODEL = MODELS / "SmolLM2-135M-Instruct.Q4_1.gguf"
TESSERA = os.environ.get("TESSERA_BIN", str(ROOT / "build" / "tessera"))

needs_model = pytest.mark.skipif(not DEFAULT_MODEL.exists(),
                                 reason="default model not fetched (scripts/fetch-model.sh)")
needs_binary = pytest.mark.skipif(not Path(TESSERA).exists(), reason="tessera not built")

HF_OF_GGUF = {"token_embd.weight": "model.embed_tokens.weight", "output_norm.weight": "model.norm.weight",
              "output.weight": "lm_head.weight"}
LAYER = {"attn_norm": "input_layernorm", "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj",
         "attn_v": "self_attn.v_proj", "attn_output": "self_attn.o_proj", "ffn_norm": "post_attention_layernorm",
         "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj"}


def hf_name(name):
    if name in HF_OF_GGUF:
        return HF_OF_GGUF[name]
    _, n, kind, _ = name.split(".")
    return f"model.layers.{n}.{LAYER[kind]}.weight"


def permute(w, n_head):
    """llama.cpp convert_hf_to_gguf's Q/K row permutation (HF -> GGUF)."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def convert(gguf_path, out_dir, *extra):
    subprocess.run([sys.executable, str(CONVERTER), str(gguf_path), str(out_dir), *extra], check=True)


def field(reader, key):
    f = reader.fields.get(key)
    return None if f is None else f.contents()


@pytest.fixture(scope="module")
def default_hf(tmp_path_factory):
    if not DEFAULT_MODEL.exists():
        pytest.skip("default model not fetched")
    out = tmp_path_factory.mktemp("smollm2_hf")
    convert(DEFAULT_MODEL, out, "--no-tokenizer")
    return out


@needs_model
def test_config_matches_gguf_metadata(default_hf):
    config = json.loads((default_hf / "config.json").read_text())
    r = gguf.GGUFReader(str(DEFAULT_MODEL))
    assert config["model_type"] == field(r, "general.architecture") == "llama"
    assert config["num_hidden_layers"] == field(r, "llama.block_count")
    assert config["hidden_size"] == field(r, "llama.embedding_length")
    assert config["intermediate_size"] == field(r, "llama.feed_forward_length")
    assert config["num_attention_heads"] == field(r, "llama.attention.head_count")
    assert config["num_key_value_heads"] == field(r, "llama.attention.head_count_kv")
    assert config["max_position_embeddings"] == field(r, "llama.context_length")
    assert np.float32(config["rms_norm_eps"]) == np.float32(field(r, "llama.attention.layer_norm_rms_epsilon"))
    assert config["rope_theta"] == field(r, "llama.rope.freq_base")
    assert config["vocab_size"] == len(field(r, "tokenizer.ggml.tokens"))
    assert config["tie_word_embeddings"] == ("output.weight" not in {t.name for t in r.tensors})
    assert config["bos_token_id"] == field(r, "tokenizer.ggml.bos_token_id")


@needs_model
def test_tensors_equal_dequantized_gguf(default_hf):
    config = json.loads((default_hf / "config.json").read_text())
    hf = safetensors_numpy.load_file(str(default_hf / "model.safetensors"))
    r = gguf.GGUFReader(str(DEFAULT_MODEL))
    assert len(hf) == len(r.tensors)
    for t in r.tensors:
        want = gguf.quants.dequantize(t.data, t.tensor_type).reshape([int(d) for d in reversed(t.shape)])
        got = hf[hf_name(t.name)]
        assert got.dtype == np.float32
        if t.name.endswith("attn_q.weight"):
            got = permute(got, config["num_attention_heads"])
        elif t.name.endswith("attn_k.weight"):
            got = permute(got, config["num_key_value_heads"])
        np.testing.assert_array_equal(got, want, err_msg=t.name)


@needs_model
def test_transformers_sees_the_same_model(default_hf):
    torch = pytest.importorskip("torch", reason="optional: the transformers cross-check needs torch")
    transformers = pytest.importorskip("transformers", reason="optional: needs transformers")
    kwargs = {"dtype": torch.float32}
    from_folder = transformers.AutoModelForCausalLM.from_pretrained(str(default_hf), **kwargs)
    from_gguf = transformers.AutoModelForCausalLM.from_pretrained(
        str(DEFAULT_MODEL.parent), gguf_file=DEFAULT_MODEL.name, **kwargs)
    ids = torch.tensor([[1, 504, 3458, 282, 4649, 314, 253, 1345, 30, 2, 17, 9000]])
    with torch.no_grad():
        a = from_folder(ids).logits
        b = from_gguf(ids).logits
    assert torch.allclose(a, b, rtol=0, atol=1e-5), (a - b).abs().max().item()


def test_sharded_conversion_matches_committed_fixtures(tmp_path):
    """The committed tiny HF folders are what the converter makes today."""
    for folder, extra in (("tiny_llama_hf", []), ("tiny_llama_hf_sharded", ["--shards", "3"])):
        out = tmp_path / folder
        convert(FIXTURES / "tiny_llama.gguf", out, "--no-tokenizer", *extra)
        made = sorted(p.name for p in out.iterdir())
        assert made == sorted(p.name for p in (FIXTURES / folder).iterdir())
        for name in made:
            assert (out / name).read_bytes() == (FIXTURES / folder / name).read_bytes(), name


def test_sharded_index_is_consistent(tmp_path):
    convert(FIXTURES / "tiny_llama.gguf", tmp_path, "--no-tokenizer", "--shards", "3")
    index = json.loads((tmp_path / "model.safetensors.index.json").read_text())
    seen, total = {}, 0
    for shard in sorted(set(index["weight_map"].values())):
        tensors = safetensors_numpy.load_file(str(tmp_path / shard))
        for name, value in tensors.items():
            assert index["weight_map"][name] == shard
            seen[name] = value
            total += value.nbytes
    assert set(seen) == set(index["weight_map"])
    assert index["metadata"]["total_size"] == total
    single = safetensors_numpy.load_file(str(FIXTURES / "tiny_llama_hf" / "model.safetensors"))
    assert set(single) == set(seen)
    for name in single:
        np.testing.assert_array_equal(single[name], seen[name])


def test_tokenizer_files_are_optional(tmp_path):
    """Without scripts/hf_tokenizer_from_gguf.py the converter warns and goes on."""
    helper = ROOT / "scripts" / "hf_tokenizer_from_gguf.py"
    result = subprocess.run([sys.executable, str(CONVERTER), str(FIXTURES / "tiny_llama.gguf"), str(tmp_path)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    if not helper.exists():
        assert "no tokenizer files written" in result.stderr
    assert (tmp_path / "config.json").exists()


def info(model):
    result = subprocess.run([TESSERA, "info", "--json", "-m", str(model)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@needs_binary
@needs_model
def test_info_reports_the_same_config_for_gguf_and_folder(default_hf):
    a, b = info(DEFAULT_MODEL), info(default_hf)
    assert a["format"] == "gguf" and b["format"] == "hf"
    for key in ("architecture", "context_length", "layers", "hidden_size", "intermediate_size", "heads",
                "kv_heads", "head_dim", "vocab_size", "rms_norm_eps", "tie_word_embeddings", "parameters"):
        assert a[key] == b[key], key
    assert a["rope"]["theta"] == b["rope"]["theta"]
    assert (a["rope"]["style"], b["rope"]["style"]) == ("interleaved", "neox")
    assert a["tensor_types"] == {"Q4_1": 210, "F32": 61, "Q8_0": 1}
    assert b["tensor_types"] == {"F32": 272}
    # The parameter count gguf-py sees.
    r = gguf.GGUFReader(str(DEFAULT_MODEL))
    assert a["parameters"] == sum(int(t.n_elements) for t in r.tensors)
    assert a["file_bytes"] == DEFAULT_MODEL.stat().st_size


@needs_binary
def test_info_on_tiny_fixtures():
    a = info(FIXTURES / "tiny_llama.gguf")
    b = info(FIXTURES / "tiny_llama_hf_sharded")
    assert a["rope"]["scaling"] == b["rope"]["scaling"] == "linear"
    assert a["rope"]["factor"] == b["rope"]["factor"] == 2.0
    assert a["tie_word_embeddings"] is False
    assert a["tensor_types"] == {"F32": 15, "F16": 6}


@needs_binary
@pytest.mark.parametrize("args, fragment", [
    (["info", "-m", "no-such-model"], "unknown model 'no-such-model'"),
    (["info", "-m", "/no/such/file.gguf"], "no such model file or folder"),
    (["info", "-m", str(FIXTURES / "make_tiny_llama.py")], "not a GGUF file"),
    (["info", "-m", str(FIXTURES / "tiny_llama_hf" / "model.safetensors")], "give the HF model folder"),
    (["info", "-m", str(FIXTURES / "tiny_llama.gguf"), "--bogus"], "--bogus"),
    (["info"], "--model is required"),
])
def test_info_errors_are_one_line_exit_2(args, fragment):
    result = subprocess.run([TESSERA, *args], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], result.stderr
