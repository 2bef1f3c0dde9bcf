"""`tessera bench throughput` on the CPU with random (dummy) weights of a tiny
config: the table names the CPU precision it ran, --repeat keeps each row's
fastest run on fresh prompts (no prefix-cache hits between runs), and bad
values are refused with a one-line error and exit code 2."""
import re

from test_dtype_flag import TINY, assert_one_line_error, run


def bench(*flags):
    return run("bench", "throughput", "-m", TINY, "--load-format", "dummy", "--kv-cache-memory",
               "8M", "--num-prompts", "4", "--input-len", "16", "--output-len", "4", *flags)


def test_repeat_reports_the_best_run_of_fresh_prompts():
    proc = bench("--repeat", "3", "--cpu-activations", "f32", "--kv-cache-dtype", "f16")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "on cpu, f32 matmul activations, f16 KV cache" in out, out
    assert "best of 3 runs" in out, out
    rows = re.findall(r"^\| (1 request|4 requests) \|", out, re.M)
    assert rows == ["1 request", "4 requests"], out
    # Warm-up, 3 singles and 3 batches of 4: 16 distinct prompts of 16 tokens.
    hits = re.search(r"prefix-cache hits (\d+) of (\d+) prompt tokens", out)
    assert hits and hits.group(1) == "0" and hits.group(2) == str(16 * 16), out


def test_bad_repeat_is_refused():
    assert_one_line_error(bench("--repeat", "0"), "--repeat")
    assert_one_line_error(bench("--repeat", "2", "--grid"), "--repeat")
