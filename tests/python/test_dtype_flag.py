"""--dtype on the command line: float32 (auto) runs on the CPU; 16-bit types,
which the CPU path does not compute in, and unknown names are refused with a
one-line error and exit code 2 before anything is loaded. Runs on random
(dummy) weights of a tiny config, so no model file is needed."""
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TINY = str(ROOT / "tests" / "data" / "configs" / "tiny-llama.json")


def tessera_bin() -> str:
    binary = os.environ.get("TESSERA_BIN", str(ROOT / "build" / "tessera"))
    if not Path(binary).is_file():
        pytest.fail(f"tessera binary not found at {binary} (set TESSERA_BIN or build first)")
    return binary


def run(*args):
    return subprocess.run([tessera_bin(), *args], capture_output=True, text=True, timeout=120)


def generate(*flags):
    return run("generate", "-m", TINY, "--load-format", "dummy", "--kv-cache-memory", "8M",
               "-p", "hi", "-n", "2", "--ignore-eos", *flags)


def assert_one_line_error(proc, *words):
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    err = proc.stderr.strip()
    assert err.startswith("error:") and "\n" not in err, err
    for w in words:
        assert w in err, err


@pytest.mark.parametrize("dtype", ["auto", "float32", "float"])
def test_float32_runs_on_the_cpu(dtype):
    proc = generate("--dtype", dtype)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("dtype", ["float16", "half", "bfloat16", "fp16"])
def test_16bit_types_are_refused_on_the_cpu(dtype):
    assert_one_line_error(generate("--dtype", dtype), "--dtype", "--device cuda")


def test_unknown_dtype_is_refused():
    assert_one_line_error(generate("--dtype", "float8"), "unknown --dtype 'float8'")


@pytest.mark.parametrize("command", [["bench", "latency"], ["bench", "throughput"], ["serve"]])
def test_other_commands_refuse_it_too(command):
    proc = run(*command, "-m", TINY, "--load-format", "dummy", "--dtype", "half")
    assert_one_line_error(proc, "--dtype half")
