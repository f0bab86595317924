"""The HTTP agents' stream parsing throughput, each provider's stream served by a local server.

``python bench/bench_agents.py [--quick] [--out FILE]`` prints a table (provider, events, seconds,
events/s, target, PASS/MISS; ``info`` rows have no target) and writes it as JSON to
``bench/results/agents.json`` (``agents-quick.json`` with ``--quick``). An "event" is one event of the
provider's stream (an SSE event or an NDJSON line); seconds run from the request to the final event, the
median of a few runs after an uncounted warm-up run. Reference rows read the same OpenAI stream with the official
``openai`` SDK (when
installed; it is not a dependency) and with plain httpx-sse, which is how the SSE decoding was chosen.
The server is ``tests/helpers/fakeserver.py`` on 127.0.0.1, writing 64 KiB pieces. A MISS is reported, never raised.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
from httpx_sse import aconnect_sse

from orchestra_tui.agents import (
    AgentRequest,
    AnthropicAgent,
    Finished,
    GeminiAgent,
    HttpAgent,
    OllamaAgent,
    OpenAIAgent,
    StreamingAgent,
    TextDelta,
    close_http_client,
)
from orchestra_tui.models import AgentConfig, AgentTask
from tests.helpers.fakeserver import FakeServer, Reply

REPO = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO / "bench" / "results"
TARGET = 50_000.0  # events per second
PIECE = 64 * 1024


@dataclass
class Row:
    provider: str
    events: int
    seconds: float
    events_per_s: float
    target: str
    verdict: str  # PASS | MISS | info | not installed
    note: str = ""


# --------------------------------------------------------------------- streams: (body, events in it, text events)
def openai_stream(n: int) -> tuple[bytes, int]:
    chunk = (
        b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1727346171,"model":"gpt-4o",'
        b'"choices":[{"index":0,"delta":{"content":"Hello"},"finish_reason":null}]}\n\n'
    )
    end = (
        b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1727346171,'
        b'"model":"gpt-4o","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
        b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1727346171,'
        b'"model":"gpt-4o","choices":[],"usage":{"prompt_tokens":79,"completion_tokens":1,'
        b'"total_tokens":80}}\n\n'
        b"data: [DONE]\n\n"
    )
    return chunk * n + end, n + 2


def anthropic_stream(n: int) -> tuple[bytes, int]:
    start = (
        b'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1",'
        b'"type":"message","role":"assistant","content":[],"model":"claude-x","stop_reason":null,'
        b'"stop_sequence":null,"usage":{"input_tokens":11,"output_tokens":1}}}\n\n'
        b'event: content_block_start\ndata: {"type":"content_block_start","index":0,'
        b'"content_block":{"type":"text","text":""}}\n\n'
    )
    delta = (
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
        b'"delta":{"type":"text_delta","text":"Hello"}}\n\n'
    )
    end = (
        b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n'
        b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn",'
        b'"stop_sequence":null},"usage":{"output_tokens":6}}\n\n'
        b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
    )
    return start + delta * n + end, n + 5


def gemini_stream(n: int) -> tuple[bytes, int]:
    def chunk(i: int, finish: bytes = b"") -> bytes:
        return (
            b'data: {"candidates":[{"content":{"parts":[{"text":"There are"}],"role":"model"},%s"index":0}],'
            b'"usageMetadata":{"promptTokenCount":9,"candidatesTokenCount":%d,"totalTokenCount":%d},"modelVersion":"gemini-x"}\r\n\r\n'
            % (finish, i, i + 9)
        )

    return b"".join(chunk(i) for i in range(1, n)) + chunk(n, b'"finishReason":"STOP",'), n


def ollama_stream(n: int) -> tuple[bytes, int]:
    line = (
        b'{"model":"llama3.2","created_at":"2023-08-04T08:52:19.385406455-07:00",'
        b'"message":{"role":"assistant","content":"The"},"done":false}\n'
    )
    done = (
        b'{"model":"llama3.2","created_at":"2023-08-04T19:22:45.499127Z","message":{"role":"assistant",'
        b'"content":""},"done":true,"done_reason":"stop","total_duration":8113331500,'
        b'"prompt_eval_count":61,"eval_count":468,"eval_duration":7701267000}\n'
    )
    return line * n + done, n + 1


def http_stream(n: int) -> tuple[bytes, int]:
    line = (
        b'data:{"index":1,"token":{"id":1,"text":"Bon","logprob":-0.1,"special":false},'
        b'"generated_text":null,"details":null}\n\n'
    )
    return line * n, n


def agent_for(kind: str, url: str) -> StreamingAgent:
    fields: dict[str, object] = {
        "openai": {"base_url": url + "/v1", "api_key_env": "BENCH_KEY"},
        "anthropic": {"base_url": url, "api_key_env": "BENCH_KEY"},
        "gemini": {"base_url": url, "api_key_env": "BENCH_KEY"},
        "ollama": {"base_url": url},
        "http": {"base_url": url + "/generate", "request": {"inputs": "{prompt}"}, "text_path": "token.text"},
    }[kind]
    cls = {
        "openai": OpenAIAgent,
        "anthropic": AnthropicAgent,
        "gemini": GeminiAgent,
        "ollama": OllamaAgent,
        "http": HttpAgent,
    }[kind]
    return cls(kind, AgentConfig.model_validate({"type": kind, "model": "m", "max_attempts": 1, **fields}))


STREAMS = {
    "openai": openai_stream,
    "anthropic": anthropic_stream,
    "gemini": gemini_stream,
    "ollama": ollama_stream,
    "http": http_stream,
}
REQUEST = AgentRequest("bench", AgentTask("B1", "Bench", "Bench"), "Say hello", REPO, {"BENCH_KEY": "bench-key"})


# --------------------------------------------------------------------- readers
async def read_with_agent(kind: str, url: str, expected_text: int) -> None:
    deltas = 0
    final = None
    async for event in agent_for(kind, url).run(REQUEST):
        if event.__class__ is TextDelta:
            deltas += 1
        final = event
    if not isinstance(final, Finished) or deltas != expected_text:
        raise SystemExit(f"bench: {kind} stream misread: {final!r}, {deltas} text events of {expected_text}")


async def read_with_sdk(url: str, expected: int) -> None:
    import openai

    client = openai.AsyncOpenAI(base_url=url + "/v1", api_key="bench-key", max_retries=0)
    try:
        stream = await client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "Say hello"}], stream=True
        )
        chunks = 0
        async for _ in stream:
            chunks += 1
    finally:
        await client.close()
    if chunks != expected:
        raise SystemExit(f"bench: the openai SDK read {chunks} chunks of {expected}")


async def read_with_httpx_sse(url: str, expected: int) -> None:
    events = 0
    async with (
        httpx.AsyncClient() as client,
        aconnect_sse(client, "POST", url + "/v1/chat/completions", json={}) as source,
    ):
        async for event in source.aiter_sse():
            if event.data != "[DONE]":
                json.loads(event.data)
                events += 1
    if events != expected:
        raise SystemExit(f"bench: httpx-sse read {events} events of {expected}")


# --------------------------------------------------------------------- measuring
async def measure(server: FakeServer, body: bytes, runs: int, read: Callable[[], Awaitable[None]]) -> float:
    pieces = [body[i : i + PIECE] for i in range(0, len(body), PIECE)]
    times = []
    for _ in range(runs + 1):  # the first run warms up (client, connection, imports) and is not counted
        server.reply(Reply(200, (("content-type", "text/event-stream"),), pieces))
        started = time.perf_counter()
        await read()
        times.append(time.perf_counter() - started)
    return statistics.median(times[1:])


def row(provider: str, events: int, seconds: float, target: float | None, note: str = "") -> Row:
    rate = events / seconds
    if target is None:
        return Row(provider, events, seconds, rate, "-", "info", note)
    return Row(provider, events, seconds, rate, f">= {target:,.0f}/s", "PASS" if rate >= target else "MISS", note)


async def bench(n: int, runs: int) -> list[Row]:
    rows: list[Row] = []
    with FakeServer() as server:
        for kind, make_stream in STREAMS.items():
            body, events = make_stream(n)
            seconds = await measure(server, body, runs, lambda kind=kind: read_with_agent(kind, server.url, n))
            rows.append(row(kind, events, seconds, TARGET))
        await close_http_client()
        body, events = openai_stream(n)
        ours = rows[0]
        try:
            import openai  # noqa: F401
        except ImportError:
            rows.append(Row("openai SDK", events, 0.0, 0.0, "-", "not installed", "pip install openai to compare"))
        else:
            seconds = await measure(server, body, runs, lambda: read_with_sdk(server.url, events))
            sdk = row("openai SDK", events, seconds, None, "AsyncOpenAI chat.completions.create(stream=True)")
            rows.append(sdk)
            ratio = sdk.seconds / ours.seconds
            rows.append(
                Row(
                    "orchestra / openai SDK",
                    events,
                    ours.seconds,
                    ours.events_per_s,
                    ">= 1.0x",
                    "PASS" if ratio >= 1.0 else "MISS",
                    f"{ratio:.1f}x the SDK's speed",
                )
            )
        seconds = await measure(server, body, runs, lambda: read_with_httpx_sse(server.url, events))
        rows.append(row("httpx-sse (aiter_sse)", events, seconds, None, "plain aconnect_sse + json.loads, no agent"))
    return rows


def print_table(rows: list[Row]) -> None:
    width = max(len(r.provider) for r in rows) + 2
    print(f"{'provider':<{width}}{'events':>9}  {'seconds':>8}  {'events/s':>10}  {'target':<15}{'verdict':<14}note")
    for r in rows:
        print(
            f"{r.provider:<{width}}{r.events:>9}  {r.seconds:>8.3f}  {r.events_per_s:>10,.0f}  "
            f"{r.target:<15}{r.verdict:<14}{r.note}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small streams, one run each (a smoke run)")
    parser.add_argument("--out", type=Path, help="where to write the JSON (default bench/results/agents[-quick].json)")
    args = parser.parse_args()
    n, runs = (2_000, 1) if args.quick else (50_000, 3)
    rows = asyncio.run(bench(n, runs))
    print_table(rows)
    machine = (
        f"nproc {os.cpu_count()}, {platform.python_implementation()} {platform.python_version()}, "
        f"{platform.machine()}, httpx {httpx.__version__}"
    )
    print(f"machine: {machine}")
    out = args.out or RESULTS_DIR / ("agents-quick.json" if args.quick else "agents.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "quick": args.quick,
        "text_events_per_stream": n,
        "runs": runs,
        "machine": machine,
        "rows": [asdict(r) for r in rows],
    }
    out.write_text(json.dumps(document, indent=2) + "\n")


if __name__ == "__main__":
    main()
