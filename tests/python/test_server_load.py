"""Bounded load on loopback: 1,000 concurrent streaming clients with short
outputs. Every stream must be complete and correct, the server's thread
count must not grow with the number of connections, and its memory must
come back to its baseline afterwards."""

import asyncio
import json
import resource
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))
from server_harness import ServerProcess, is_fake  # noqa: E402

CLIENTS = 1000
MAX_TOKENS = 8


@pytest.fixture(scope="module")
def server():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4 * CLIENTS:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8 * CLIENTS), hard))
    with ServerProcess("--max-num-seqs", "256", "--max-waiting-requests", str(2 * CLIENTS),
                       fake_args=("--step-ms", "2")) as s:
        yield s


async def read_chunked(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    headers = head.lower()
    body = b""
    if b"transfer-encoding: chunked" in headers:
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            data = await reader.readexactly(size + 2)
            if size == 0:
                break
            body += data[:-2]
    else:
        length = int(headers.split(b"content-length: ")[1].split(b"\r\n")[0])
        body = await reader.readexactly(length)
    return status, body


def request_bytes(port, body):
    payload = json.dumps(body).encode()
    return (b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:" + str(port).encode() +
            b"\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: " +
            str(len(payload)).encode() + b"\r\n\r\n" + payload)


def body_for(i):
    return {"messages": [{"role": "user", "content": f"load client {i % 97}"}],
            "max_tokens": MAX_TOKENS, "temperature": 0, "stream": True,
            "stream_options": {"include_usage": True}}


def parse_stream(body: bytes):
    events = [e[len(b"data: "):] for e in body.split(b"\n\n") if e]
    assert events[-1] == b"[DONE]", events[-3:]
    chunks = [json.loads(e) for e in events[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    finishes = [c["choices"][0]["finish_reason"] for c in chunks
                if c["choices"] and c["choices"][0]["finish_reason"]]
    usage = chunks[-1]["usage"]
    return text, finishes, usage


async def one_client(port, i):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request_bytes(port, body_for(i)))
        await writer.drain()
        return await read_chunked(reader)
    finally:
        writer.close()


async def run_clients(port, n):
    return await asyncio.wait_for(asyncio.gather(*(one_client(port, i) for i in range(n))),
                                  timeout=300)


def test_thousand_concurrent_streams(server):
    # Warm up with one full round (allocator arenas, first-touch pages),
    # then take the baseline: a second round must leave nothing behind.
    first_rss_kb = server.proc_status("VmRSS")
    asyncio.run(run_clients(server.port, CLIENTS))
    server.wait_idle()
    time.sleep(2.5)
    base_threads = server.proc_status("Threads")
    base_rss_kb = server.proc_status("VmRSS")

    peak = {"threads": base_threads, "rss": base_rss_kb, "running": 0}
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            try:
                peak["threads"] = max(peak["threads"], server.proc_status("Threads"))
                peak["rss"] = max(peak["rss"], server.proc_status("VmRSS"))
            except (FileNotFoundError, KeyError):
                pass
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    start = time.monotonic()
    try:
        results = asyncio.run(run_clients(server.port, CLIENTS))
    finally:
        stop.set()
        sampler.join()
    elapsed = time.monotonic() - start

    references = {}
    for i, (status, body) in enumerate(results):
        assert status == 200, body[:300]
        text, finishes, usage = parse_stream(body)
        assert len(finishes) == 1 and finishes[0] in ("stop", "length")
        assert 1 <= usage["completion_tokens"] <= MAX_TOKENS
        if finishes[0] == "length":
            assert usage["completion_tokens"] == MAX_TOKENS
        # Greedy and deterministic in the fake: the same prompt, the same text.
        if is_fake():
            references.setdefault(i % 97, text)
            assert text == references[i % 97]

    m = server.wait_idle(timeout=30)
    time.sleep(2.5)  # the server trims its heap ~2 s after a burst
    after_threads = server.proc_status("Threads")
    after_rss_kb = server.proc_status("VmRSS")
    print(f"\nRSS before warm-up {first_rss_kb // 1024} MiB")
    print(f"{CLIENTS} streams in {elapsed:.2f} s; threads {base_threads} -> peak "
          f"{peak['threads']} -> {after_threads}; RSS {base_rss_kb // 1024} MiB -> peak "
          f"{peak['rss'] // 1024} MiB -> {after_rss_kb // 1024} MiB")
    assert peak["threads"] <= base_threads + 2, "threads grew with connections"
    assert after_threads == base_threads
    # Memory back to its baseline (within allocator slack), and close to
    # where it was before the first burst.
    assert after_rss_kb <= base_rss_kb * 1.05 + 4 * 1024, (base_rss_kb, after_rss_kb)
    assert after_rss_kb <= first_rss_kb * 1.05 + 8 * 1024, (first_rss_kb, after_rss_kb)
    assert m["tessera:num_requests_running"] == 0
    assert server.num_fds() < 64, "connections leaked descriptors"
    assert requests.get(server.url + "/health", timeout=10).status_code == 200
