"""The OpenAI Responses API, streamed (``api = "responses"`` on an ``openai`` agent): ``POST {base_url}/responses``.

Events are SSE with a ``type`` in each payload. Text comes in ``response.output_text.delta``; the stream ends
with ``response.completed`` (usage: ``input_tokens`` with ``input_tokens_details.cached_tokens``,
``output_tokens``, and LiteLLM's ``cost``), ``response.incomplete`` (``incomplete_details.reason``:
``max_output_tokens`` is a cut-off answer, ``content_filter`` a refusal) or ``response.failed`` (its
``error``, retried like any server error). An ``error`` event fails the attempt. A refusal
(``response.refusal.delta``) is kept as text and fails the run; an output item that calls a tool
(``function_call`` and the like) fails it too, since orchestra offers none.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .events import AgentEvent, TextDelta, UsageUpdate
from .transport import TerminatedDecoder, bad_ending, parse_json, stream_error

_TERMINAL = frozenset({"response.completed", "response.incomplete"})
_NOT_TOOLS = frozenset({"message", "reasoning"})
_INCOMPLETE = {"max_output_tokens": "truncated", "content_filter": "refused"}


class ResponsesDecoder(TerminatedDecoder):
    provider = "openai"
    terminal = "response.completed"

    def __init__(self) -> None:
        super().__init__()
        self.refused = False
        self.tool: str | None = None
        self.incomplete: str | None = None

    def feed(self, payload: str) -> Iterable[AgentEvent]:
        if self.done:
            return ()
        event = parse_json("openai", payload)
        kind = event.get("type")
        if kind == "response.output_text.delta" or kind == "response.refusal.delta":
            self.refused = self.refused or kind == "response.refusal.delta"
            return (TextDelta(event["delta"]),) if event.get("delta") else ()
        if kind == "response.output_item.added":
            item = event.get("item") or {}
            if item.get("type") not in _NOT_TOOLS:
                self.tool = self.tool or str(item.get("name") or item.get("type") or "a tool")
        elif kind in _TERMINAL:
            return self._end(event.get("response") or {})
        elif kind == "response.failed":
            error = (event.get("response") or {}).get("error") or {}
            raise stream_error("openai", {"type": error.get("code"), "message": error.get("message")})
        elif kind == "error":
            error = event.get("error") if isinstance(event.get("error"), dict) else event
            raise stream_error(
                "openai", {"type": error.get("code") or error.get("type"), "message": error.get("message")}
            )
        return ()

    def _end(self, response: dict[str, Any]) -> Iterable[AgentEvent]:
        self.done = True
        self.stop_reason = response.get("status")
        self.incomplete = str((response.get("incomplete_details") or {}).get("reason") or "") or None
        usage = response.get("usage")
        return (responses_usage(usage),) if isinstance(usage, dict) else ()

    def finish(self) -> str | None:
        status = super().finish()
        if status == "incomplete":
            reason = self.incomplete or "unknown"
            raise bad_ending("openai", _INCOMPLETE.get(reason, "stopped"), f"incomplete: {reason}")
        if self.refused:
            raise bad_ending("openai", "refused", "a refusal")
        if self.tool:
            raise bad_ending("openai", "tool_call", f"{self.tool}; orchestra offers none")
        return status


def responses_usage(usage: dict[str, Any]) -> UsageUpdate:
    cost = usage.get("cost")
    return UsageUpdate(
        usage.get("input_tokens"),
        usage.get("output_tokens"),
        float(cost) if isinstance(cost, int | float) and not isinstance(cost, bool) else None,
        (usage.get("input_tokens_details") or {}).get("cached_tokens"),
    )
