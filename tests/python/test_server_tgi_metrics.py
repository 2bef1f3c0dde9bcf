"""TGI routes, vLLM's tokenizer routes, /health and /metrics (parsed with
prometheus_client's own parser)."""

import json
import sys
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))
from server_harness import ServerProcess  # noqa: E402


@pytest.fixture(scope="module")
def server():
    with ServerProcess() as s:
        yield s


def sse_events(response):
    events = []
    for line in response.iter_lines(decode_unicode=True):
        if line.startswith("data:"):
            events.append(line[5:].strip())
    return events


def test_generate_with_details(server):
    r = requests.post(server.url + "/generate", json={
        "inputs": "Once upon a time",
        "parameters": {"max_new_tokens": 6, "details": True, "decoder_input_details": True,
                       "top_n_tokens": 2}}, timeout=60)
    assert r.status_code == 200, r.text
    body = r.json()
    details = body["details"]
    assert details["finish_reason"] in ("length", "eos_token")
    assert details["generated_tokens"] == len(details["tokens"]) <= 6
    assert all(t["logprob"] <= 0 for t in details["tokens"])
    assert len(details["top_tokens"]) == len(details["tokens"])
    prompt_ids = requests.post(server.url + "/tokenize", json={"prompt": "Once upon a time"},
                               timeout=10).json()["tokens"]
    assert [t["id"] for t in details["prefill"]] == prompt_ids
    assert details["prefill"][0]["logprob"] is None


def test_generate_return_full_text_and_stop(server):
    base = requests.post(server.url + "/generate", json={
        "inputs": "abc", "parameters": {"max_new_tokens": 20}}, timeout=60).json()["generated_text"]
    full = requests.post(server.url + "/generate", json={
        "inputs": "abc", "parameters": {"max_new_tokens": 20, "return_full_text": True}},
        timeout=60).json()["generated_text"]
    assert full == "abc" + base
    if len(base) >= 4:
        stop = base[2:4]
        r = requests.post(server.url + "/generate", json={
            "inputs": "abc", "parameters": {"max_new_tokens": 20, "stop": [stop], "details": True}},
            timeout=60).json()
        assert r["generated_text"] == base[: base.index(stop)]
        assert r["details"]["finish_reason"] == "stop_sequence"


def test_generate_stream(server):
    ref = requests.post(server.url + "/generate", json={
        "inputs": "Hello", "parameters": {"max_new_tokens": 8}}, timeout=60).json()
    with requests.post(server.url + "/generate_stream", json={
            "inputs": "Hello", "parameters": {"max_new_tokens": 8}}, stream=True, timeout=60) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        events = [json.loads(e) for e in sse_events(r)]
    assert events, "no events"
    assert [e["index"] for e in events] == list(range(1, len(events) + 1))
    assert all(e["generated_text"] is None for e in events[:-1])
    last = events[-1]
    assert last["generated_text"] == ref["generated_text"]
    assert "".join(e["token"]["text"] for e in events) == ref["generated_text"]
    assert last["details"]["generated_tokens"] == len(events)


def test_tgi_validation_errors(server):
    for body in ({"inputs": 3}, {"parameters": {}}, {"inputs": "x", "parameters": {"top_p": 1.5}},
                 {"inputs": "x", "parameters": {"temperature": 0}},
                 {"inputs": "x", "parameters": {"stop": ["a", "b", "c", "d", "e"]}},
                 {"inputs": "x", "parameters": {"max_new_tokens": 10 ** 9}},
                 {"inputs": "x", "parameters": {"unknown": 1}}):
        r = requests.post(server.url + "/generate", json=body, timeout=10)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["error_type"] == "validation"
        assert r.json()["error"]


def test_info(server):
    info = requests.get(server.url + "/info", timeout=10).json()
    models = requests.get(server.url + "/v1/models", timeout=10).json()
    assert info["model_id"] == models["data"][0]["id"]
    assert info["max_total_tokens"] == models["data"][0]["max_model_len"]
    assert info["max_input_tokens"] < info["max_total_tokens"]


def test_tokenize_detokenize_roundtrip(server):
    text = "Hello, world! Ünïcödé and 日本語."
    r = requests.post(server.url + "/tokenize",
                      json={"prompt": text, "add_special_tokens": False, "return_token_strs": True},
                      timeout=10).json()
    assert r["count"] == len(r["tokens"]) == len(r["token_strs"])
    assert r["max_model_len"] > 0
    back = requests.post(server.url + "/detokenize", json={"tokens": r["tokens"]}, timeout=10).json()
    assert back["prompt"] == text
    bad = requests.post(server.url + "/detokenize", json={"tokens": [-1]}, timeout=10)
    assert bad.status_code == 400
    bad = requests.post(server.url + "/detokenize", json={"tokens": [10 ** 8]}, timeout=10)
    assert bad.status_code == 400


def test_health_version_and_unknown_routes(server):
    assert requests.get(server.url + "/health", timeout=10).status_code == 200
    assert requests.get(server.url + "/version", timeout=10).json()["version"]
    r = requests.get(server.url + "/v2/nothing", timeout=10)
    assert r.status_code == 404 and r.json()["error"]["message"]
    r = requests.get(server.url + "/v1/completions", timeout=10)
    assert r.status_code == 405


def test_metrics_format_and_counts(server):
    def scrape():
        families = {f.name: f for f in text_string_to_metric_families(
            requests.get(server.url + "/metrics", timeout=10).text)}
        return families

    def sample(families, family, name, **labels):
        for s in families[family].samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
        raise KeyError(name)

    before = scrape()
    for name, kind in [("tessera:num_requests_running", "gauge"),
                       ("tessera:num_requests_waiting", "gauge"),
                       ("tessera:kv_cache_usage_perc", "gauge"),
                       ("tessera:prefix_cache_hit_rate", "gauge"),
                       ("tessera:prompt_tokens", "counter"),
                       ("tessera:generation_tokens", "counter"),
                       ("tessera:request_success", "counter"),
                       ("tessera:time_to_first_token_seconds", "histogram"),
                       ("tessera:time_per_output_token_seconds", "histogram"),
                       ("tessera:e2e_request_latency_seconds", "histogram")]:
        assert before[name].type == kind, name
    e2e = "tessera:e2e_request_latency_seconds"
    count0 = sample(before, e2e, e2e + "_count")
    gen0 = sample(before, "tessera:generation_tokens", "tessera:generation_tokens_total")
    total = 0
    for i in range(5):
        r = requests.post(server.url + "/v1/completions", json={
            "prompt": f"metrics {i}", "max_tokens": 5, "temperature": 0}, timeout=60).json()
        total += r["usage"]["completion_tokens"]
    after = scrape()
    assert sample(after, e2e, e2e + "_count") == count0 + 5
    assert sample(after, "tessera:generation_tokens", "tessera:generation_tokens_total") >= gen0 + total
    # Buckets are cumulative and end at +Inf == _count.
    buckets = [s for s in after[e2e].samples if s.name == e2e + "_bucket"]
    values = [s.value for s in buckets]
    assert values == sorted(values)
    assert buckets[-1].labels["le"] == "+Inf"
    assert values[-1] == sample(after, e2e, e2e + "_count")
    ok = sample(after, "tessera:http_requests", "tessera:http_requests_total",
                route="/v1/completions", status="200")
    assert ok >= 5
