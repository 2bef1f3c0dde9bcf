"""Starts a tessera server for the Python server suites (tests/python/test_server*.py).

Which server: the fake-engine server (tessera_fake_server, built next to the
tessera binary) while TESSERA_SERVER_TESTS is unset or "fake" and that binary
exists; `$TESSERA_BIN serve -m $TESSERA_TEST_MODEL` when it is "real". The
suites are written to hold for both: they check OpenAI/TGI semantics against
the server's own tokenizer routes, not fixed model outputs.

Loopback only; every wait is bounded.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import requests

LISTEN_RE = re.compile(r"listening on http://([0-9.]+):(\d+)")

# Extra flags for the real model in the load and robustness suites: one
# model thread. CI runs two tests at once on 2 cores, so each test has about
# one core; a second model thread would only wait for it.
REAL_MODEL_ARGS = ("--threads", "1")


def _bin_dir() -> Path:
    tessera_bin = os.environ.get("TESSERA_BIN")
    if tessera_bin:
        return Path(tessera_bin).resolve().parent
    return Path(__file__).resolve().parents[2] / "build"


def server_mode() -> str:
    mode = os.environ.get("TESSERA_SERVER_TESTS")
    if mode in ("fake", "real"):
        return mode
    return "fake" if (_bin_dir() / "tessera_fake_server").exists() else "real"


def is_fake() -> bool:
    return server_mode() == "fake"


def server_command() -> list[str]:
    if is_fake():
        return [str(_bin_dir() / "tessera_fake_server")]
    tessera_bin = os.environ.get("TESSERA_BIN", str(_bin_dir() / "tessera"))
    model = os.environ.get("TESSERA_TEST_MODEL", "smollm2-135m")
    # TESSERA_SERVE_ARGS: more engine flags for the real model (ctest runs the
    # load and robustness suites once more with --async-scheduling).
    return [tessera_bin, "serve", "-m", model] + os.environ.get("TESSERA_SERVE_ARGS", "").split()


class ServerProcess:
    """A server on a free loopback port; use as a context manager."""

    def __init__(self, *args: str, fake_args: tuple[str, ...] = (),
                 real_args: tuple[str, ...] = (), env: dict | None = None,
                 start_timeout: float = 180.0):
        self.args = list(args) + list(fake_args if is_fake() else real_args)
        self.env = dict(os.environ)
        self.env.pop("TESSERA_API_KEY", None)
        if env:
            self.env.update(env)
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen | None = None
        self.log_path: Path | None = None
        self.url = ""

    def __enter__(self) -> "ServerProcess":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        fd, path = tempfile.mkstemp(prefix="tessera-server-", suffix=".log")
        self.log_path = Path(path)
        log = os.fdopen(fd, "wb")
        cmd = server_command() + ["--host", "127.0.0.1", "--port", "0"] + self.args
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=self.env,
                                     stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            match = LISTEN_RE.search(self.log())
            if match:
                self.url = f"http://{match.group(1)}:{match.group(2)}"
                break
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            time.sleep(0.05)
        else:
            self.stop()
            raise RuntimeError(f"server did not start in {self.start_timeout} s:\n{self.log()}")
        for _ in range(100):  # the route answers once the io threads run
            try:
                if requests.get(self.url + "/health", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise RuntimeError("server does not answer /health")

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        code = self.proc.returncode
        if self.log_path:
            self.log_path.unlink(missing_ok=True)
            self.log_path = None
        return code

    def proc_status(self, field: str) -> int:
        """A number from /proc/PID/status (Threads, VmRSS in kB, ...)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        raise KeyError(field)

    def num_fds(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def metrics(self) -> dict[str, float]:
        """Unlabelled view of /metrics: sample name (+ sorted labels but model_name) -> value."""
        from prometheus_client.parser import text_string_to_metric_families

        text = requests.get(self.url + "/metrics", timeout=10).text
        out: dict[str, float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                labels = {k: v for k, v in sample.labels.items() if k != "model_name"}
                key = sample.name
                if labels:
                    key += "{" + ",".join(f"{k}={v}" for k, v in sorted(labels.items())) + "}"
                out[key] = sample.value
        return out

    def wait_idle(self, timeout: float = 10.0) -> dict[str, float]:
        """Waits until no request runs or waits and no KV block is used."""
        deadline = time.monotonic() + timeout
        m: dict[str, float] = {}
        while time.monotonic() < deadline:
            m = self.metrics()
            if (m.get("tessera:num_requests_running") == 0
                    and m.get("tessera:num_requests_waiting") == 0
                    and m.get("tessera:kv_cache_usage_perc") == 0):
                return m
            time.sleep(0.05)
        raise AssertionError(f"server not idle after {timeout} s: {m}")
