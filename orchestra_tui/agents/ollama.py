"""Ollama's ``/api/chat`` streamed as NDJSON (default ``http://localhost:11434``; no key unless
``api_key_env`` names one, sent as a bearer token for proxies and hosted Ollama).

The answer is complete at ``"done": true``; ``done_reason: "length"`` (cut off) or a tool call fails the
run. Its ``prompt_eval_count`` is missing when the prompt was
cached, which is reported as unknown (None), not 0. ``check`` also says when the model is not pulled.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import httpx

from .base import AgentRequest
from .events import AgentEvent, TextDelta, UsageUpdate
from .structured import inline_refs
from .transport import (
    Call,
    StreamingAgent,
    TerminatedDecoder,
    bad_ending,
    parse_json,
    stream_error,
)


class OllamaDecoder(TerminatedDecoder):
    provider = "ollama"
    terminal = '"done": true'

    def __init__(self) -> None:
        super().__init__()
        self.tool: str | None = None

    def finish(self) -> str | None:
        reason = super().finish()
        if reason == "length":
            raise bad_ending("ollama", "truncated", "done_reason: length")
        if self.tool:
            raise bad_ending("ollama", "tool_call", f"{self.tool}; orchestra offers none")
        if reason not in ("stop", None):
            raise bad_ending("ollama", "stopped", f"done_reason: {reason}")
        return reason

    def feed(self, payload: bytes) -> Iterable[AgentEvent]:
        if self.done:
            return ()
        line = parse_json("ollama", payload)
        if line.get("error"):
            raise stream_error("ollama", line["error"])
        message = line.get("message") or {}
        text = message.get("content")
        events: list[AgentEvent] = [TextDelta(text)] if text else []
        for call in message.get("tool_calls") or ():
            self.tool = self.tool or str((call.get("function") or {}).get("name") or "a tool")
        if line.get("done"):
            self.done = True
            self.stop_reason = line.get("done_reason")
            events.append(UsageUpdate(line.get("prompt_eval_count"), line.get("eval_count")))
        return events


class OllamaAgent(StreamingAgent):
    provider = "ollama"
    default_base_url = "http://localhost:11434"
    framing = "lines"

    def _auth(self, key: str | None) -> dict[str, str]:
        return {"authorization": f"Bearer {key}"} if key else {}

    def build(self, request: AgentRequest, key: str | None) -> Call:
        system = self.system_prompt(request)
        messages = [{"role": "system", "content": system}] if system else []
        messages.append({"role": "user", "content": request.prompt})
        options: dict[str, Any] = {"num_predict": self.config.max_tokens}
        if self.config.temperature is not None:
            options["temperature"] = self.config.temperature
        body: dict[str, Any] = {"model": self.config.model, "messages": messages, "stream": True, "options": options}
        if request.response_schema is not None:
            body["format"] = inline_refs(dict(request.response_schema))
        return Call(f"{self.base_url}/api/chat", self.headers(self._auth(key), key), body)

    def decoder(self) -> OllamaDecoder:
        return OllamaDecoder()

    def probe(self, key: str | None) -> tuple[str, str, dict[str, str]]:
        return "GET", f"{self.base_url}/api/tags", self.headers(self._auth(key), key)

    def probe_result(self, response: httpx.Response) -> str | None:
        try:
            models = response.json().get("models") or []
            names = {str(entry.get("name", "")) for entry in models if isinstance(entry, dict)}
        except (ValueError, AttributeError):
            return None
        wanted = str(self.config.model)
        if wanted in names or (":" not in wanted and f"{wanted}:latest" in names):
            return None
        return f"model {wanted!r} is not pulled on {self.base_url} (run: ollama pull {wanted})"
