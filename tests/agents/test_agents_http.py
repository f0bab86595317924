"""The HTTP agents against a real HTTP server on 127.0.0.1 replaying the providers' exact wire bytes
(PROVIDERS.md): streams, usage, retries and their delays, errors, drops, truncation, read gaps, checks,
cancellation, connection reuse and the key never leaking. Retry delays are made tiny by a ``Backoff``
and ``retry-after: 0``; every wait is bounded by ``asyncio.timeout``."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from orchestra_tui.agents import (
    Backoff,
    Failed,
    Finished,
    OllamaAgent,
    OpenAIAgent,
    Retrying,
    TextDelta,
    UsageUpdate,
)
from orchestra_tui.agents.transport import redact
from orchestra_tui.models import AgentConfig

from ..helpers.fakeserver import FakeServer, Reply
from ..helpers.streams import FAST, KEY, KEY_ENV, LM_STUDIO, NDJSON, OPENAI, SSE, collect, make, request, texts

REPO = Path(__file__).resolve().parents[2]

OPENAI_TEXT = (
    b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1727346171,"model":"gpt-4o",'
    b'"choices":[{"index":0,"delta":{"content":"Hello"},"finish_reason":null}],"usage":null}\n\n'
)
VLLM_ERROR = (
    b'data: {"error": {"object": "error", "message": "This model\'s maximum context length is 4096 '
    b'tokens.", "type": "BadRequestError", "param": null, "code": 400}}\n\n'
    b"data: [DONE]\n\n"
)
OPENROUTER = (
    b": OPENROUTER PROCESSING\n\n"
    b'data: {"id":"gen-1","provider":"OpenAI","model":"openai/gpt-4o",'
    b'"object":"chat.completion.chunk","created":1,"choices":[{"index":0,"delta":{"role":"assistant",'
    b'"content":"Hi"},"finish_reason":null}]}\n\n'
    b": OPENROUTER PROCESSING\n\n"
    b'data: {"id":"gen-1","provider":"OpenAI","model":"openai/gpt-4o",'
    b'"object":"chat.completion.chunk","created":1,"choices":[{"index":0,"delta":{"role":"assistant",'
    b'"content":" there"},"finish_reason":"stop"}],"usage":{"prompt_tokens":10,"completion_tokens":2,'
    b'"total_tokens":12,"cost":0.000135}}\n\n'
    b"data: [DONE]\n\n"
)
LLAMA_CPP = (
    b'data: {"choices":[{"finish_reason":null,"index":0,"delta":{"content":"Yes"}}],"created":1,'
    b'"id":"chatcmpl-x","model":"m","system_fingerprint":"b1","object":"chat.completion.chunk"}\n\n'
    b'data: {"choices":[{"finish_reason":"stop","index":0,"delta":{}}],"created":1,"id":"chatcmpl-x",'
    b'"model":"m","system_fingerprint":"b1","object":"chat.completion.chunk",'
    b'"usage":{"completion_tokens":2,"prompt_tokens":5,"total_tokens":7},"timings":{"prompt_n":5,'
    b'"prompt_ms":1.2,"predicted_n":2,"predicted_ms":3.4}}\n\n'
    b"data: [DONE]\n\n"
)

ANTHROPIC_HEAD = (
    b"event: message_start\n"
    b'data: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant",'
    b'"content":[],"model":"claude-x","stop_reason":null,"stop_sequence":null,'
    b'"usage":{"input_tokens":11,"output_tokens":1}}}\n\n'
    b"event: content_block_start\n"
    b'data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n'
    b"event: ping\n"
    b'data: {"type": "ping"}\n\n'
    b"event: content_block_delta\n"
    b'data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}\n\n'
)
ANTHROPIC_TAIL = (
    b"event: content_block_stop\n"
    b'data: {"type":"content_block_stop","index":0}\n\n'
    b"event: message_delta\n"
    b'data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},'
    b'"usage":{"output_tokens":6}}\n\n'
)
ANTHROPIC_STOP = b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
ANTHROPIC = ANTHROPIC_HEAD + ANTHROPIC_TAIL + ANTHROPIC_STOP
ANTHROPIC_OVERLOADED = (
    b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n'
)

GEMINI_FIRST = (
    b'data: {"candidates":[{"content":{"parts":[{"text":"There are"}],"role":"model"},"index":0}],'
    b'"usageMetadata":{"promptTokenCount":9,"candidatesTokenCount":5,"totalTokenCount":14},'
    b'"modelVersion":"gemini-x"}\r\n\r\n'
)
GEMINI_LAST = (
    b'data: {"candidates":[{"content":{"parts":[{"text":" three."}],"role":"model"},"finishReason":"STOP",'
    b'"index":0}],"usageMetadata":{"promptTokenCount":9,"candidatesTokenCount":8,"totalTokenCount":17},'
    b'"modelVersion":"gemini-x"}\r\n\r\n'
)
GEMINI = GEMINI_FIRST + GEMINI_LAST
GEMINI_ERROR = (
    b'data: {"error": {"code": 400, "message": "Request contains an invalid argument.", "status": '
    b'"INVALID_ARGUMENT"}}\r\n\r\n'
)

OLLAMA_FIRST = (
    b'{"model":"llama3.2","created_at":"2023-08-04T08:52:19.385406455-07:00",'
    b'"message":{"role":"assistant","content":"The"},"done":false}\n'
)
OLLAMA_DONE = (
    b'{"model":"llama3.2","created_at":"2023-08-04T19:22:45.499127Z","message":{"role":"assistant",'
    b'"content":""},"done":true,"done_reason":"stop","total_duration":8113331500,"prompt_eval_count":61,'
    b'"eval_count":468,"eval_duration":7701267000}\n'
)
OLLAMA = OLLAMA_FIRST + OLLAMA_DONE
OLLAMA_ERROR = b'{"error":"an error was encountered while running the model"}\n'

# A text-generation-inference style endpoint for the generic type: SSE data lines, text at token.text.
TGI = (
    b'data:{"index":1,"token":{"id":1,"text":"Bon","logprob":-0.1,"special":false},"generated_text":null,"details":null}\n\n'
    b'data:{"index":2,"token":{"id":2,"text":"jour","logprob":-0.2,"special":false},"generated_text":"Bonjour","details":null}\n\n'
)
TGI_ERROR = (
    b'data:{"error":"Input validation error: inputs must have less than 1024 tokens","error_type":"validation"}\n\n'
)


@dataclass(frozen=True)
class Case:
    kind: str
    stream: bytes
    events: list[object]
    path: str
    headers: tuple[tuple[str, str], ...]
    partial: bytes  # a prefix that carries text but not the end
    midstream_error: bytes  # follows ``partial``
    midstream_message: str
    error_body: str = '{{"error":{{"message":"{message}","type":"{type}"}}}}'
    extra: dict[str, object] = field(default_factory=dict)


CASES = {
    "openai": Case(
        "openai",
        OPENAI,
        [TextDelta("Hello"), UsageUpdate(79, 1), Finished("Hello", "stop")],
        "/v1/chat/completions",
        SSE,
        OPENAI_TEXT,
        VLLM_ERROR,
        "openai: error in stream: BadRequestError: This model's maximum context length is 4096 tokens.",
    ),
    "anthropic": Case(
        "anthropic",
        ANTHROPIC,
        [UsageUpdate(11, 1), TextDelta("Hello"), UsageUpdate(11, 6), Finished("Hello", "end_turn")],
        "/v1/messages",
        SSE,
        ANTHROPIC_HEAD,
        b"event: error\n"
        b'data: {"type":"error","error":{"type":"invalid_request_error","message":"Prompt is too long"}}\n\n',
        "anthropic: error in stream: invalid_request_error: Prompt is too long",
        '{{"type":"error","error":{{"type":"{type}","message":"{message}"}}}}',
    ),
    "gemini": Case(
        "gemini",
        GEMINI,
        [
            TextDelta("There are"),
            UsageUpdate(9, 5),
            TextDelta(" three."),
            UsageUpdate(9, 8),
            Finished("There are three.", "STOP"),
        ],
        "/v1beta/models/gemini-x:streamGenerateContent?alt=sse",
        SSE,
        GEMINI_FIRST,
        GEMINI_ERROR,
        "gemini: error in stream: INVALID_ARGUMENT: Request contains an invalid argument.",
        '{{"error":{{"code":500,"message":"{message}","status":"{type}"}}}}',
    ),
    "ollama": Case(
        "ollama",
        OLLAMA,
        [TextDelta("The"), UsageUpdate(61, 468), Finished("The", "stop")],
        "/api/chat",
        NDJSON,
        OLLAMA_FIRST,
        OLLAMA_ERROR,
        "ollama: error in stream: an error was encountered while running the model",
        '{{"error":"{message}"}}',
    ),
    "http": Case(
        "http",
        TGI,
        [TextDelta("Bon"), TextDelta("jour"), Finished("Bonjour", None)],
        "/generate",
        SSE,
        TGI.split(b"\n\n")[0] + b"\n\n",
        TGI_ERROR,
        "http: error in stream: Input validation error: inputs must have less than 1024 tokens",
        '{{"error":"{message}","error_type":"{type}"}}',
    ),
}
ALL = list(CASES)
WITH_TERMINAL = ["openai", "anthropic", "gemini", "ollama"]


def ok(case: Case) -> Reply:
    return Reply(200, case.headers, [case.stream])


def error_reply(
    case: Case, status: int, message: str, type_: str = "api_error", headers: tuple[tuple[str, str], ...] = ()
) -> Reply:
    body = case.error_body.format(message=message, type=type_).encode()
    return Reply(status, (("content-type", "application/json"), *headers), [body], framing="length")


# ------------------------------------------------------------------------------------ normal streams and requests
@pytest.mark.parametrize("kind", ALL)
async def test_a_normal_stream_yields_text_usage_and_one_finish(server: FakeServer, kind: str) -> None:
    case = CASES[kind]
    server.reply(ok(case))
    assert await collect(make(kind, server)) == case.events
    assert [r.path for r in server.requests] == [case.path]


@pytest.mark.parametrize("kind", ALL)
async def test_the_stream_split_into_single_bytes_reads_the_same(server: FakeServer, kind: str) -> None:
    case = CASES[kind]
    server.reply(Reply(200, case.headers, [case.stream[i : i + 1] for i in range(len(case.stream))]))
    assert await collect(make(kind, server)) == case.events


async def test_openai_request_path_headers_and_body(server: FakeServer) -> None:
    server.reply(ok(CASES["openai"]), ok(CASES["openai"]))
    await collect(
        make("openai", server, temperature=0.2, system="Be brief.", headers={"HTTP-Referer": "https://example.org"})
    )
    await collect(make("openai", server, stream_usage=False), request(system="From the request"))
    first, second = server.requests
    assert first.method == "POST" and first.path == "/v1/chat/completions"
    assert first.headers["authorization"] == f"Bearer {KEY}"
    assert (
        first.headers["content-type"] == "application/json" and first.headers["http-referer"] == "https://example.org"
    )
    assert first.json() == {
        "model": "gpt-4o",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello"}],
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": 4096,
        "temperature": 0.2,
    }
    assert "stream_options" not in second.json() and "temperature" not in second.json()
    assert second.json()["messages"][0] == {"role": "system", "content": "From the request"}


def test_openai_official_endpoint_defaults_its_key_and_uses_max_completion_tokens() -> None:
    official = OpenAIAgent("gpt", AgentConfig(type="openai", model="gpt-5", max_tokens=100))
    call = official.build(request(), KEY)
    assert call.url == "https://api.openai.com/v1/chat/completions" and official.key_env == "OPENAI_API_KEY"
    assert call.body["max_completion_tokens"] == 100 and "max_tokens" not in call.body
    local = OpenAIAgent("vllm", AgentConfig(type="openai", model="m", base_url="http://127.0.0.1:8000/v1/"))
    local_call = local.build(request(), None)
    assert local.key_env is None and "authorization" not in local_call.headers
    assert local_call.url == "http://127.0.0.1:8000/v1/chat/completions" and local_call.body["max_tokens"] == 4096


async def test_openai_local_server_without_key_env_gets_no_key(server: FakeServer) -> None:
    server.reply(Reply(200, SSE, [LM_STUDIO]))
    agent = OpenAIAgent("lmstudio", AgentConfig(type="openai", model="m", base_url=server.url + "/v1"), backoff=FAST)
    events = await collect(agent, request(env={"OPENAI_API_KEY": KEY}))
    assert events == [TextDelta("Ok"), Finished("Ok", "stop")]  # LM Studio: no usage at all
    assert "authorization" not in server.requests[0].headers


async def test_openrouter_comment_lines_and_cost_and_llama_cpp_timings(server: FakeServer) -> None:
    server.reply(Reply(200, SSE, [OPENROUTER]), Reply(200, SSE, [LLAMA_CPP]))
    assert await collect(make("openai", server)) == [
        TextDelta("Hi"),
        TextDelta(" there"),
        UsageUpdate(10, 2, 0.000135),
        Finished("Hi there", "stop"),
    ]
    assert await collect(make("openai", server)) == [TextDelta("Yes"), UsageUpdate(5, 2), Finished("Yes", "stop")]


async def test_anthropic_request_path_headers_and_body(server: FakeServer) -> None:
    server.reply(ok(CASES["anthropic"]))
    await collect(
        make("anthropic", server, max_tokens=512, headers={"anthropic-beta": "x-2025"}), request(system="Be kind.")
    )
    sent = server.requests[0]
    assert sent.path == "/v1/messages"
    assert sent.headers["x-api-key"] == KEY and sent.headers["anthropic-version"] == "2023-06-01"
    assert sent.headers["content-type"] == "application/json" and sent.headers["anthropic-beta"] == "x-2025"
    assert "authorization" not in sent.headers
    assert sent.json() == {
        "model": "claude-x",
        "max_tokens": 512,
        "messages": [{"role": "user", "content": "Say hello"}],
        "stream": True,
        "system": "Be kind.",
    }


async def test_anthropic_thinking_is_not_text_and_input_tokens_can_be_updated(server: FakeServer) -> None:
    thinking = (
        b'event: message_start\ndata: {"type":"message_start","message":{"usage":{"input_tokens":20,'
        b'"output_tokens":0}}}\n\n'
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
        b'"delta":{"type":"thinking_delta","thinking":"hmm"}}\n\n'
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":1,'
        b'"delta":{"type":"text_delta","text":"4"}}\n\n'
        b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},'
        b'"usage":{"input_tokens":25,"output_tokens":40}}\n\n' + ANTHROPIC_STOP
    )
    server.reply(Reply(200, SSE, [thinking]))
    assert await collect(make("anthropic", server)) == [
        UsageUpdate(20, 0),
        TextDelta("4"),
        UsageUpdate(25, 40),
        Finished("4", "end_turn"),
    ]


async def test_gemini_request_and_crlf_stream_with_thoughts_counted_as_output(server: FakeServer) -> None:
    thoughts = (
        b'data: {"candidates":[{"content":{"parts":[{"text":"plan...","thought":true}],'
        b'"role":"model"},"index":0}],"usageMetadata":{"promptTokenCount":9,"thoughtsTokenCount":30,'
        b'"totalTokenCount":39}}\r\n\r\n'
        + GEMINI_LAST.replace(b'"totalTokenCount":17', b'"thoughtsTokenCount":30,"totalTokenCount":47')
    )
    server.reply(Reply(200, SSE, [thoughts]))
    events = await collect(make("gemini", server, model="models/gemini-x", temperature=0.0), request(system="Sys"))
    assert events == [UsageUpdate(9, 30), TextDelta(" three."), UsageUpdate(9, 38), Finished(" three.", "STOP")]
    sent = server.requests[0]
    assert sent.path == "/v1beta/models/gemini-x:streamGenerateContent?alt=sse"
    assert sent.headers["x-goog-api-key"] == KEY and "key=" not in sent.path
    assert sent.json() == {
        "contents": [{"role": "user", "parts": [{"text": "Say hello"}]}],
        "generationConfig": {"maxOutputTokens": 4096, "temperature": 0.0},
        "systemInstruction": {"parts": [{"text": "Sys"}]},
    }


async def test_gemini_blocked_prompt_fails(server: FakeServer) -> None:
    server.reply(
        Reply(
            200,
            SSE,
            [
                b'data: {"promptFeedback":{"blockReason":"SAFETY"},'
                b'"usageMetadata":{"promptTokenCount":9,"totalTokenCount":9}}\r\n\r\n'
            ],
        )
    )
    events = await collect(make("gemini", server))
    assert events[-1] == Failed("gemini: prompt blocked: SAFETY", "error") and len(server.requests) == 1


async def test_ollama_request_and_missing_prompt_eval_count_is_unknown(server: FakeServer) -> None:
    cached = OLLAMA_DONE.replace(b'"prompt_eval_count":61,', b"")
    assert b"prompt_eval_count" not in cached
    server.reply(Reply(200, NDJSON, [OLLAMA_FIRST + cached]))
    events = await collect(make("ollama", server, temperature=0.5, max_tokens=64), request(system="S"))
    assert events == [TextDelta("The"), UsageUpdate(None, 468), Finished("The", "stop")]
    sent = server.requests[0]
    assert sent.path == "/api/chat" and "authorization" not in sent.headers
    assert sent.json() == {
        "model": "llama3.2",
        "messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "Say hello"}],
        "stream": True,
        "options": {"num_predict": 64, "temperature": 0.5},
    }


async def test_http_fills_the_template_recursively_and_sends_the_key_where_asked(server: FakeServer) -> None:
    server.reply(ok(CASES["http"]), ok(CASES["http"]))
    await collect(make("http", server, api_key_env="TGI_TOKEN"), request(env={"TGI_TOKEN": KEY}))
    await collect(
        make("http", server, api_key_env="TGI_TOKEN", headers={"X-Api-Key": "{api_key}"}),
        request(env={"TGI_TOKEN": KEY}),
    )
    first, second = server.requests
    assert first.path == "/generate" and first.headers["authorization"] == f"Bearer {KEY}"
    assert first.json() == {"inputs": "Say hello", "parameters": {"model": "tgi-model", "stop": ["Say hello!"], "n": 3}}
    assert second.headers["x-api-key"] == KEY and "authorization" not in second.headers


async def test_http_ndjson_with_list_indices_and_plain_text_bodies(server: FakeServer) -> None:
    ndjson = b'{"choices":[{"text":"a"}]}\r\n\n{"choices":[{"text":"b"}],"meta":1}\n{"done":true}\n'
    server.reply(
        Reply(200, NDJSON, [ndjson]),
        Reply(200, (("content-type", "text/plain"),), [b"plain ", 0.01, b"text"], framing="close"),
    )
    assert await collect(make("http", server, text_path="choices.0.text")) == [
        TextDelta("a"),
        TextDelta("b"),
        Finished("ab", None),
    ]
    events = await collect(make("http", server, text_path=None))
    assert texts(events) == "plain text" and events[-1] == Finished("plain text", None)


async def test_http_empty_response_is_an_error(server: FakeServer) -> None:
    server.reply(Reply(200, NDJSON, []))
    events = await collect(make("http", server, max_attempts=1))
    assert events == [Failed("http: the response was empty", "protocol")]


# ------------------------------------------------------------------------------------ retries
@pytest.mark.parametrize("kind", ALL)
async def test_429_with_retry_after_then_success(
    server: FakeServer, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    case = CASES[kind]
    caplog.set_level(logging.INFO, logger="orchestra_tui.agents")
    server.reply(error_reply(case, 429, "Too many requests", "rate_limit_error", (("retry-after", "0"),)), ok(case))
    events = await collect(make(kind, server))
    assert events[0] == Retrying(1, 0.0, f"{kind}: HTTP 429 rate limited: Too many requests")
    assert events[1:] == case.events
    assert len(server.requests) == 2
    attempts = [
        r.getMessage() for r in caplog.records if r.name == "orchestra_tui.agents" and "attempt" in r.getMessage()
    ]
    assert [m for m in attempts if ": POST " in m] == [
        f"{kind}-agent: attempt {n}/3: POST {server.url}{case.path}" for n in (1, 2)
    ]
    assert any("attempt 1/3 failed" in m and "retrying in 0.00 s" in m for m in attempts)


async def test_retry_after_ms_wins_and_an_http_date_is_read(server: FakeServer) -> None:
    case = CASES["openai"]
    past = "Wed, 21 Oct 2015 07:28:00 GMT"
    server.reply(
        error_reply(case, 429, "slow", headers=(("retry-after-ms", "30"), ("retry-after", "5"))),
        error_reply(case, 503, "busy", headers=(("retry-after", past),)),
        ok(case),
    )
    events = await collect(make("openai", server))
    assert [(e.attempt, e.delay) for e in events if isinstance(e, Retrying)] == [(1, 0.03), (2, 0.0)]
    assert events[-1] == Finished("Hello", "stop")


async def test_gemini_retry_info_in_the_body_sets_the_delay(server: FakeServer) -> None:
    body = {
        "error": {
            "code": 429,
            "message": "Resource has been exhausted (e.g. check quota).",
            "status": "RESOURCE_EXHAUSTED",
            "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "0.04s"}],
        }
    }
    server.reply(Reply.json(429, [body]), ok(CASES["gemini"]))
    events = await collect(make("gemini", server))
    assert events[0] == Retrying(
        1, 0.04, "gemini: HTTP 429 rate limited: Resource has been exhausted (e.g. check quota)."
    )
    assert events[-1] == Finished("There are three.", "STOP")


def test_backoff_is_exponential_with_jitter_and_caps_server_hints() -> None:
    backoff = Backoff(base=0.5, cap=8.0, hint_cap=60.0)
    for attempt, nominal in ((1, 0.5), (2, 1.0), (3, 2.0), (6, 8.0), (9, 8.0)):
        delays = {backoff.delay(attempt) for _ in range(50)}
        assert all(0.75 * nominal <= d <= nominal for d in delays) and len(delays) > 1
    assert backoff.delay(1, 3600.0) == 60.0 and backoff.delay(2, 1.5) == 1.5


@pytest.mark.parametrize(
    ("kind", "reply", "reason"),
    [
        (
            "anthropic",
            lambda: error_reply(CASES["anthropic"], 529, "Overloaded", "overloaded_error"),
            "anthropic: HTTP 529 overloaded: Overloaded",
        ),
        (
            "anthropic",
            lambda: Reply(200, SSE, [ANTHROPIC_HEAD.split(b"event: content_block_delta")[0] + ANTHROPIC_OVERLOADED]),
            "anthropic: error in stream: overloaded_error: Overloaded",
        ),
        (
            "gemini",
            lambda: error_reply(
                CASES["gemini"], 503, "The model is overloaded. Please try again later.", "UNAVAILABLE"
            ),
            "gemini: HTTP 503 overloaded: The model is overloaded. Please try again later.",
        ),
    ],
)
async def test_overloaded_is_retried(server: FakeServer, kind: str, reply: object, reason: str) -> None:
    server.reply(reply(), ok(CASES[kind]))  # type: ignore[operator]
    events = await collect(make(kind, server))
    retrying = [e for e in events if isinstance(e, Retrying)]
    assert [(e.attempt, e.reason) for e in retrying] == [(1, reason)] and 0.0075 <= retrying[0].delay <= 0.01
    assert events[-1] == CASES[kind].events[-1] and len(server.requests) == 2
    assert texts(events) == CASES[kind].events[-1].text  # type: ignore[attr-defined]


@pytest.mark.parametrize("kind", ALL)
async def test_500_then_success(server: FakeServer, kind: str) -> None:
    case = CASES[kind]
    server.reply(error_reply(case, 500, "Internal error"), ok(case))
    events = await collect(make(kind, server))
    assert [e.reason for e in events if isinstance(e, Retrying)] == [f"{kind}: HTTP 500: Internal error"]
    assert events[1:] == case.events


async def test_attempts_are_bounded_and_the_last_error_is_reported(server: FakeServer) -> None:
    case = CASES["openai"]
    server.reply(*[error_reply(case, 502, f"bad gateway {n}") for n in range(4)])
    events = await collect(make("openai", server, max_attempts=3))
    assert [e.attempt for e in events if isinstance(e, Retrying)] == [1, 2]
    assert events[-1] == Failed("openai: HTTP 502: bad gateway 2 (after 3 attempts)", "server")
    assert len(server.requests) == 3


@pytest.mark.parametrize(
    ("status", "body", "kind", "message"),
    [
        (
            429,
            '{"error":{"message":"You exceeded your current quota.","type":"insufficient_quota",'
            '"code":"insufficient_quota"}}',
            "quota",
            "openai: HTTP 429 quota exhausted (check the account's billing): You exceeded your current quota.",
        ),
        (
            400,
            '{"error":{"message":"Invalid value for temperature","type":"invalid_request_error"}}',
            "error",
            "openai: HTTP 400: Invalid value for temperature",
        ),
        (
            403,
            '{"error":{"message":"Project does not have access to model gpt-4o","type":"invalid_request_error"}}',
            "auth",
            "openai: HTTP 403 permission denied: Project does not have access to model gpt-4o",
        ),
        (
            404,
            "<html><body>Not Found</body></html>\n",
            "error",
            "openai: HTTP 404: <html><body>Not Found</body></html>",
        ),
    ],
)
async def test_errors_that_are_not_retried(server: FakeServer, status: int, body: str, kind: str, message: str) -> None:
    server.reply(
        Reply(status, (("content-type", "application/json"),), [body.encode()], framing="length"), ok(CASES["openai"])
    )
    assert await collect(make("openai", server)) == [Failed(message, kind)]
    assert len(server.requests) == 1


async def test_x_should_retry_overrides_the_status(server: FakeServer) -> None:
    case = CASES["openai"]
    server.reply(
        error_reply(case, 500, "no", headers=(("x-should-retry", "false"),)),
        error_reply(case, 400, "yes", headers=(("x-should-retry", "true"),)),
    )
    assert await collect(make("openai", server)) == [Failed("openai: HTTP 500: no", "server")]
    server.reply(ok(case))
    events = await collect(make("openai", server))
    assert isinstance(events[0], Retrying) and events[-1] == Finished("Hello", "stop")


@pytest.mark.parametrize("kind", ALL)
async def test_401_is_not_retried_and_names_the_key(server: FakeServer, kind: str) -> None:
    case = CASES[kind]
    server.reply(error_reply(case, 401, "invalid x-api-key", "authentication_error"), ok(case))
    events = await collect(make(kind, server))
    hint = f"authentication failed (check {KEY_ENV[kind]})" if kind in KEY_ENV else "authentication failed"
    assert events == [Failed(f"{kind}: HTTP 401 {hint}: invalid x-api-key", "auth")]
    assert len(server.requests) == 1


@pytest.mark.parametrize("kind", ["openai", "anthropic", "gemini"])
async def test_a_missing_key_fails_without_a_request(server: FakeServer, kind: str) -> None:
    agent = make(kind, server)
    assert await collect(agent, request(env={})) == [Failed(f"{KEY_ENV[kind]} is not set", "auth")]
    usability = await agent.check({"UNRELATED": "x"})
    assert not usability.usable and usability.reason == f"{KEY_ENV[kind]} is not set"
    assert server.requests == []


# ------------------------------------------------------------------------------------ broken streams
@pytest.mark.parametrize("kind", ALL)
async def test_a_mid_stream_error_event_fails_with_the_providers_message(server: FakeServer, kind: str) -> None:
    case = CASES[kind]
    server.reply(Reply(200, case.headers, [case.partial, 0.01, case.midstream_error]), ok(case))
    events = await collect(make(kind, server))
    assert events[-1] == Failed(case.midstream_message, "error")
    assert texts(events) == texts(case.events)[: len(texts(events))] != ""
    assert len(server.requests) == 1


async def test_a_mid_stream_overload_after_text_is_not_retried(server: FakeServer) -> None:
    server.reply(Reply(200, SSE, [ANTHROPIC_HEAD, ANTHROPIC_OVERLOADED]), ok(CASES["anthropic"]))
    events = await collect(make("anthropic", server))
    assert events == [
        UsageUpdate(11, 1),
        TextDelta("Hello"),
        Failed("anthropic: error in stream: overloaded_error: Overloaded", "overloaded"),
    ]
    assert len(server.requests) == 1


@pytest.mark.parametrize("kind", ALL)
async def test_a_connection_dropped_mid_stream_fails_keeping_the_text_once(server: FakeServer, kind: str) -> None:
    case = CASES[kind]
    server.reply(Reply(200, case.headers, [case.partial, 0.01], drop=True), ok(case))
    events = await collect(make(kind, server))
    failed = events[-1]
    assert (
        isinstance(failed, Failed)
        and failed.kind == "connection"
        and failed.message.startswith(f"{kind}: connection failed: ")
    )
    assert texts(events) != "" and not any(isinstance(e, Retrying) for e in events)
    assert len(server.requests) == 1


@pytest.mark.parametrize("kind", ["openai", "ollama"])
async def test_a_drop_before_any_text_is_retried(server: FakeServer, kind: str) -> None:
    case = CASES[kind]
    server.reply(
        Reply(200, case.headers, [b""], drop=True), Reply(200, case.headers, [], framing="length", drop=True), ok(case)
    )
    events = await collect(make(kind, server))
    assert [e.attempt for e in events if isinstance(e, Retrying)] == [1, 2]
    assert events[2:] == case.events and texts(events) == texts(case.events)


@pytest.mark.parametrize("kind", WITH_TERMINAL)
async def test_a_stream_that_stops_without_its_terminal_event_is_an_error(server: FakeServer, kind: str) -> None:
    case = CASES[kind]
    complete_but_unfinished = {
        "openai": OPENAI.replace(b"data: [DONE]\n\n", b""),
        "anthropic": ANTHROPIC_HEAD + ANTHROPIC_TAIL,
        "gemini": GEMINI_FIRST,
        "ollama": OLLAMA_FIRST,
    }[kind]
    terminal = {
        "openai": "data: [DONE]",
        "anthropic": "message_stop",
        "gemini": "a finishReason",
        "ollama": '"done": true',
    }[kind]
    server.reply(Reply(200, case.headers, [complete_but_unfinished]), ok(case))
    events = await collect(make(kind, server))
    assert events[-1] == Failed(f"{kind}: the stream ended without {terminal}", "protocol")
    assert texts(events) != "" and len(server.requests) == 1


async def test_a_truncated_stream_before_text_is_retried(server: FakeServer) -> None:
    case = CASES["anthropic"]
    only_start = ANTHROPIC_HEAD.split(b"event: content_block_start")[0]
    server.reply(Reply(200, SSE, [only_start]), ok(case))
    events = await collect(make("anthropic", server))
    assert events[1] == Retrying(1, events[1].delay, "anthropic: the stream ended without message_stop")  # type: ignore[union-attr]
    assert events[-1] == Finished("Hello", "end_turn") and texts(events) == "Hello"


async def test_a_200_that_is_not_an_event_stream_is_a_clear_error(server: FakeServer) -> None:
    server.reply(Reply.json(200, {"id": "chatcmpl-1", "choices": [{"message": {"content": "Hello"}}]}))
    assert await collect(make("openai", server)) == [
        Failed("openai: expected an event stream, got 'application/json'", "protocol")
    ]


async def test_an_unreadable_payload_is_a_protocol_error(server: FakeServer) -> None:
    server.reply(Reply(200, NDJSON, [OLLAMA_FIRST, b"<html>oops</html>\n"]))
    events = await collect(make("ollama", server))
    assert events[-1] == Failed("ollama: unreadable stream payload: <html>oops</html>", "protocol")


@pytest.mark.parametrize(
    "payload", [b"data: [1, 2]\n\n", b'data: {"choices": "x"}\n\n', b'data: {"choices": [{"delta": 3}]}\n\n']
)
async def test_json_of_an_unexpected_shape_is_a_protocol_error(server: FakeServer, payload: bytes) -> None:
    server.reply(Reply(200, SSE, [payload]))
    [failed] = await collect(make("openai", server))
    assert (
        isinstance(failed, Failed)
        and failed.kind == "protocol"
        and failed.message.startswith("openai: unexpected stream payload (")
    )


async def test_a_bad_base_url_fails_once_with_one_line() -> None:
    agent = OllamaAgent("o", AgentConfig(type="ollama", model="m", base_url="localhost:11434"), backoff=FAST)
    assert await collect(agent) == [
        Failed(
            "ollama: bad URL 'localhost:11434/api/chat': Request URL is missing an 'http://' or 'https://' protocol.",
            "error",
        )
    ]
    assert not (await agent.check({})).usable


# ------------------------------------------------------------------------------------ read gaps
@pytest.mark.parametrize("kind", ALL)
async def test_a_slow_first_token_beyond_the_read_timeout_is_retried(server: FakeServer, kind: str) -> None:
    case = CASES[kind]
    server.reply(Reply(200, case.headers, [case.stream], delay=2.0), ok(case))
    events = await collect(make(kind, server, read_timeout=0.2))
    assert events[0] == Retrying(1, events[0].delay, f"{kind}: no data for 0.2 s (read_timeout)")  # type: ignore[union-attr]
    assert events[1:] == case.events  # the second attempt's answer: the delayed first one was not waited for


async def test_every_attempt_too_slow_fails_as_timeout(server: FakeServer) -> None:
    case = CASES["anthropic"]
    server.reply(*[Reply(200, SSE, [b": first byte\n\n", 1.0, case.stream]) for _ in range(2)])
    events = await collect(make("anthropic", server, read_timeout=0.15, max_attempts=2))
    assert events[-1] == Failed("anthropic: no data for 0.15 s (read_timeout) (after 2 attempts)", "timeout")
    assert len(server.requests) == 2


async def test_a_stall_after_text_fails_as_timeout_without_retry(server: FakeServer) -> None:
    case = CASES["gemini"]
    server.reply(Reply(200, SSE, [GEMINI_FIRST, 1.0, GEMINI_LAST]), ok(case))
    events = await collect(make("gemini", server, read_timeout=0.15))
    assert events == [
        TextDelta("There are"),
        UsageUpdate(9, 5),
        Failed("gemini: no data for 0.15 s (read_timeout)", "timeout"),
    ]
    assert len(server.requests) == 1


# ------------------------------------------------------------------------------------ client, cancellation, secrets
async def test_runs_reuse_one_connection(server: FakeServer) -> None:
    server.reply(ok(CASES["openai"]), ok(CASES["anthropic"]), ok(CASES["openai"]))
    await collect(make("openai", server))
    await collect(make("anthropic", server))
    await collect(make("openai", server))
    assert len(server.requests) == 3 and server.connections == 1


async def test_cancelling_the_consumer_closes_the_response(server: FakeServer) -> None:
    case = CASES["openai"]
    server.reply(Reply(200, SSE, [OPENAI_TEXT, 5.0, case.stream]))
    seen: list[object] = []

    async def consume() -> None:
        async for event in make("openai", server).run(request()):
            seen.append(event)

    task = asyncio.create_task(consume())
    async with asyncio.timeout(5):
        while not seen:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        while server.client_gone == 0:
            await asyncio.sleep(0.01)
    assert seen == [TextDelta("Hello")] and server.client_gone == 1
    server.reply(ok(case))
    assert (await collect(make("openai", server)))[-1] == Finished("Hello", "stop")


async def test_closing_the_stream_early_closes_the_response(server: FakeServer) -> None:
    server.reply(Reply(200, NDJSON, [OLLAMA_FIRST, 5.0, OLLAMA_DONE]))
    stream = make("ollama", server).run(request())
    async with asyncio.timeout(5):
        assert await anext(stream) == TextDelta("The")
        await stream.aclose()
        while server.client_gone == 0:
            await asyncio.sleep(0.01)
    assert server.client_gone == 1


@pytest.mark.parametrize("kind", ["openai", "anthropic", "gemini"])
async def test_a_planted_key_never_appears_in_events_logs_or_errors(
    server: FakeServer, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    case = CASES[kind]
    echo = f"Incorrect API key provided: {KEY}. Key prefix {KEY[:12]}"
    server.reply(
        error_reply(case, 500, echo),  # retried: the reason echoes the key
        error_reply(case, 401, echo, "authentication_error"),
        Reply(
            200,
            case.headers,
            [
                case.partial,
                case.midstream_error.replace(b"4096", KEY.encode())
                .replace(b"invalid argument", KEY.encode())
                .replace(b"Prompt is too long", KEY.encode()),
            ],
        ),
        error_reply(case, 401, echo, "authentication_error"),
    )
    agent = make(kind, server)
    events = await collect(agent) + await collect(agent)
    usability = await agent.check({KEY_ENV[kind]: KEY})
    assert isinstance(events[0], Retrying) and isinstance(events[1], Failed) and events[1].kind == "auth"
    assert isinstance(events[-1], Failed) and "[redacted]" in events[-1].message
    assert not usability.usable and "[redacted]" in usability.reason
    assert all(KEY in r.headers.values() or KEY in r.headers.get("authorization", "") for r in server.requests)
    text = repr(events) + usability.reason + caplog.text + "".join(repr(r.args) for r in caplog.records)
    assert KEY not in text and KEY[:12] not in text and KEY[-12:] not in text
    assert "authentication failed" in text and len(caplog.records) >= 4


def test_redact_replaces_the_key_and_long_pieces_of_it() -> None:
    assert redact(f"a {KEY} b", KEY) == "a [redacted] b"
    assert redact(f"prefix {KEY[:10]} and {KEY[5:20]}...", KEY) == "prefix [redacted] and [redacted]..."
    assert redact("ordinary message, short sk-te", KEY) == "ordinary message, short sk-te"
    assert redact("nothing to hide", None) == "nothing to hide"


# ------------------------------------------------------------------------------------ check
@pytest.mark.parametrize(
    ("kind", "path", "header", "value"),
    [
        ("openai", "/v1/models", "authorization", f"Bearer {KEY}"),
        ("anthropic", "/v1/models", "x-api-key", KEY),
        ("gemini", "/v1beta/models", "x-goog-api-key", KEY),
        ("ollama", "/api/tags", None, None),
        ("http", "/generate", None, None),
    ],
)
async def test_check_probes_the_endpoint_cheaply(
    server: FakeServer, kind: str, path: str, header: str | None, value: str | None
) -> None:
    if kind == "ollama":
        server.reply(Reply.json(200, {"models": [{"name": "llama3.2:latest", "model": "llama3.2:latest"}]}))
    elif kind == "http":
        server.reply(Reply(405, (("allow", "POST"),), [], framing="length"))
    else:
        server.reply(Reply.json(200, {"data": []}))
    agent = make(kind, server)
    usability = await agent.check({name: KEY for name in KEY_ENV.values()})
    assert usability.usable, usability.reason
    assert usability.reason.startswith(f"{server.url}{path} answered (HTTP ")
    sent = server.requests[0]
    assert sent.path == path and sent.method == ("HEAD" if kind == "http" else "GET")
    if header:
        assert sent.headers[header] == value
    if kind == "anthropic":
        assert sent.headers["anthropic-version"] == "2023-06-01"


async def test_check_says_why_an_endpoint_is_not_usable(server: FakeServer) -> None:
    server.reply(
        Reply.json(401, {"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}}),
        Reply.json(200, {"models": [{"name": "qwen2.5:7b"}]}),
        Reply.json(503, {"error": "loading"}),
    )
    anthropic = await make("anthropic", server).check({"ANTHROPIC_API_KEY": KEY})
    assert anthropic == type(anthropic)(
        False, "anthropic: HTTP 401 authentication failed (check ANTHROPIC_API_KEY): invalid x-api-key"
    )
    ollama = await make("ollama", server).check({})
    assert (
        not ollama.usable
        and ollama.reason == f"model 'llama3.2' is not pulled on {server.url} (run: ollama pull llama3.2)"
    )
    assert (await make("http", server).check({})).reason == "http: HTTP 503"  # a HEAD: no body to quote
    closed = FakeServer()
    closed.stop()  # nothing listens on its port any more
    unreachable = await OllamaAgent("o", AgentConfig(type="ollama", model="m", base_url=closed.url)).check({})
    assert not unreachable.usable and unreachable.reason.startswith(f"cannot reach {closed.url}/api/tags: ")


async def test_check_and_run_need_a_model(server: FakeServer) -> None:
    agent = make("anthropic", server, model=None)
    assert (await agent.check({"ANTHROPIC_API_KEY": KEY})).reason == "agent 'anthropic-agent' has no model configured"
    assert await collect(agent) == [Failed("agent 'anthropic-agent' has no model configured", "error")]
    assert server.requests == []


# ------------------------------------------------------------------------------------ the benchmark
def test_quick_benchmark_runs_and_prints_every_row(tmp_path: Path) -> None:
    out = tmp_path / "agents.json"
    done = subprocess.run(
        [sys.executable, "bench/bench_agents.py", "--quick", "--out", str(out)],
        check=False,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    rows = json.loads(out.read_text())["rows"]
    names = [row["provider"] for row in rows]
    for provider in ("openai", "anthropic", "gemini", "ollama", "http", "openai SDK", "httpx-sse (aiter_sse)"):
        assert provider in names, names
        assert any(re.match(rf"{re.escape(provider)}\s{{2,}}", line) for line in done.stdout.splitlines()), provider
    for row in rows:
        assert row["verdict"] in ("PASS", "MISS", "info", "not installed"), row
        if row["verdict"] != "not installed":
            assert row["events"] > 0 and row["seconds"] > 0 and row["events_per_s"] > 0, row
