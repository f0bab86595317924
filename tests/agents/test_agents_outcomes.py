"""What a model's answer came to, as real servers say it (a real HTTP server on 127.0.0.1 replays the bytes):
a run succeeds only when the model ended normally with a non-empty answer; cut-off, refused, tool-calling
and empty answers fail with the reason, keep their text, and are never retried. Cached and late-reported
tokens are read as the servers send them."""

from __future__ import annotations

import json

import pytest

from orchestra_tui.agents import Failed, Finished, TextDelta, UsageUpdate

from ..helpers.fakeserver import FakeServer, Reply
from ..helpers.streams import NDJSON, SSE, anthropic_stream, collect, make, openai_chunk, sse, texts


def gemini_chunk(text: str, finish: str | None = None, **extra: object) -> dict[str, object]:
    candidate: dict[str, object] = {"content": {"parts": [{"text": text}], "role": "model"}, "index": 0, **extra}
    if finish:
        candidate["finishReason"] = finish
    return {
        "candidates": [candidate],
        "usageMetadata": {"promptTokenCount": 9, "candidatesTokenCount": 4, "totalTokenCount": 13},
    }


def failed(events: list[object], kind: str, reason: str) -> Failed:
    final = events[-1]
    assert isinstance(final, Failed) and final.kind == kind and reason in final.message, final
    return final


# ------------------------------------------------------------------------------------ outcomes


@pytest.mark.parametrize(
    ("finish", "kind", "reason"),
    [
        ("length", "truncated", "truncated at max_tokens"),
        ("content_filter", "refused", "refused by the model"),
        ("tool_calls", "tool_call", "stopped to call a tool"),
    ],
)
async def test_openai_finish_reasons_other_than_stop_fail_keeping_the_text(
    server: FakeServer, finish: str, kind: str, reason: str
) -> None:
    server.reply(
        Reply(200, SSE, [sse(openai_chunk({"content": "The answer is"}), openai_chunk({}, finish), b"[DONE]")])
    )
    events = await collect(make("openai", server))
    failed(events, kind, reason)
    assert texts(events) == "The answer is" and len(server.requests) == 1


async def test_llama_cpp_stopping_at_length_is_a_cut_off_answer(server: FakeServer) -> None:
    """llama.cpp's server: finish_reason "length", a timings object, usage in the last chunk."""
    last = {
        **openai_chunk({}, "length"),
        "usage": {"prompt_tokens": 5, "completion_tokens": 16, "total_tokens": 21},
        "timings": {"predicted_n": 16},
    }
    server.reply(Reply(200, SSE, [sse(openai_chunk({"content": "Once upon a"}), last, b"[DONE]")]))
    events = await collect(make("openai", server))
    failed(events, "truncated", "finish_reason: length")
    assert UsageUpdate(5, 16) in events


async def test_only_choice_0_is_the_answer(server: FakeServer) -> None:
    stream = sse(
        openai_chunk({"content": "A"}),
        openai_chunk({"content": "B"}, index=1),
        openai_chunk({"content": "a"}),
        openai_chunk({}, "length", index=1),
        openai_chunk({}, "stop"),
        b"[DONE]",
    )
    server.reply(Reply(200, SSE, [stream]))
    assert (await collect(make("openai", server)))[-1] == Finished("Aa", "stop")


async def test_an_empty_answer_fails(server: FakeServer) -> None:
    server.reply(
        Reply(200, SSE, [sse(openai_chunk({"role": "assistant", "content": ""}), openai_chunk({}, "stop"), b"[DONE]")])
    )
    events = await collect(make("openai", server))
    failed(events, "empty", "empty answer")
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    ("finish", "kind", "reason"),
    [
        ("MAX_TOKENS", "truncated", "truncated at max_tokens (finishReason: MAX_TOKENS)"),
        ("SAFETY", "refused", "refused by the model (finishReason: SAFETY)"),
        ("RECITATION", "refused", "refused by the model (finishReason: RECITATION)"),
        ("OTHER", "stopped", "finishReason: OTHER"),
    ],
)
async def test_gemini_finish_reasons_other_than_stop_fail(
    server: FakeServer, finish: str, kind: str, reason: str
) -> None:
    server.reply(Reply(200, SSE, [sse(gemini_chunk("Part of"), gemini_chunk(" it", finish), crlf=True)]))
    events = await collect(make("gemini", server))
    failed(events, kind, reason)
    assert texts(events) == "Part of it"


async def test_gemini_function_call_is_a_tool_call(server: FakeServer) -> None:
    call = {
        "candidates": [
            {
                "content": {
                    "parts": [{"text": "Let me look."}, {"functionCall": {"name": "search", "args": {}}}],
                    "role": "model",
                },
                "finishReason": "STOP",
                "index": 0,
            }
        ]
    }
    server.reply(Reply(200, SSE, [sse(call, crlf=True)]))
    failed(await collect(make("gemini", server)), "tool_call", "search")


async def test_ollama_done_reason_length_and_tool_calls_fail(server: FakeServer) -> None:
    cut = (
        b'{"message":{"role":"assistant","content":"Half"},"done":false}\n{"message":{"role":"assistant",'
        b'"content":""},"done":true,"done_reason":"length","prompt_eval_count":3,"eval_count":8}\n'
    )
    server.reply(Reply(200, NDJSON, [cut]))
    events = await collect(make("ollama", server))
    failed(events, "truncated", "done_reason: length")
    assert texts(events) == "Half" and UsageUpdate(3, 8) in events
    tool = (
        b'{"message":{"role":"assistant","content":"","tool_calls":[{"function":{"name":"get_weather",'
        b'"arguments":{}}}]},"done":true,"done_reason":"stop","eval_count":8}\n'
    )
    server.reply(Reply(200, NDJSON, [tool]))
    failed(await collect(make("ollama", server)), "tool_call", "get_weather")


async def test_http_agent_with_no_text_is_an_empty_answer(server: FakeServer) -> None:
    server.reply(Reply(200, SSE, [b'data:{"token":{"text":""}}\n\n']))
    failed(await collect(make("http", server)), "empty", "empty answer")


# ------------------------------------------------------------------------------------ tokens


async def test_anthropic_late_input_tokens_take_the_larger_figure(server: FakeServer) -> None:
    """LiteLLM's /v1/messages: input_tokens 0 in message_start, the real count in message_delta."""
    server.reply(
        Reply(
            200,
            SSE,
            [anthropic_stream({"input_tokens": 0, "output_tokens": 0}, {"input_tokens": 25, "output_tokens": 7})],
        )
    )
    events = await collect(make("anthropic", server))
    assert [e for e in events if isinstance(e, UsageUpdate)][-1] == UsageUpdate(25, 7)
    assert events[-1] == Finished("Hi", "end_turn")


async def test_anthropic_cache_tokens_are_counted_in_the_input_and_reported_apart(server: FakeServer) -> None:
    start = {
        "input_tokens": 10,
        "cache_creation_input_tokens": 200,
        "cache_read_input_tokens": 3000,
        "output_tokens": 1,
    }
    server.reply(Reply(200, SSE, [anthropic_stream(start, {"output_tokens": 12})]))
    usage = [e for e in await collect(make("anthropic", server)) if isinstance(e, UsageUpdate)][-1]
    assert usage == UsageUpdate(3210, 12, None, cache_read_tokens=3000, cache_write_tokens=200)


async def test_openai_cached_tokens_and_litellm_cost_are_read(server: FakeServer) -> None:
    usage = {
        "prompt_tokens": 2006,
        "completion_tokens": 300,
        "total_tokens": 2306,
        "prompt_tokens_details": {"cached_tokens": 1920},
        "cost": 0.0042,
    }
    server.reply(
        Reply(
            200,
            SSE,
            [
                sse(
                    openai_chunk({"content": "Hi"}),
                    openai_chunk({}, "stop"),
                    {"id": "c", "choices": [], "usage": usage},
                    b"[DONE]",
                )
            ],
        )
    )
    events = await collect(make("openai", server))
    assert UsageUpdate(2006, 300, 0.0042, cache_read_tokens=1920) in events
    assert events[-1] == Finished("Hi", "stop")


async def test_gemini_cached_content_tokens_are_cache_reads(server: FakeServer) -> None:
    chunk = gemini_chunk("Hi", "STOP")
    chunk["usageMetadata"] = {"promptTokenCount": 900, "cachedContentTokenCount": 800, "candidatesTokenCount": 2}
    server.reply(Reply(200, SSE, [sse(chunk, crlf=True)]))
    assert UsageUpdate(900, 2, cache_read_tokens=800) in await collect(make("gemini", server))


async def test_the_last_event_without_a_blank_line_after_it_is_read(server: FakeServer) -> None:
    stream = anthropic_stream({"input_tokens": 5, "output_tokens": 1}, {"output_tokens": 2}).removesuffix(b"\n\n")
    server.reply(Reply(200, SSE, [stream], framing="close"))
    events = await collect(make("anthropic", server))
    assert events[-1] == Finished("Hi", "end_turn") and len(server.requests) == 1
    assert not any(isinstance(e, TextDelta) and e.text != "Hi" for e in events)


# ------------------------------------------------------------------------------------ the Responses API


def responses_events(*events: dict[str, object]) -> bytes:
    return b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events)


def response_end(
    status: str = "completed", reason: str | None = None, error: dict[str, str] | None = None
) -> dict[str, object]:
    usage = {
        "input_tokens": 300,
        "input_tokens_details": {"cached_tokens": 256},
        "output_tokens": 7,
        "total_tokens": 307,
    }
    response = {
        "id": "resp_1",
        "status": status,
        "usage": usage,
        "error": error,
        "incomplete_details": {"reason": reason} if reason else None,
    }
    return {"type": f"response.{status}", "response": response}


TEXT_DELTA = {
    "type": "response.output_text.delta",
    "item_id": "msg_1",
    "output_index": 0,
    "content_index": 0,
    "delta": "Hi there",
}
CREATED = {"type": "response.created", "response": {"id": "resp_1", "status": "in_progress"}}


async def test_responses_api_request_stream_and_usage(server: FakeServer) -> None:
    server.reply(Reply(200, SSE, [responses_events(CREATED, TEXT_DELTA, response_end())]))
    events = await collect(make("openai", server, api="responses", system="Be brief"))
    assert events == [
        TextDelta("Hi there"),
        UsageUpdate(300, 7, None, cache_read_tokens=256),
        Finished("Hi there", "completed"),
    ]
    sent = server.requests[0]
    assert sent.path == "/v1/responses"
    assert sent.json() == {
        "model": "gpt-4o",
        "input": "Say hello",
        "stream": True,
        "max_output_tokens": 4096,
        "store": False,
        "instructions": "Be brief",
    }


@pytest.mark.parametrize(
    ("end", "kind", "reason"),
    [
        (
            response_end("incomplete", "max_output_tokens"),
            "truncated",
            "truncated at max_tokens (incomplete: max_output_tokens)",
        ),
        (response_end("incomplete", "content_filter"), "refused", "refused by the model"),
    ],
)
async def test_responses_api_incomplete_answers_fail(
    server: FakeServer, end: dict[str, object], kind: str, reason: str
) -> None:
    server.reply(Reply(200, SSE, [responses_events(CREATED, TEXT_DELTA, end)]))
    events = await collect(make("openai", server, api="responses"))
    failed(events, kind, reason)
    assert texts(events) == "Hi there" and len(server.requests) == 1


async def test_responses_api_refusal_and_tool_call_fail(server: FakeServer) -> None:
    refusal = {
        "type": "response.refusal.delta",
        "item_id": "msg_1",
        "output_index": 0,
        "content_index": 0,
        "delta": "I can't help with that.",
    }
    server.reply(Reply(200, SSE, [responses_events(CREATED, refusal, response_end())]))
    events = await collect(make("openai", server, api="responses"))
    failed(events, "refused", "refused by the model")
    assert texts(events) == "I can't help with that."
    call = {
        "type": "response.output_item.added",
        "output_index": 0,
        "item": {"type": "function_call", "name": "get_weather", "arguments": ""},
    }
    server.reply(Reply(200, SSE, [responses_events(CREATED, call, response_end())]))
    failed(await collect(make("openai", server, api="responses")), "tool_call", "get_weather")


async def test_responses_api_failed_is_retried_like_a_server_error_and_error_events_fail(server: FakeServer) -> None:
    failed_end = response_end("failed", error={"code": "server_error", "message": "The model crashed"})
    server.reply(
        Reply(200, SSE, [responses_events(CREATED, failed_end)]),
        Reply(200, SSE, [responses_events(CREATED, TEXT_DELTA, response_end())]),
    )
    events = await collect(make("openai", server, api="responses"))
    assert events[-1] == Finished("Hi there", "completed") and len(server.requests) == 2
    error = {"type": "error", "code": "invalid_prompt", "message": "Invalid prompt", "param": None}
    server.reply(Reply(200, SSE, [responses_events(CREATED, error)]))
    assert "Invalid prompt" in failed(await collect(make("openai", server, api="responses")), "error", "").message
    server.reply(Reply(200, SSE, [responses_events(CREATED, TEXT_DELTA)]))
    failed(await collect(make("openai", server, api="responses")), "protocol", "ended without response.completed")


def test_api_responses_is_for_openai_agents_only() -> None:
    from pydantic import ValidationError

    from orchestra_tui.models import AgentConfig

    assert AgentConfig(type="openai", api="responses").api == "responses"
    with pytest.raises(ValidationError, match='api = "responses" is for type "openai" agents only'):
        AgentConfig(type="anthropic", api="responses")


# ------------------------------------------------------------------------------------ checks


@pytest.mark.parametrize("kind", ["openai", "anthropic", "gemini"])
async def test_a_server_without_a_model_listing_is_not_called_broken(server: FakeServer, kind: str) -> None:
    """LiteLLM's Gemini route answers tasks but has no /v1beta/models: a 404 there means 'not checked'."""
    server.reply(Reply.json(404, {"detail": "Not Found"}))
    usability = await make(kind, server).check({"OPENAI_API_KEY": "k", "ANTHROPIC_API_KEY": "k", "GEMINI_API_KEY": "k"})
    assert usability.usable and not usability.checked and "lists no models" in usability.reason
