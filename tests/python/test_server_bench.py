"""`tessera bench serve` against a live server: every request succeeds and
the JSON summary is consistent (skipped while the tessera binary is not
built)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))
from server_harness import ServerProcess  # noqa: E402

TESSERA_BIN = os.environ.get("TESSERA_BIN", "")


@pytest.mark.skipif(not (TESSERA_BIN and Path(TESSERA_BIN).exists()),
                    reason="the tessera binary is not built")
def test_bench_serve_reports(tmp_path):
    with ServerProcess(fake_args=("--step-ms", "2")) as server:
        out = tmp_path / "bench.json"
        run = subprocess.run([TESSERA_BIN, "bench", "serve", "--url", server.url,
                              "--request-rate", "100", "--num-prompts", "40",
                              "--input-len", "16", "--output-len", "8",
                              "--result-json", str(out)],
                             capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stderr
        assert "Serving Benchmark Result" in run.stdout
        summary = json.loads(out.read_text())
        assert summary["completed"] == 40 and summary["failed"] == 0
        assert summary["total_output_tokens"] <= 40 * 8
        for key in ("ttft_ms", "tpot_ms", "itl_ms", "e2el_ms"):
            stats = summary[key]
            assert 0 <= stats["median"] <= stats["p99"]
        server.wait_idle()
