#!/usr/bin/env python3
"""Writes the GGUF test files for tests/formats with gguf-py's GGUFWriter,
and next to each one a JSON file with what a reader must find in it (the
values we wrote, and the offsets gguf-py's GGUFReader reports).

    python3 tests/data/formats/make_gguf_fixtures.py

Outputs (in this folder):
  all_types_v3.gguf / .json   every metadata value type, nested arrays,
                              general.alignment = 64, tensors of many types
  all_types_v2.gguf           the same file with version 2 (v2 and v3 share
                              the layout; v3 only added big-endian files)
  ggml_types.json             gguf-py's table of GGML type block sizes
"""
import hashlib
import json
import struct
import sys
from pathlib import Path

import numpy as np
import gguf
from gguf import GGMLQuantizationType as Q
from gguf import GGUFValueType as V

HERE = Path(__file__).resolve().parent

# (key, value, value type, element type for arrays)
SCALARS = [
    ("test.u8", 200, V.UINT8),
    ("test.i8", -100, V.INT8),
    ("test.u16", 65000, V.UINT16),
    ("test.i16", -32000, V.INT16),
    ("test.u32", 4000000000, V.UINT32),
    ("test.i32", -2000000000, V.INT32),
    ("test.u64", 2**64 - 1, V.UINT64),
    ("test.i64", -(2**63), V.INT64),
    ("test.f32", 3.25, V.FLOAT32),
    ("test.f32_inexact", 0.1, V.FLOAT32),
    ("test.f64", 2.718281828459045, V.FLOAT64),
    ("test.bool_true", True, V.BOOL),
    ("test.bool_false", False, V.BOOL),
    ("test.string", "hello", V.STRING),
    ("test.string_unicode", "héllo wörld ✓ 🦙", V.STRING),
    ("test.string_empty", "", V.STRING),
    ("test.string_nul", "a\x00b", V.STRING),
]
ARRAYS = [
    ("test.arr_u8", [0, 1, 255], V.UINT8),
    ("test.arr_i8", [-128, 0, 127], V.INT8),
    ("test.arr_u16", [0, 65535], V.UINT16),
    ("test.arr_i16", [-32768, 32767], V.INT16),
    ("test.arr_u32", [0, 4294967295], V.UINT32),
    ("test.arr_i32", [-2147483648, 2147483647, 7], V.INT32),
    ("test.arr_u64", [0, 2**64 - 1], V.UINT64),
    ("test.arr_i64", [-(2**63), 2**63 - 1], V.INT64),
    ("test.arr_f32", [1.5, -2.25, 0.1], V.FLOAT32),
    ("test.arr_f64", [1e300, -1e-300], V.FLOAT64),
    ("test.arr_bool", [True, False, True], V.BOOL),
    ("test.arr_string", ["a", "", "ünï", "<|im_end|>"], V.STRING),
    # Nested arrays: gguf-py picks the inner element type from the values
    # (int -> i32, float -> f32, str -> string).
    ("test.nested_i32", [[1, 2, 3], [4], [5, 6]], V.ARRAY),
    ("test.nested_string", [["x", "yy"], ["zzz"]], V.ARRAY),
    ("test.nested_f32", [[0.5], [1.5, 2.5]], V.ARRAY),
    ("test.nested3", [[[1, 2], [3]], [[4]]], V.ARRAY),
]


def f32(x):
    return float(np.float32(x))


def expected_value(value, vtype, sub=None):
    """The value as a reader must see it: {type, value} with f32 rounding."""
    if vtype == V.ARRAY:
        items = []
        for item in value:
            if sub == V.ARRAY:
                items.append(expected_value(item, V.ARRAY, V.get_type(item[0])))
            else:
                items.append(expected_value(item, sub)["value"])
        return {"type": "array", "elem": sub.name.lower(), "value": items}
    if vtype == V.FLOAT32:
        value = f32(value)
    return {"type": vtype.name.lower(), "value": value}


def tensors_to_write(rng):
    """(name, float32 values, GGML type) for a tensor of each kind."""
    def normal(*shape):
        return rng.standard_normal(shape).astype(np.float32)

    return [
        ("t.f32_1d", normal(5), Q.F32),
        ("t.f32_2d", normal(3, 4), Q.F32),
        ("t.f32_3d", normal(2, 3, 4), Q.F32),
        ("t.f32_4d", normal(2, 1, 3, 2), Q.F32),
        ("t.f16", normal(2, 8), Q.F16),
        ("t.bf16", normal(2, 8), Q.BF16),
        ("t.q8_0", normal(2, 64), Q.Q8_0),
        ("t.q4_0", normal(2, 32), Q.Q4_0),
        ("t.q4_1", normal(3, 32), Q.Q4_1),
        # A type tessera has no DType for: listing it must work, using it not.
        ("t.q5_0", normal(1, 32), Q.Q5_0),
        ("t.i32", np.arange(6, dtype=np.int32).reshape(2, 3), Q.I32),
    ]


def encode(values, qtype):
    if qtype == Q.F32:
        return values
    if qtype == Q.F16:
        return values.astype(np.float16)
    if qtype == Q.I32:
        return values
    return gguf.quants.quantize(values, qtype)


def write_all_types(path):
    writer = gguf.GGUFWriter(str(path), "testarch")
    writer.add_custom_alignment(64)
    for key, value, vtype in SCALARS:
        writer.add_key_value(key, value, vtype)
    for key, value, sub in ARRAYS:
        writer.add_key_value(key, value, V.ARRAY, sub_type=sub)
    rng = np.random.default_rng(1234)
    written = []
    for name, values, qtype in tensors_to_write(rng):
        data = encode(values, qtype)
        if qtype in (Q.F32, Q.F16, Q.I32):
            writer.add_tensor(name, data)
        else:
            writer.add_tensor(name, data, raw_dtype=qtype)
        written.append((name, values.shape, qtype))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return written


def describe(path, written):
    """Expected contents, cross-checked with gguf-py's reader."""
    reader = gguf.GGUFReader(str(path))
    meta = {"general.architecture": {"type": "string", "value": "testarch"},
            "general.alignment": {"type": "uint32", "value": 64}}
    for key, value, vtype in SCALARS:
        meta[key] = expected_value(value, vtype)
    for key, value, sub in ARRAYS:
        meta[key] = expected_value(value, V.ARRAY, sub)
    # Scalars and flat arrays must read back as written (gguf-py cannot read
    # nested arrays back, so those rest on the writer alone).
    for key, exp in meta.items():
        field = reader.fields[key]
        if exp["type"] == "array" and exp["elem"] == "array":
            continue
        got = field.contents()
        want = exp["value"]
        if isinstance(want, str) or (isinstance(want, list) and want and isinstance(want[0], str)):
            assert got == want, (key, got, want)
        else:
            assert np.allclose(np.array(got, dtype=np.float64), np.array(want, dtype=np.float64),
                               rtol=0, atol=0), (key, got, want)

    tensors = []
    by_name = {t.name: t for t in reader.tensors}
    for name, shape, qtype in written:
        t = by_name[name]
        assert t.tensor_type == qtype
        # gguf-py lists dims innermost first; tessera outermost first.
        assert list(reversed([int(d) for d in t.shape])) == list(shape), (name, t.shape, shape)
        raw = bytes(np.ascontiguousarray(t.data).view(np.uint8).reshape(-1))
        tensors.append({
            "name": name,
            "shape": [int(d) for d in shape],
            "ggml_type": int(qtype),
            "type_name": qtype.name,
            "offset": int(t.data_offset) - int(reader.data_offset),
            "nbytes": int(t.n_bytes),
            "sha256": hashlib.sha256(raw).hexdigest(),
            "bytes_hex": raw.hex() if len(raw) <= 256 else None,
        })
    last = max(t["offset"] + t["nbytes"] for t in tensors)
    return {
        "version": 3,
        "alignment": 64,
        "data_offset": int(reader.data_offset),
        "data_end": int(reader.data_offset) + last,
        "metadata": meta,
        "tensors": tensors,
    }


def patch_version(src, dst, version):
    data = bytearray(src.read_bytes())
    struct.pack_into("<I", data, 4, version)
    dst.write_bytes(bytes(data))


def main():
    v3 = HERE / "all_types_v3.gguf"
    written = write_all_types(v3)
    desc = describe(v3, written)
    (HERE / "all_types_v3.json").write_text(json.dumps(desc, indent=1, ensure_ascii=True) + "\n")
    patch_version(v3, HERE / "all_types_v2.gguf", 2)
    sizes = {str(int(t)): {"name": t.name, "block_size": b, "type_size": s}
             for t, (b, s) in gguf.GGML_QUANT_SIZES.items()}
    (HERE / "ggml_types.json").write_text(json.dumps(sizes, indent=1) + "\n")
    print(f"wrote {v3.name} ({v3.stat().st_size} bytes) and friends", file=sys.stderr)


if __name__ == "__main__":
    main()
