"""Anthropic Messages API, streamed over SSE (``base_url`` without ``/v1``).

Input tokens come from ``message_start`` (or late, from ``message_delta``); ``message_delta`` carries
cumulative output tokens and the stop reason: ``max_tokens``, ``refusal``, ``tool_use`` fail the run.
Cache reads and writes are counted in the input and reported apart. ``ping``, thinking and tool-input
deltas are not text, except the input of the answer tool orchestra offers for structured output
(``response_schema``: a forced tool named ``structured.SCHEMA_NAME``), which is the answer: its
``input_json_delta`` pieces stream as text and its ``tool_use`` stop is a normal end. An ``error`` event
(e.g. ``overloaded_error`` after HTTP 200) fails the attempt; the stream must end with ``message_stop``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .base import AgentRequest
from .events import AgentEvent, TextDelta, UsageUpdate
from .structured import SCHEMA_NAME, inline_refs
from .transport import (
    Call,
    StreamingAgent,
    TerminatedDecoder,
    bad_ending,
    parse_json,
    stream_error,
)

API_VERSION = "2023-06-01"


_NORMAL_STOPS = frozenset({"end_turn", "stop_sequence", None})
_STOPS = {
    "max_tokens": "truncated",
    "model_context_window_exceeded": "truncated",
    "refusal": "refused",
    "tool_use": "tool_call",
}


class AnthropicDecoder(TerminatedDecoder):
    provider = "anthropic"
    terminal = "message_stop"

    def __init__(self) -> None:
        super().__init__()
        self.usage: dict[str, int] = {}
        self.details = ""
        self.answer_blocks: set[int] = set()  # indexes of content blocks that call the answer tool
        self.other_tool = False

    def feed(self, payload: str) -> Iterable[AgentEvent]:
        if self.done:
            return ()
        event = parse_json("anthropic", payload)
        kind = event.get("type")
        if kind == "content_block_delta":
            delta = event.get("delta") or {}
            if delta.get("type") == "text_delta" and delta.get("text"):
                return (TextDelta(delta["text"]),)
            if delta.get("type") == "input_json_delta" and event.get("index") in self.answer_blocks:
                return (TextDelta(delta["partial_json"]),) if delta.get("partial_json") else ()
            return ()
        if kind == "content_block_start":
            block = event.get("content_block") or {}
            if block.get("type") == "tool_use":
                if block.get("name") == SCHEMA_NAME:
                    self.answer_blocks.add(event.get("index"))
                else:
                    self.other_tool = True
            return ()
        if kind == "message_start":
            return self._usage((event.get("message") or {}).get("usage"))
        if kind == "message_delta":
            delta = event.get("delta") or {}
            self.stop_reason = delta.get("stop_reason") or self.stop_reason
            self.details = str((delta.get("stop_details") or {}).get("explanation") or "")
            return self._usage(event.get("usage"))
        if kind == "message_stop":
            self.done = True
        elif kind == "error":
            raise stream_error("anthropic", event.get("error"))
        return ()

    def _usage(self, usage: Any) -> Iterable[AgentEvent]:
        """Output tokens: the last figure (``message_delta``'s are cumulative). Input and cache tokens: the larger
        figure, since some compatible servers (LiteLLM's ``/v1/messages``) send ``input_tokens: 0`` in
        ``message_start`` and the real count in ``message_delta``."""
        if not isinstance(usage, dict):
            return ()
        for name in ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"):
            value = usage.get(name)
            if isinstance(value, int) and not isinstance(value, bool):
                self.usage[name] = value if name == "output_tokens" else max(value, self.usage.get(name, 0))
        got = self.usage.get
        fresh, written, read = got("input_tokens"), got("cache_creation_input_tokens"), got("cache_read_input_tokens")
        total = (
            None if fresh is None else fresh + (written or 0) + (read or 0)
        )  # Anthropic's input_tokens exclude the cache
        return (UsageUpdate(total, got("output_tokens"), None, read, written),)

    def finish(self) -> str | None:
        reason = super().finish()
        if reason == "tool_use" and self.answer_blocks and not self.other_tool:
            return reason  # the structured answer
        if reason not in _NORMAL_STOPS:
            detail = f"stop_reason: {reason}" + (f": {self.details}" if self.details else "")
            raise bad_ending("anthropic", _STOPS.get(str(reason), "stopped"), detail)
        return reason


class AnthropicAgent(StreamingAgent):
    provider = "anthropic"
    default_base_url = "https://api.anthropic.com"

    @property
    def key_env(self) -> str | None:
        return self.config.api_key_env or "ANTHROPIC_API_KEY"

    def _auth(self, key: str | None) -> dict[str, str]:
        return {"x-api-key": key or "", "anthropic-version": API_VERSION}

    def build(self, request: AgentRequest, key: str | None) -> Call:
        body: dict[str, Any] = {
            "model": self.config.model,
            "max_tokens": self.config.max_tokens,
            "messages": [{"role": "user", "content": request.prompt}],
            "stream": True,
        }
        if system := self.system_prompt(request):
            body["system"] = system
        if self.config.temperature is not None:
            body["temperature"] = self.config.temperature
        if request.response_schema is not None:
            tool = {
                "name": SCHEMA_NAME,
                "description": "Submit the answer: one JSON object following the input schema.",
                "input_schema": inline_refs(dict(request.response_schema)),
            }
            body["tools"] = [tool]
            body["tool_choice"] = {"type": "tool", "name": SCHEMA_NAME}
        headers = self.headers({**self._auth(key), "accept": "text/event-stream"}, key)
        return Call(f"{self.base_url}/v1/messages", headers, body)

    def decoder(self) -> AnthropicDecoder:
        return AnthropicDecoder()

    def probe(self, key: str | None) -> tuple[str, str, dict[str, str]]:
        return "GET", f"{self.base_url}/v1/models", self.headers(self._auth(key), key)
