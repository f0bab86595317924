"""HTTP agents against ``FakeServer``: agent factories, requests, event collection, and recorded stream shapes."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path

from orchestra_tui.agents import (
    AgentRequest,
    AnthropicAgent,
    Backoff,
    Failed,
    Finished,
    GeminiAgent,
    HttpAgent,
    OllamaAgent,
    OpenAIAgent,
    StreamingAgent,
    TextDelta,
)
from orchestra_tui.models import AgentConfig, AgentTask

from .fakeserver import FakeServer

KEY = "sk-test-PLANTED-0123456789abcdef"


FAST = Backoff(base=0.01, cap=0.02)


SSE = (("content-type", "text/event-stream"),)


NDJSON = (("content-type", "application/x-ndjson"),)


# ------------------------------------------------------------------------------------ wire bytes
OPENAI = (
    b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1727346171,"model":"gpt-4o",'
    b'"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}\n\n'
    b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1727346171,"model":"gpt-4o",'
    b'"choices":[{"index":0,"delta":{"content":"Hello"},"finish_reason":null}]}\n\n'
    b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1727346171,"model":"gpt-4o",'
    b'"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
    b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1727346171,"model":"gpt-4o",'
    b'"choices":[],"usage":{"prompt_tokens":79,"completion_tokens":1,"total_tokens":80}}\n\n'
    b"data: [DONE]\n\n"
)


LM_STUDIO = (  # no usage at all
    b'data: {"id":"chatcmpl-2","object":"chat.completion.chunk","created":1,"model":"m",'
    b'"choices":[{"index":0,"delta":{"role":"assistant","content":"Ok"},"logprobs":null,'
    b'"finish_reason":null}]}\n\n'
    b'data: {"id":"chatcmpl-2","object":"chat.completion.chunk","created":1,"model":"m",'
    b'"choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]}\n\n'
    b"data: [DONE]\n\n"
)


def make(kind: str, server: FakeServer, **fields: object) -> StreamingAgent:
    base = {"openai": "/v1", "http": "/generate"}.get(kind, "")
    config: dict[str, object] = {"type": kind, "model": MODELS[kind], "base_url": server.url + base, "max_attempts": 3}
    if kind in KEY_ENV:
        config["api_key_env"] = KEY_ENV[kind]
    if kind == "http":
        config |= {
            "request": {"inputs": "{prompt}", "parameters": {"model": "{model}", "stop": ["{prompt}!"], "n": 3}},
            "text_path": "token.text",
        }
    config |= fields
    cls = {
        "openai": OpenAIAgent,
        "anthropic": AnthropicAgent,
        "gemini": GeminiAgent,
        "ollama": OllamaAgent,
        "http": HttpAgent,
    }[kind]
    return cls(kind + "-agent", AgentConfig.model_validate(config), backoff=FAST)


MODELS = {"openai": "gpt-4o", "anthropic": "claude-x", "gemini": "gemini-x", "ollama": "llama3.2", "http": "tgi-model"}


KEY_ENV = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY", "gemini": "GEMINI_API_KEY"}


def request(prompt: str = "Say hello", env: dict[str, str] | None = None, system: str | None = None) -> AgentRequest:
    task = AgentTask("T1", "Greet", "Say hello")
    env = {name: KEY for name in KEY_ENV.values()} if env is None else env
    return AgentRequest("run-1", task, prompt, Path("."), env, system)


async def collect(agent: StreamingAgent, req: AgentRequest | None = None, limit: float = 10.0) -> list[object]:
    events: list[object] = []
    async with asyncio.timeout(limit):
        async for event in agent.run(req or request()):
            events.append(event)
            assert len(events) < 10_000
    assert isinstance(events[-1], (Finished, Failed)), events
    assert sum(isinstance(e, (Finished, Failed)) for e in events) == 1, events
    return events


def texts(events: list[object]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def sse(*payloads: object, crlf: bool = False) -> bytes:
    end = b"\r\n\r\n" if crlf else b"\n\n"
    return b"".join(b"data: " + (p if isinstance(p, bytes) else json.dumps(p).encode()) + end for p in payloads)


def openai_chunk(delta: dict[str, object], finish: str | None = None, index: int = 0) -> dict[str, object]:
    return {
        "id": "c",
        "object": "chat.completion.chunk",
        "model": "m",
        "choices": [{"index": index, "delta": delta, "finish_reason": finish}],
    }


def anthropic_stream(
    start_usage: dict[str, int], delta_usage: dict[str, int], stop: str = "end_turn", text: str = "Hi"
) -> bytes:
    events = [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {"id": "m", "type": "message", "role": "assistant", "content": [], "usage": start_usage},
            },
        ),
        (
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}},
        ),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop}, "usage": delta_usage}),
        ("message_stop", {"type": "message_stop"}),
    ]
    return b"".join(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode() for name, data in events)


def anthropic_held(
    gate: threading.Event, input_tokens: int, output_tokens: int, text: str = "first words"
) -> list[bytes | float | threading.Event]:
    """A ``Reply`` body for an Anthropic stream that reports its input tokens and a first text, then waits for
    ``gate`` (a ``threading.Event`` the test sets) before its output tokens and its end: a run that has spent
    something and is still going, for as long as the test needs."""

    def event(name: str, data: dict[str, object]) -> bytes:
        return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()

    message = {"id": "m", "type": "message", "role": "assistant", "content": []}
    start = event(
        "message_start",
        {"type": "message_start", "message": {**message, "usage": {"input_tokens": input_tokens, "output_tokens": 1}}},
    )
    delta = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}}
    end = event(
        "message_delta",
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": output_tokens}},
    ) + event("message_stop", {"type": "message_stop"})
    return [start, event("content_block_delta", delta), 0.05, gate, end]
