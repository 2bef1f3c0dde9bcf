"""Hostile and careless clients: malformed and mutated bodies (fuzz), broken
HTTP, oversized requests, stalled and vanishing clients, a full queue, and
shutdown with requests in flight. The server must answer 4xx (never 5xx),
stay up, and leave no running request or used KV block behind.

Runs on the fake engine (the default) and on the real model
(TESSERA_SERVER_TESTS=real, ctest's py_test_server_robustness_real). On the
real model the fuzzed server gets a short context (--max-model-len), so a
mutated body that happens to be valid (say, with max_tokens deleted, which
means "what the context leaves") still generates only a few dozen tokens,
and fewer bodies are sent."""

import json
import random
import signal
import socket
import threading
import time
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))
from server_harness import REAL_MODEL_ARGS, ServerProcess, is_fake  # noqa: E402

BODY_LIMIT = 256 * 1024
FUZZ_BODIES = 3000 if is_fake() else 6000
FUZZ_MAX_MODEL_LEN = 64  # real model: prompt + output; the chat template alone is ~35 tokens


@pytest.fixture(scope="module")
def server():
    with ServerProcess("--max-request-body-bytes", str(BODY_LIMIT),
                       "--max-request-header-bytes", "8192",
                       "--request-read-timeout", "1.5", "--timeout-keep-alive", "1.5",
                       fake_args=("--step-ms", "0.5"),
                       real_args=REAL_MODEL_ARGS + ("--max-model-len", str(FUZZ_MAX_MODEL_LEN))) as s:
        yield s


# --- fuzz -------------------------------------------------------------------

BASES = {
    "/v1/completions": {"model": None, "prompt": "fuzz", "max_tokens": 2, "temperature": 0.5,
                        "top_p": 0.9, "n": 1, "stop": ["x"], "logprobs": 1, "echo": False,
                        "seed": 3, "logit_bias": {"65": 1.0}, "stream": False,
                        "presence_penalty": 0.1, "frequency_penalty": 0.1, "user": "u"},
    "/v1/chat/completions": {"messages": [{"role": "user", "content": "fuzz"}], "max_tokens": 2,
                             "temperature": 0.5, "top_logprobs": 1, "logprobs": True, "n": 1,
                             "stream": False, "stop": "x", "top_k": 5, "min_p": 0.1,
                             "repetition_penalty": 1.1, "min_tokens": 0,
                             "stream_options": None},
    "/tokenize": {"prompt": "fuzz", "add_special_tokens": True},
    "/detokenize": {"tokens": [65, 66, 67]},
    "/generate": {"inputs": "fuzz", "parameters": {"max_new_tokens": 2, "details": True,
                                                   "temperature": 0.7, "stop": ["x"]}},
    "/generate_stream": {"inputs": "fuzz", "parameters": {"max_new_tokens": 2}},
}

EVIL_VALUES = [None, True, False, -1, 0, 1, 2 ** 31, 2 ** 63, 2 ** 64 + 1, -2 ** 63 - 1, 1.5,
               -0.0, 1e308, -1e308, "", "x", "9" * 50, "\u0000", "\ud7ff\ue000", [], [[]], {},
               {"a": {"b": {}}}, [1, "a", None], ["x"] * 300, list(range(300)), "y" * 5000,
               {"role": "user"}, [{"role": "user", "content": None}],
               [{"type": "text"}], {"include_usage": "yes"}]


def mutate_structure(rng, body):
    body = json.loads(json.dumps(body))
    target = body
    if "parameters" in body and rng.random() < 0.5:
        target = body["parameters"]
    keys = list(target.keys())
    op = rng.random()
    if op < 0.6 and keys:
        target[rng.choice(keys)] = rng.choice(EVIL_VALUES)
    elif op < 0.75 and keys:
        del target[rng.choice(keys)]
    elif op < 0.9:
        target[rng.choice(["foo", "tools", "response_format", "suffix", "best_of", "", "n",
                           "guided_json", "functions"])] = rng.choice(EVIL_VALUES)
    else:
        for _ in range(3):
            if keys:
                target[rng.choice(keys)] = rng.choice(EVIL_VALUES)
    return json.dumps(body).encode()


def mutate_bytes(rng, raw):
    data = bytearray(raw)
    for _ in range(rng.randint(1, 4)):
        op = rng.random()
        pos = rng.randrange(len(data)) if data else 0
        if op < 0.3 and data:
            data[pos] = rng.randrange(256)
        elif op < 0.5:
            data[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif op < 0.7 and data:
            del data[pos:pos + rng.randint(1, 16)]
        elif op < 0.85:
            data = data[:pos]
        else:
            data[pos:pos] = rng.choice([b"\xff\xfe", b"\xc3", b"\xed\xa0\x80", b"\\u", b'"', b"{",
                                        b"]", b"1e99999", b"-", b"NaN", b"Infinity"])
    return bytes(data)


def special_bodies():
    return [b"", b"null", b"[]", b"123", b'"str"', b"{", b"{}" * 1000, b"[" * 100000,
            b'{"a":' * 5000 + b"1" + b"}" * 5000, b'{"prompt": "\xff\xfe"}',
            b'{"prompt": "\\ud800"}', b'{"prompt": 1' + b"0" * 400 + b"}",
            b'{"max_tokens": 1' + b"0" * 400 + b', "prompt": "x"}',
            b'{"messages": [{"role": "user", "content": "' + b"\xc3\x28" + b'"}]}',
            b"\x00" * 64,
            json.dumps({"prompt": "x" * (BODY_LIMIT + 10)}).encode()]


def check_fuzz_response(path, status, body, bad):
    assert status < 500, (path, status, body[:200])
    if bad:
        assert 400 <= status < 500, (path, status, body[:200])
    if status >= 400 and path not in ("/generate", "/generate_stream", "/"):
        err = json.loads(body)["error"]
        assert err["message"] and err["type"]


def test_fuzz_thousands_of_bodies(server):
    rng = random.Random(20240611)
    cases = []
    paths = list(BASES)
    for i in range(FUZZ_BODIES):
        path = rng.choice(paths)
        base = json.dumps(BASES[path]).encode()
        kind = rng.random()
        if kind < 0.5:
            cases.append((path, mutate_structure(rng, BASES[path]), False))
        else:
            cases.append((path, mutate_bytes(rng, base), False))
    for body in special_bodies():
        for path in paths:
            cases.append((path, body, True))
    # Duplicate keys are legal JSON (the last one wins): any answer but 5xx.
    cases.append(("/v1/completions", b'{"prompt": "a", "prompt": "b", "max_tokens": 1}', False))

    def worker(chunk):
        session = requests.Session()
        statuses = []
        for path, body, bad in chunk:
            r = session.post(server.url + path, data=body, timeout=60,
                             headers={"Content-Type": "application/json"})
            check_fuzz_response(path, r.status_code, r.content, bad)
            statuses.append(r.status_code)
        return statuses

    chunks = [cases[i::4] for i in range(4)]
    start = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        results = [s for part in pool.map(worker, chunks) for s in part]
    elapsed = time.monotonic() - start
    counts = {s: results.count(s) for s in sorted(set(results))}
    print(f"\n{len(cases)} fuzz bodies in {elapsed:.1f} s; statuses {counts}")
    assert elapsed < 300
    assert len(results) == len(cases)
    assert sum(400 <= s < 500 for s in results) > len(results) // 2
    assert server.alive()
    assert requests.get(server.url + "/health", timeout=10).status_code == 200
    server.wait_idle()


# --- raw HTTP ---------------------------------------------------------------

def raw_exchange(server, data, read_timeout=5.0, rcvbuf=None):
    s = socket.create_connection(("127.0.0.1", server.port), timeout=read_timeout)
    try:
        s.sendall(data)
        chunks = []
        while True:
            try:
                part = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not part:
                break
            chunks.append(part)
        return b"".join(chunks)
    finally:
        s.close()


def status_of(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


def test_malformed_http_gets_400(server):
    for data in (b"GARBAGE\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n", b"POST /tokenize HTTP/1.1\r\n"
                 b"Content-Length: abc\r\n\r\n", b"\x00\x01\x02\r\n\r\n"):
        response = raw_exchange(server, data)
        assert status_of(response) == 400, response[:200]
    assert server.alive()


def test_header_too_large_gets_431(server):
    data = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n"
    assert status_of(raw_exchange(server, data)) == 431


def test_body_too_large_gets_413(server):
    body = json.dumps({"prompt": "x" * (BODY_LIMIT * 2)})
    r = requests.post(server.url + "/v1/completions", data=body, timeout=30)
    assert r.status_code == 413
    assert "limit" in r.json()["error"]["message"]

    def chunks():
        for _ in range(2 * BODY_LIMIT // 4096 + 2):
            yield b"x" * 4096
    r = requests.post(server.url + "/tokenize", data=chunks(), timeout=30)  # chunked encoding
    assert r.status_code == 413


def test_keep_alive_pipelining_and_expect_continue(server):
    req = (b"POST /tokenize HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           b"Content-Length: 17\r\n\r\n{\"prompt\": \"ab\"}\n")
    s = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    s.sendall(req + req + b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    data = b""
    while True:
        part = s.recv(65536)
        if not part:
            break
        data += part
    s.close()
    assert data.count(b"HTTP/1.1 200 OK") == 3
    s = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    s.sendall(b"POST /tokenize HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 17\r\n\r\n")
    assert s.recv(100).startswith(b"HTTP/1.1 100 Continue")
    s.sendall(b"{\"prompt\": \"ab\"}\n")
    assert s.recv(65536).startswith(b"HTTP/1.1 200 OK")
    s.close()


def test_stalled_and_idle_connections_are_closed(server):
    # A request that never completes is dropped after the read timeout.
    s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    s.sendall(b"POST /tokenize HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
    start = time.monotonic()
    assert s.recv(100) == b""
    assert time.monotonic() - start < 5
    s.close()
    # So is an idle keep-alive connection, and one that never sends a byte.
    for first in (b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n", b""):
        s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        if first:
            s.sendall(first)
            assert s.recv(65536).startswith(b"HTTP/1.1 200")
        start = time.monotonic()
        assert s.recv(100) == b""
        assert time.monotonic() - start < 5
        s.close()


# --- vanishing clients --------------------------------------------------------

def open_stream(server, body, path="/v1/completions"):
    payload = json.dumps(body).encode()
    s = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    s.sendall(b"POST " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: " + str(len(payload)).encode() + b"\r\n\r\n" + payload)
    return s


@pytest.fixture(scope="module")
def slow_server():
    # Slow steps: every request below is still generating when its client leaves.
    with ServerProcess(fake_args=("--step-ms", "5"), real_args=REAL_MODEL_ARGS) as s:
        yield s


def test_disconnects_abort_requests(slow_server):
    server = slow_server
    long_body = {"prompt": "vanish", "max_tokens": 1900, "ignore_eos": True, "temperature": 0}
    socks = []
    for i in range(50):
        s = open_stream(server, dict(long_body, stream=True, prompt=f"vanish {i}"))
        assert s.recv(4096).startswith(b"HTTP/1.1 200")
        socks.append(s)
    # Non-streaming requests whose clients leave before the answer, too.
    for i in range(20):
        socks.append(open_stream(server, dict(long_body, prompt=f"leave {i}")))
    time.sleep(0.2)
    m = server.metrics()
    assert m["tessera:num_requests_running"] + m["tessera:num_requests_waiting"] > 0
    for s in socks:
        s.close()
    m = server.wait_idle(timeout=5)
    assert m["tessera:request_success_total{finished_reason=abort}"] >= 70


def test_slow_reader_gets_a_complete_stream(server):
    body = {"prompt": "slow", "max_tokens": 40, "ignore_eos": True, "temperature": 0,
            "stream": True}
    with requests.post(server.url + "/v1/completions", json=body, stream=True, timeout=60) as r:
        events = []
        for line in r.iter_lines():
            if line.startswith(b"data:"):
                events.append(line[5:].strip())
                time.sleep(0.01)
    assert events[-1] == b"[DONE]"
    text = "".join(json.loads(e)["choices"][0]["text"] for e in events[:-1])
    ref = requests.post(server.url + "/v1/completions", json=dict(body, stream=False), timeout=60)
    assert text == ref.json()["choices"][0]["text"]


def test_queue_full_gets_503_with_retry_after():
    with ServerProcess("--max-num-seqs", "1", "--max-waiting-requests", "2",
                       fake_args=("--step-ms", "5"), real_args=REAL_MODEL_ARGS) as s:
        body = {"prompt": "q", "max_tokens": 200, "ignore_eos": True}

        def one(_):
            r = requests.post(s.url + "/v1/completions", json=body, timeout=120)
            return r.status_code, r.headers.get("Retry-After"), r.json()
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(one, range(8)))
        statuses = [r[0] for r in results]
        assert 503 in statuses and 200 in statuses, statuses
        for status, retry_after, body in results:
            if status == 503:
                assert retry_after is not None and int(retry_after) >= 1
                assert body["error"]["type"] == "server_error"


# --- shutdown ------------------------------------------------------------------

def test_sigterm_lets_streams_finish_then_exits_zero():
    s = ServerProcess("--shutdown-timeout", "30", fake_args=("--step-ms", "5"),
                      real_args=REAL_MODEL_ARGS)
    s.start()
    try:
        body = {"prompt": "drain", "max_tokens": 100, "ignore_eos": True, "stream": True}
        r = requests.post(s.url + "/v1/completions", json=body, stream=True, timeout=120)
        lines = r.iter_lines()
        first = next(line for line in lines if line.startswith(b"data:"))
        assert first
        s.proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        with pytest.raises(requests.ConnectionError):
            requests.get(s.url + "/health", timeout=2)
        rest = [line for line in lines if line.startswith(b"data:")]
        assert rest[-1] == b"data: [DONE]"
        assert s.proc.wait(timeout=30) == 0
    finally:
        s.stop()


def test_sigterm_deadline_cuts_long_requests():
    s = ServerProcess("--shutdown-timeout", "1", fake_args=("--step-ms", "5"),
                      real_args=REAL_MODEL_ARGS)
    s.start()
    try:
        body = {"prompt": "long", "max_tokens": 1900, "ignore_eos": True, "stream": True}
        r = requests.post(s.url + "/v1/completions", json=body, stream=True, timeout=120)
        assert next(r.iter_lines())
        start = time.monotonic()
        s.proc.send_signal(signal.SIGINT)
        assert s.proc.wait(timeout=20) == 0
        assert time.monotonic() - start < 10
    finally:
        s.stop()
