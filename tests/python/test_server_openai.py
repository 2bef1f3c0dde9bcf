"""The OpenAI API of `tessera serve`, through the real `openai` client.

Outputs are checked against the server's own tokenizer routes and against
each other (greedy vs stop, streamed vs not, seeded runs), so the same suite
holds for the fake engine and for a real model.
"""

import asyncio
import sys
from pathlib import Path

import openai
import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))
from server_harness import ServerProcess  # noqa: E402

PROMPT = "The capital of France is"
MESSAGES = [
    {"role": "system", "content": "You are a terse assistant."},
    {"role": "user", "content": "Name three colors."},
]


@pytest.fixture(scope="module")
def server():
    with ServerProcess("--served-model-name", "test-model", "alias-model") as s:
        yield s


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0, timeout=60)


def tokenize(server, text, add_special_tokens=True):
    r = requests.post(server.url + "/tokenize",
                      json={"prompt": text, "add_special_tokens": add_special_tokens}, timeout=30)
    r.raise_for_status()
    return r.json()["tokens"]


def test_models_lists_served_names(client, server):
    models = client.models.list()
    assert [m.id for m in models.data] == ["test-model", "alias-model"]
    assert client.models.retrieve("alias-model").id == "alias-model"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("no-such-model")


def test_completion_usage_matches_tokenizer(client, server):
    r = client.completions.create(model="test-model", prompt=PROMPT, max_tokens=12, temperature=0)
    assert r.object == "text_completion"
    assert r.id.startswith("cmpl-")
    assert r.model == "test-model"
    assert len(r.choices) == 1
    choice = r.choices[0]
    assert choice.finish_reason in ("stop", "length")
    assert r.usage.prompt_tokens == len(tokenize(server, PROMPT))
    assert 1 <= r.usage.completion_tokens <= 12
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    if choice.finish_reason == "length":
        assert r.usage.completion_tokens == 12


def test_max_tokens_gives_length(client):
    r = client.completions.create(model="test-model", prompt=PROMPT, max_tokens=3,
                                  temperature=0, extra_body={"ignore_eos": True})
    assert r.choices[0].finish_reason == "length"
    assert r.usage.completion_tokens == 3


def test_greedy_is_deterministic_and_stream_matches(client):
    kwargs = dict(model="test-model", prompt=PROMPT, max_tokens=16, temperature=0)
    a = client.completions.create(**kwargs)
    b = client.completions.create(**kwargs)
    assert a.choices[0].text == b.choices[0].text
    chunks = list(client.completions.create(stream=True, **kwargs))
    streamed = "".join(c.choices[0].text for c in chunks if c.choices)
    assert streamed == a.choices[0].text
    finals = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finals == [a.choices[0].finish_reason]


def test_stop_string_cuts_output(client):
    base = client.completions.create(model="test-model", prompt=PROMPT, max_tokens=24,
                                     temperature=0, extra_body={"ignore_eos": True})
    text = base.choices[0].text
    assert len(text) >= 6, text
    stop = text[3:5]
    expected = text[: text.index(stop)]
    r = client.completions.create(model="test-model", prompt=PROMPT, max_tokens=24, temperature=0,
                                  stop=[stop], extra_body={"ignore_eos": True})
    assert r.choices[0].text == expected
    assert r.choices[0].finish_reason == "stop"
    assert r.choices[0].model_extra.get("stop_reason") == stop
    with_stop = client.completions.create(model="test-model", prompt=PROMPT, max_tokens=24,
                                          temperature=0, stop=stop,
                                          extra_body={"ignore_eos": True,
                                                      "include_stop_str_in_output": True})
    assert with_stop.choices[0].text == expected + stop
    streamed = "".join(c.choices[0].text for c in client.completions.create(
        model="test-model", prompt=PROMPT, max_tokens=24, temperature=0, stop=[stop], stream=True,
        extra_body={"ignore_eos": True}) if c.choices)
    assert streamed == expected


def test_seed_reproducible(client):
    kwargs = dict(model="test-model", prompt=PROMPT, max_tokens=16, temperature=1.0, top_p=0.95)
    a = client.completions.create(seed=1234, **kwargs).choices[0].text
    b = client.completions.create(seed=1234, **kwargs).choices[0].text
    assert a == b
    others = {client.completions.create(seed=s, **kwargs).choices[0].text for s in (1, 2, 3)}
    assert len(others | {a}) > 1


def test_n_choices(client):
    r = client.completions.create(model="test-model", prompt=PROMPT, max_tokens=8, n=3,
                                  temperature=1.0, seed=7)
    assert sorted(c.index for c in r.choices) == [0, 1, 2]
    r2 = client.chat.completions.create(model="test-model", messages=MESSAGES, max_tokens=8, n=2,
                                        temperature=1.0, seed=7)
    assert sorted(c.index for c in r2.choices) == [0, 1]
    assert all(c.message.role == "assistant" for c in r2.choices)


def test_batch_of_prompts(client, server):
    prompts = ["one", "two two", PROMPT]
    r = client.completions.create(model="test-model", prompt=prompts, max_tokens=4, n=2,
                                  temperature=0)
    assert sorted(c.index for c in r.choices) == list(range(6))
    assert r.usage.prompt_tokens == sum(len(tokenize(server, p)) for p in prompts)
    # Greedy: the n copies of a prompt agree, and match a single request.
    by_index = {c.index: c.text for c in r.choices}
    single = client.completions.create(model="test-model", prompt="two two", max_tokens=4,
                                       temperature=0).choices[0].text
    assert by_index[2] == by_index[3] == single


def test_token_prompt_equals_text_prompt(client, server):
    ids = tokenize(server, PROMPT)
    a = client.completions.create(model="test-model", prompt=ids, max_tokens=8, temperature=0)
    b = client.completions.create(model="test-model", prompt=PROMPT, max_tokens=8, temperature=0)
    assert a.choices[0].text == b.choices[0].text


def test_echo(client):
    r = client.completions.create(model="test-model", prompt=PROMPT, max_tokens=4, temperature=0,
                                  echo=True)
    assert r.choices[0].text.startswith(PROMPT)


def test_completion_logprobs(client, server):
    r = client.completions.create(model="test-model", prompt=PROMPT, max_tokens=6, temperature=0,
                                  logprobs=3, extra_body={"ignore_eos": True})
    lp = r.choices[0].logprobs
    n = r.usage.completion_tokens
    assert len(lp.tokens) == len(lp.token_logprobs) == len(lp.top_logprobs) == len(lp.text_offset) == n
    assert all(v <= 0 for v in lp.token_logprobs)
    assert all(1 <= len(top) <= 4 for top in lp.top_logprobs)
    assert lp.text_offset == sorted(lp.text_offset)
    for tok, value, top in zip(lp.tokens, lp.token_logprobs, lp.top_logprobs):
        assert top[tok] == pytest.approx(value)
        # Greedy: the chosen token is the most likely one.
        assert value >= max(top.values()) - 1e-6
    echo = client.completions.create(model="test-model", prompt=PROMPT, max_tokens=2,
                                     temperature=0, logprobs=1, echo=True)
    elp = echo.choices[0].logprobs
    assert len(elp.tokens) == len(tokenize(server, PROMPT)) + echo.usage.completion_tokens
    assert elp.token_logprobs[0] is None


def test_chat_completion(client, server):
    r = client.chat.completions.create(model="test-model", messages=MESSAGES, max_tokens=10,
                                       temperature=0)
    assert r.object == "chat.completion"
    assert r.id.startswith("chatcmpl-")
    msg = r.choices[0].message
    assert msg.role == "assistant" and isinstance(msg.content, str)
    tok = requests.post(server.url + "/tokenize", json={"messages": MESSAGES}, timeout=30).json()
    assert r.usage.prompt_tokens == tok["count"]


def test_chat_stream_with_usage(client):
    kwargs = dict(model="test-model", messages=MESSAGES, max_tokens=10, temperature=0)
    full = client.chat.completions.create(**kwargs)
    chunks = list(client.chat.completions.create(stream=True,
                                                 stream_options={"include_usage": True}, **kwargs))
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == full.choices[0].message.content
    assert chunks[-1].choices == []
    assert chunks[-1].usage.completion_tokens == full.usage.completion_tokens
    assert chunks[-1].usage.prompt_tokens == full.usage.prompt_tokens
    assert all(c.usage is None for c in chunks[:-1])
    finals = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finals == [full.choices[0].finish_reason]


def test_chat_logprobs(client):
    r = client.chat.completions.create(model="test-model", messages=MESSAGES, max_tokens=8,
                                       temperature=0, logprobs=True, top_logprobs=2)
    content = r.choices[0].logprobs.content
    assert len(content) == r.usage.completion_tokens
    for entry in content:
        assert entry.logprob <= 0
        assert len(entry.top_logprobs) == 2
        assert entry.bytes is not None
    # The tokens' bytes spell the message (the end-of-sequence token aside).
    if r.choices[0].finish_reason == "stop":
        content = content[:-1]
    spelled = b"".join(bytes(e.bytes) for e in content).decode("utf-8", errors="replace")
    assert spelled == r.choices[0].message.content


def test_multi_turn_and_continue(client):
    messages = MESSAGES + [{"role": "assistant", "content": "Red, blue"},
                           {"role": "user", "content": "One more."}]
    r = client.chat.completions.create(model="test-model", messages=messages, max_tokens=4,
                                       temperature=0)
    assert r.choices[0].message.content is not None
    cont = client.chat.completions.create(
        model="test-model", messages=MESSAGES + [{"role": "assistant", "content": "Red,"}],
        max_tokens=4, temperature=0,
        extra_body={"continue_final_message": True, "add_generation_prompt": False, "echo": True})
    assert cont.choices[0].message.content.startswith("Red,")


def test_content_parts(client):
    parts = [{"type": "text", "text": "Name three"}, {"type": "text", "text": "colors."}]
    r = client.chat.completions.create(model="test-model", max_tokens=2, temperature=0,
                                       messages=[{"role": "user", "content": parts}])
    assert r.usage.completion_tokens >= 1


@pytest.mark.parametrize("kwargs, param", [
    (dict(temperature=-1), "temperature"),
    (dict(temperature="hot"), "temperature"),
    (dict(top_p=0), "top_p"),
    (dict(n=0), "n"),
    (dict(max_tokens=0), "max_tokens"),
    (dict(presence_penalty=3), "presence_penalty"),
    (dict(logit_bias={"abc": 1}), "logit_bias"),
    (dict(logit_bias={"1": 500}), "logit_bias"),
    (dict(stop=[1, 2]), "stop"),
    (dict(extra_body={"nonsense_field": 1}), "nonsense_field"),
    (dict(extra_body={"tools": [{"type": "function", "function": {"name": "f"}}]}), "tools"),
    (dict(extra_body={"response_format": {"type": "json_schema", "json_schema": {}}}),
     "response_format"),
])
def test_bad_chat_requests(client, kwargs, param):
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="test-model", messages=MESSAGES, **kwargs)
    err = info.value.body
    assert err["param"] == param, err
    assert err["type"] == "invalid_request_error"
    assert err["message"]


def test_bad_messages(client):
    for messages in ([], [{"role": "wizard", "content": "x"}], [{"content": "x"}],
                     [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]):
        with pytest.raises(openai.BadRequestError):
            client.chat.completions.create(model="test-model", messages=messages)


def test_unknown_model_is_404(client):
    with pytest.raises(openai.NotFoundError) as info:
        client.completions.create(model="gpt-nope", prompt="x", max_tokens=1)
    assert info.value.body["code"] == "model_not_found"


def test_prompt_too_long_names_both_lengths(client, server):
    max_len = client.models.list().data[0].model_extra["max_model_len"]
    prompt = "hello " * (max_len + 10)
    n_prompt = len(tokenize(server, prompt))
    with pytest.raises(openai.BadRequestError) as info:
        client.completions.create(model="test-model", prompt=prompt, max_tokens=4)
    message = info.value.body["message"]
    assert str(max_len) in message and str(n_prompt) in message
    short = "hello"
    n_short = len(tokenize(server, short))
    with pytest.raises(openai.BadRequestError) as info:
        client.completions.create(model="test-model", prompt=short, max_tokens=max_len)
    message = info.value.body["message"]
    assert str(max_len) in message and str(n_short) in message and str(max_len + n_short) in message


def test_async_clients_concurrently(server):
    async def run():
        client = openai.AsyncOpenAI(base_url=server.base_url, api_key="x", max_retries=0, timeout=60)
        async def one(i):
            if i % 2:
                stream = await client.chat.completions.create(
                    model="test-model", messages=[{"role": "user", "content": f"count {i}"}],
                    max_tokens=8, temperature=0, stream=True)
                return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
            r = await client.completions.create(model="test-model", prompt=f"count {i}",
                                                max_tokens=8, temperature=0)
            return r.choices[0].text
        results = await asyncio.gather(*(one(i) for i in range(24)))
        await client.close()
        return results
    results = asyncio.run(run())
    assert len(results) == 24 and all(isinstance(r, str) for r in results)


def test_api_key():
    with ServerProcess("--api-key", "sekrit") as s:
        good = openai.OpenAI(base_url=s.base_url, api_key="sekrit", max_retries=0)
        bad = openai.OpenAI(base_url=s.base_url, api_key="wrong", max_retries=0)
        assert good.models.list().data
        with pytest.raises(openai.AuthenticationError):
            bad.models.list()
        with pytest.raises(openai.AuthenticationError):
            bad.completions.create(model=good.models.list().data[0].id, prompt="x", max_tokens=1)
        assert requests.get(s.url + "/health", timeout=10).status_code == 200
        assert requests.post(s.url + "/tokenize", json={"prompt": "x"}, timeout=10).status_code == 401
    with ServerProcess(env={"TESSERA_API_KEY": "from-env"}) as s:
        assert openai.OpenAI(base_url=s.base_url, api_key="from-env", max_retries=0).models.list()
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=s.base_url, api_key="nope", max_retries=0).models.list()
