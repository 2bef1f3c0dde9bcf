#!/usr/bin/env python3
"""Records facts about the default model, read with gguf-py's GGUFReader,
for tests/formats to check tessera's reader against.

    python3 tests/data/formats/make_smollm2_reference.py [MODEL.gguf]

Writes smollm2_reference.json next to this script.
"""
import json
import os
import sys
from pathlib import Path

import numpy as np
import gguf
from gguf import GGUFValueType as V

HERE = Path(__file__).resolve().parent
DEFAULT = Path(os.environ.get("TESSERA_MODELS", Path.home() / ".cache/tessera/models")) / \
    "SmolLM2-135M-Instruct.Q4_1.gguf"
HASHED = ["token_embd.weight", "output_norm.weight", "blk.0.attn_q.weight", "blk.29.ffn_down.weight"]


def fnv1a64(data: bytes) -> int:
    h = 0xcbf29ce484222325
    for b in data:
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def scalar(field):
    vtype = field.types[0]
    value = field.contents()
    if vtype == V.FLOAT32:
        value = float(value)
    return {"type": vtype.name.lower(), "value": value}


def main():
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    reader = gguf.GGUFReader(str(path))
    scalars, arrays = {}, {}
    for key, field in reader.fields.items():
        if key.startswith("GGUF."):
            continue
        if field.types[0] == V.ARRAY:
            items = field.contents()
            elem = field.types[-1]
            if elem == V.FLOAT32:
                items = [float(x) for x in items]
            arrays[key] = {"elem": elem.name.lower(), "count": len(items),
                           "head": items[:5], "tail": items[-5:]}
        else:
            scalars[key] = scalar(field)
    tensors = [{
        "name": t.name,
        "shape": [int(d) for d in reversed(t.shape)],
        "type": t.tensor_type.name,
        "offset": int(t.data_offset) - int(reader.data_offset),
        "nbytes": int(t.n_bytes),
    } for t in reader.tensors]
    by_name = {t.name: t for t in reader.tensors}
    hashes = {}
    for name in HASHED:
        raw = np.ascontiguousarray(by_name[name].data).view(np.uint8).reshape(-1)
        hashes[name] = fnv1a64(raw.tobytes())
    ref = {
        "version": int(reader.fields["GGUF.version"].contents()),
        "kv_count": int(reader.fields["GGUF.kv_count"].contents()),
        "alignment": int(reader.alignment),
        "data_offset": int(reader.data_offset),
        "file_size": path.stat().st_size,
        "scalars": scalars,
        "arrays": arrays,
        "tensors": tensors,
        "fnv1a64": hashes,
    }
    out = HERE / "smollm2_reference.json"
    out.write_text(json.dumps(ref, indent=1, ensure_ascii=True) + "\n")
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
