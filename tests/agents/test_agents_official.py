"""The official SDKs' own recorded streams, served byte for byte by a real HTTP server on 127.0.0.1.

``../shared/corpus/wire/official/`` holds the raw bytes of real streams the official ``anthropic`` and
``openai`` Python SDKs test against (Anthropic ``.txt``, OpenAI ``.bin``). Every Anthropic recording ends
without the blank line that closes its last event (``message_stop``). ``data/official_streams.json`` is
what the SDKs themselves read from each file (their streaming helpers' final message: text, usage, stop
reason; for a refusal, the refusal text), and the outcome orchestra must give it: a run succeeds only
when the model ended normally with a non-empty answer.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestra_tui.agents import AnthropicAgent, Failed, Finished, OpenAIAgent, TextDelta, UsageUpdate
from orchestra_tui.models import AgentConfig

from ..helpers.fakeserver import FakeServer, Reply
from ..helpers.streams import FAST, collect, request


def _shared() -> Path:
    """``../shared`` beside the checkout (CI), or beside a directory of worktrees holding it."""
    checkout = Path(__file__).resolve().parents[2]
    for parent in checkout.parents:
        if (parent / "shared" / "corpus").is_dir():
            return parent / "shared"
    return checkout.parent / "shared"


CORPUS = _shared() / "corpus" / "wire" / "official"
EXPECTED: dict[str, dict[str, object]] = json.loads(
    (Path(__file__).parent / "data" / "official_streams.json").read_text("utf-8")
)


def recording(name: str) -> bytes:
    path = CORPUS / name
    if not path.is_file():
        pytest.fail(f"the official SDK corpus is missing: {path} (CI has ../shared beside the checkout)")
    return path.read_bytes()


def test_every_recording_has_its_expected_reading() -> None:
    files = {str(path.relative_to(CORPUS)) for path in CORPUS.glob("*/*") if path.suffix in (".txt", ".bin")}
    assert files, f"no recordings under {CORPUS}"
    assert files == set(EXPECTED)


def test_the_anthropic_recordings_end_without_a_blank_line() -> None:
    """What makes them worth testing: the last event is not closed, which httpx-sse alone would drop."""
    for name in EXPECTED:
        if name.startswith("anthropic/"):
            assert not recording(name).endswith(b"\n\n"), name


@pytest.mark.parametrize("framing", ["length", "close"])
@pytest.mark.parametrize("name", sorted(EXPECTED))
async def test_an_official_recording_reads_as_the_sdk_reads_it(server: FakeServer, name: str, framing: str) -> None:
    expected = EXPECTED[name]
    server.reply(Reply(200, (("content-type", "text/event-stream"),), [recording(name)], framing=framing))  # type: ignore[arg-type]
    if name.startswith("anthropic/"):
        agent = AnthropicAgent(
            "a",
            AgentConfig(type="anthropic", model="claude-x", base_url=server.url, api_key_env="ANTHROPIC_API_KEY"),
            backoff=FAST,
        )
    else:
        agent = OpenAIAgent(
            "o",
            AgentConfig(type="openai", model="gpt-4o", base_url=server.url + "/v1", api_key_env="OPENAI_API_KEY"),
            backoff=FAST,
        )
    events = await collect(agent, request())
    usage = [event for event in events if isinstance(event, UsageUpdate)][-1]
    assert "".join(event.text for event in events if isinstance(event, TextDelta)) == expected["text"]
    assert (usage.input_tokens, usage.output_tokens) == (expected["input_tokens"], expected["output_tokens"])
    assert len(server.requests) == 1  # never retried
    final = events[-1]
    if expected["outcome"] == "ok":
        assert final == Finished(expected["text"], expected["stop_reason"])  # type: ignore[arg-type]
    else:
        assert isinstance(final, Failed) and final.kind == expected["outcome"], final
        assert str(expected["stop_reason"]) in final.message or final.kind == "refused", final
