#!/usr/bin/env python3
"""Writes tests/data/dequant_ref.bin: random GGML blocks of every weight type
tessera reads and their dequantization by the `gguf` Python package, which
tests/backend/quant_dequant_test.cpp compares bit-exactly.

Blocks are random bytes, except that f16 scale fields are random *finite*
halves (any exponent, subnormals included); F16/BF16/F32 data are random
finite values. File format (little endian):
  "TSDQ" u32 version=1 u32 entries
  per entry: u32 ggml_type u32 n_elements u32 n_bytes, raw bytes,
             float32 expected[n_elements]
"""
import argparse
import pathlib
import struct

import numpy as np
from gguf import GGMLQuantizationType as Q
from gguf.quants import dequantize

# type -> (elements per block, bytes per block, byte offsets of f16 scale fields)
LAYOUTS = {
    Q.Q4_0: (32, 18, [0]),
    Q.Q4_1: (32, 20, [0, 2]),
    Q.Q8_0: (32, 34, [0]),
    Q.Q4_K: (256, 144, [0, 2]),
    Q.Q5_K: (256, 176, [0, 2]),
    Q.Q6_K: (256, 210, [208]),
}


def finite_f16_bits(rng, n):
    bits = rng.integers(0, 1 << 16, size=n, dtype=np.uint16)
    bad = (bits & 0x7C00) == 0x7C00  # inf / NaN exponent
    bits[bad] &= np.uint16(0xBFFF)  # drop the top exponent bit: finite
    return bits


def finite_bf16_bits(rng, n):
    bits = rng.integers(0, 1 << 16, size=n, dtype=np.uint16)
    bad = (bits & 0x7F80) == 0x7F80
    bits[bad] &= np.uint16(0xBFFF)
    return bits


def random_raw(rng, qtype, n_elements):
    if qtype == Q.F32:
        mant = rng.standard_normal(n_elements)
        scale = 10.0 ** rng.uniform(-30, 30, n_elements)
        vals = (mant * scale).astype(np.float32)
        vals[:4] = [0.0, -0.0, 1e-40, -3e38]  # zero, signed zero, subnormal, large
        return vals.view(np.uint8)
    if qtype == Q.F16:
        return finite_f16_bits(rng, n_elements).view(np.uint8)
    if qtype == Q.BF16:
        return finite_bf16_bits(rng, n_elements).view(np.uint8)
    block, size, scale_offsets = LAYOUTS[qtype]
    n_blocks = n_elements // block
    raw = rng.integers(0, 256, size=(n_blocks, size), dtype=np.uint8)
    for off in scale_offsets:
        raw[:, off:off + 2] = finite_f16_bits(rng, n_blocks).view(np.uint8).reshape(n_blocks, 2)
    return raw.reshape(-1)


def make_fixture(seed, scale=1):
    """Returns the fixture bytes; `scale` multiplies the number of blocks."""
    rng = np.random.default_rng(seed)
    entries = [
        (Q.F32, 1024), (Q.F16, 2048), (Q.BF16, 2048),
        (Q.Q4_0, 2048), (Q.Q4_1, 2048), (Q.Q8_0, 2048),
        (Q.Q4_K, 4096), (Q.Q5_K, 4096), (Q.Q6_K, 4096),
    ]
    out = bytearray(b"TSDQ" + struct.pack("<II", 1, len(entries)))
    for qtype, n in entries:
        n *= scale
        raw = random_raw(rng, qtype, n)
        expected = np.asarray(dequantize(raw, qtype), dtype=np.float32).reshape(-1)
        assert expected.size == n and np.all(np.isfinite(expected)), qtype
        out += struct.pack("<III", int(qtype), n, raw.size)
        out += raw.tobytes()
        out += expected.astype("<f4").tobytes()
    return bytes(out)


def main():
    root = pathlib.Path(__file__).resolve().parent.parent
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(root / "tests/data/dequant_ref.bin"))
    ap.add_argument("--seed", type=int, default=20250101)
    args = ap.parse_args()
    data = make_fixture(args.seed)
    pathlib.Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    pathlib.Path(args.out).write_bytes(data)
    print(f"wrote {args.out} ({len(data)} bytes)")


if __name__ == "__main__":
    main()
