"""Fresh random GGML blocks of every weight type, dequantized by the `gguf`
package, compared bit-exactly with tessera's reference dequantizers: the
fixture is written to a temp file and checked by the C++ test
DequantReference.FixtureFromEnvironment (tests/backend/quant_dequant_test.cpp).
"""
import importlib.util
import os
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def load_generator():
    spec = importlib.util.spec_from_file_location(
        "make_dequant_reference", ROOT / "scripts" / "make_dequant_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def backend_test_binary():
    bin_env = os.environ.get("TESSERA_BIN")
    build = pathlib.Path(bin_env).parent if bin_env else ROOT / "build"
    path = build / "tests" / "test_backend"
    if not path.exists():
        pytest.skip(f"{path} not built")
    return path


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fresh_blocks_match_gguf(tmp_path, seed):
    generator = load_generator()
    fixture = tmp_path / f"dequant_{seed}.bin"
    fixture.write_bytes(generator.make_fixture(seed=seed * 7919 + 17, scale=4))
    result = subprocess.run(
        [str(backend_test_binary()), "--gtest_filter=DequantReference.FixtureFromEnvironment"],
        env={**os.environ, "TESSERA_DEQUANT_FIXTURE": str(fixture)},
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "[  PASSED  ] 1 test" in result.stdout
    assert "SKIPPED" not in result.stdout


def test_committed_fixture_matches_installed_gguf():
    """The committed fixture's expected values are what this `gguf` computes."""
    import struct

    import numpy as np
    from gguf import GGMLQuantizationType
    from gguf.quants import dequantize

    data = (ROOT / "tests" / "data" / "dequant_ref.bin").read_bytes()
    assert data[:4] == b"TSDQ"
    _, count = struct.unpack_from("<II", data, 4)
    pos, seen = 12, set()
    for _ in range(count):
        qtype, n, nbytes = struct.unpack_from("<III", data, pos)
        pos += 12
        raw = np.frombuffer(data, dtype=np.uint8, count=nbytes, offset=pos)
        pos += nbytes
        expected = np.frombuffer(data, dtype="<f4", count=n, offset=pos)
        pos += 4 * n
        got = np.asarray(dequantize(raw.copy(), GGMLQuantizationType(qtype)), dtype=np.float32)
        assert np.array_equal(got.reshape(-1).view(np.uint32), expected.view(np.uint32)), qtype
        seen.add(GGMLQuantizationType(qtype).name)
    assert pos == len(data)
    assert seen == {"F32", "F16", "BF16", "Q4_0", "Q4_1", "Q8_0", "Q4_K", "Q5_K", "Q6_K"}


@pytest.mark.parametrize("isa", ["portable", "avx2", "avx512-vnni", "amx"])
def test_kernel_family_from_environment(isa):
    """TESSERA_KERNELS selects the kernel family (when this CPU has it)."""
    binary = backend_test_binary()
    listing = subprocess.run([str(binary), "--gtest_list_tests"], capture_output=True, text=True)
    assert "EnvironmentOverride" in listing.stdout
    flags = open("/proc/cpuinfo").read()
    needed = {"avx2": ["avx2", "fma", "f16c"],
              "avx512-vnni": ["avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_vnni"],
              "amx": ["avx512_vnni", "amx_tile", "amx_int8"]}
    if any(f" {flag}" not in flags for flag in needed.get(isa, [])):
        pytest.skip(f"hardware: CPU lacks {isa}")
    result = subprocess.run(
        [str(binary), "--gtest_filter=QuantMatmulApi.EnvironmentOverride"],
        env={**os.environ, "TESSERA_KERNELS": isa}, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "[  PASSED  ] 1 test" in result.stdout
