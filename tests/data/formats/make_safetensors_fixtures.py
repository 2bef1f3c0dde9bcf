#!/usr/bin/env python3
"""Writes safetensors test files and what a reader must find in them.

  mixed.safetensors / .json   F32, F16, BF16 and I64 tensors, a 3-D one, a
                              scalar, and __metadata__. Written byte by byte
                              from the format spec (numpy has no bfloat16),
                              then read back with the safetensors package.

    python3 tests/data/formats/make_safetensors_fixtures.py
"""
import json
import struct
from pathlib import Path

import numpy as np
from safetensors import safe_open

HERE = Path(__file__).resolve().parent


def bf16_bits(x):
    """float32 -> bfloat16 bits, round to nearest even."""
    bits = np.asarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    return rounded.astype(np.uint16)


def main():
    rng = np.random.default_rng(99)
    f32 = rng.standard_normal((2, 3)).astype(np.float32)
    f16 = rng.standard_normal(4).astype(np.float16)
    bf16_src = rng.standard_normal((2, 2)).astype(np.float32)
    bf16 = bf16_bits(bf16_src)
    i64 = np.array([1, -2, 3], dtype=np.int64)
    cube = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    scalar = np.array(7.5, dtype=np.float32)
    tensors = [("a.f32", "F32", f32), ("b.f16", "F16", f16), ("c.bf16", "BF16", bf16),
               ("d.i64", "I64", i64), ("e.cube", "F32", cube), ("f.scalar", "F32", scalar)]

    header, blobs, offset = {"__metadata__": {"format": "pt", "note": "tessera test"}}, [], 0
    for name, dtype, arr in tensors:
        raw = np.ascontiguousarray(arr).tobytes()
        header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)  # the data buffer starts 8-aligned
    path = HERE / "mixed.safetensors"
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))

    # Cross-check with the reference implementation.
    with safe_open(str(path), framework="numpy") as f:
        assert f.metadata() == header["__metadata__"]
        for name, dtype, arr in tensors:
            if dtype != "BF16":
                assert np.array_equal(f.get_tensor(name), arr), name

    bf16_values = (bf16.astype(np.uint32) << 16).view(np.float32)
    expected = {
        "metadata": header["__metadata__"],
        "tensors": [{"name": name, "dtype": dtype, "shape": list(arr.shape),
                     "values": (bf16_values if dtype == "BF16" else arr).reshape(-1).astype(np.float64).tolist()}
                    for name, dtype, arr in tensors],
    }
    (HERE / "mixed.json").write_text(json.dumps(expected, indent=1) + "\n")


if __name__ == "__main__":
    main()
