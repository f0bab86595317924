"""Anthropic Messages API, streamed over SSE (``base_url`` without ``/v1``).

Input tokens come from ``message_start``; ``message_delta`` carries cumulative output tokens. ``ping``,
thinking and tool-input deltas are not text. An ``error`` event (e.g. ``overloaded_error`` after HTTP 200)
fails the attempt; the stream must end with ``message_stop``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .base import AgentRequest
from .events import AgentEvent, TextDelta, UsageUpdate
from .transport import (
    Call,
    StreamingAgent,
    TerminatedDecoder,
    parse_json,
    stream_error,
)

API_VERSION = "2023-06-01"


class AnthropicDecoder(TerminatedDecoder):
    provider = "anthropic"
    terminal = "message_stop"

    def __init__(self) -> None:
        super().__init__()
        self.input_tokens: int | None = None
        self.output_tokens: int | None = None

    def feed(self, payload: str) -> Iterable[AgentEvent]:
        if self.done:
            return ()
        event = parse_json("anthropic", payload)
        kind = event.get("type")
        if kind == "content_block_delta":
            delta = event.get("delta") or {}
            if delta.get("type") == "text_delta" and delta.get("text"):
                return (TextDelta(delta["text"]),)
            return ()
        if kind == "message_start":
            return self._usage((event.get("message") or {}).get("usage"))
        if kind == "message_delta":
            self.stop_reason = (event.get("delta") or {}).get("stop_reason") or self.stop_reason
            return self._usage(event.get("usage"))
        if kind == "message_stop":
            self.done = True
        elif kind == "error":
            raise stream_error("anthropic", event.get("error"))
        return ()

    def _usage(self, usage: Any) -> Iterable[AgentEvent]:
        if not isinstance(usage, dict):
            return ()
        if usage.get("input_tokens") is not None:
            self.input_tokens = usage["input_tokens"]
        if usage.get("output_tokens") is not None:
            self.output_tokens = usage["output_tokens"]
        return (UsageUpdate(self.input_tokens, self.output_tokens),)



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
        headers = self.headers({**self._auth(key), "accept": "text/event-stream"}, key)
        return Call(f"{self.base_url}/v1/messages", headers, body)

    def decoder(self) -> AnthropicDecoder:
        return AnthropicDecoder()

    def probe(self, key: str | None) -> tuple[str, str, dict[str, str]]:
        return "GET", f"{self.base_url}/v1/models", self.headers(self._auth(key), key)
