"""Google Gemini ``streamGenerateContent`` over SSE (``alt=sse``; lines end in CRLF).

There is no terminal event: a candidate's ``finishReason`` marks a complete answer, and a stream that
closes without one is an error; one other than ``STOP`` (``MAX_TOKENS``, ``SAFETY``, ``RECITATION``...)
or a ``functionCall`` part fails the run. ``usageMetadata`` repeats on every chunk as running totals
(``thoughtsTokenCount`` counts as output); a UsageUpdate is emitted whenever it changes. Thought parts are
not text. A blocked prompt (``promptFeedback.blockReason``) fails the run.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .base import AgentRequest
from .events import AgentEvent, TextDelta, UsageUpdate
from .structured import gemini_schema
from .transport import (
    AttemptError,
    Call,
    Decoder,
    StreamingAgent,
    bad_ending,
    ended_early,
    parse_json,
    stream_error,
)

_NORMAL_STOP = "STOP"
_STOPS = {
    "MAX_TOKENS": "truncated",
    **dict.fromkeys(
        ("SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY", "LANGUAGE"), "refused"
    ),
    **dict.fromkeys(("MALFORMED_FUNCTION_CALL", "UNEXPECTED_TOOL_CALL", "TOO_MANY_TOOL_CALLS"), "tool_call"),
}


class GeminiDecoder(Decoder):
    def __init__(self) -> None:
        self.stop_reason: str | None = None
        self.usage: UsageUpdate | None = None
        self.tool: str | None = None

    def feed(self, payload: str) -> Iterable[AgentEvent]:
        chunk = parse_json("gemini", payload)
        if isinstance(chunk, list):  # some proxies send the array form
            chunk = chunk[0] if chunk else {}
        if chunk.get("error"):
            raise stream_error("gemini", chunk["error"])
        events: list[AgentEvent] = []
        candidates = chunk.get("candidates")
        if candidates:
            candidate = candidates[0]
            parts = (candidate.get("content") or {}).get("parts") or ()
            text = "".join(part.get("text", "") for part in parts if not part.get("thought"))
            for part in parts:
                if part.get("functionCall"):
                    self.tool = self.tool or str(part["functionCall"].get("name") or "a tool")
            if text:
                events.append(TextDelta(text))
            if candidate.get("finishReason"):
                self.stop_reason = candidate["finishReason"]
        elif (feedback := chunk.get("promptFeedback")) and feedback.get("blockReason"):
            raise AttemptError(f"gemini: prompt blocked: {feedback['blockReason']}", "error")
        if metadata := chunk.get("usageMetadata"):
            usage = _usage(metadata)
            if usage != self.usage:
                self.usage = usage
                events.append(usage)
        return events

    def finish(self) -> str | None:
        reason = self.stop_reason
        if reason is None:
            raise ended_early("gemini", "a finishReason")
        if reason != _NORMAL_STOP:
            raise bad_ending("gemini", _STOPS.get(reason, "stopped"), f"finishReason: {reason}")
        if self.tool:
            raise bad_ending("gemini", "tool_call", f"{self.tool}; orchestra offers none")
        return reason


def _usage(metadata: dict[str, Any]) -> UsageUpdate:
    output = metadata.get("candidatesTokenCount")
    thoughts = metadata.get("thoughtsTokenCount")
    if thoughts is not None:
        output = (output or 0) + thoughts
    return UsageUpdate(
        metadata.get("promptTokenCount"), output, cache_read_tokens=metadata.get("cachedContentTokenCount")
    )


class GeminiAgent(StreamingAgent):
    provider = "gemini"
    default_base_url = "https://generativelanguage.googleapis.com"

    @property
    def key_env(self) -> str | None:
        return self.config.api_key_env or "GEMINI_API_KEY"

    def build(self, request: AgentRequest, key: str | None) -> Call:
        generation: dict[str, Any] = {"maxOutputTokens": self.config.max_tokens}
        if self.config.temperature is not None:
            generation["temperature"] = self.config.temperature
        if request.response_schema is not None:
            generation["responseMimeType"] = "application/json"
            generation["responseSchema"] = gemini_schema(dict(request.response_schema))
        body: dict[str, Any] = {
            "contents": [{"role": "user", "parts": [{"text": request.prompt}]}],
            "generationConfig": generation,
        }
        if system := self.system_prompt(request):
            body["systemInstruction"] = {"parts": [{"text": system}]}
        model = (self.config.model or "").removeprefix("models/")
        url = f"{self.base_url}/v1beta/models/{model}:streamGenerateContent?alt=sse"
        return Call(url, self.headers({"x-goog-api-key": key or "", "accept": "text/event-stream"}, key), body)

    def decoder(self) -> GeminiDecoder:
        return GeminiDecoder()

    def probe(self, key: str | None) -> tuple[str, str, dict[str, str]]:
        return "GET", f"{self.base_url}/v1beta/models", self.headers({"x-goog-api-key": key or ""}, key)
