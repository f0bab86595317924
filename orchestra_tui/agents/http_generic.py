"""The ``http`` agent type: any streaming endpoint, described in the plan.

``base_url`` is the full endpoint URL. The body is ``config.request`` with ``{prompt}``, ``{system}`` and
``{model}`` replaced in every string value (recursively). With ``text_path`` (dotted, list indices allowed:
``choices.0.delta.content``) the response is read as lines -- NDJSON or SSE ``data:`` lines; SSE comments,
other SSE fields and ``[DONE]`` are skipped -- and the text is taken from each line at that path (lines
without it carry none). Without ``text_path`` the body is the text. A line whose ``error`` key is set is an
error event. There is no terminal event: the stream ends when the response does, a success when any
bytes came. A key (``api_key_env``) goes in ``Authorization: Bearer`` unless a configured header uses
``{api_key}``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..models import AgentConfig
from .base import AgentRequest
from .events import AgentEvent, TextDelta
from .transport import (
    DEFAULT_BACKOFF,
    AttemptError,
    Backoff,
    Call,
    Decoder,
    StreamingAgent,
    parse_json,
    stream_error,
)

_SSE_FIELDS = (b":", b"event:", b"id:", b"retry:")


def fill(template: Any, values: dict[str, str]) -> Any:
    """``template`` with each ``{name}`` in its string values replaced."""
    if isinstance(template, str):
        for name, value in values.items():
            template = template.replace("{" + name + "}", value)
        return template
    if isinstance(template, dict):
        return {key: fill(value, values) for key, value in template.items()}
    if isinstance(template, list):
        return [fill(value, values) for value in template]
    return template


def compile_path(path: str) -> tuple[str | int, ...]:
    return tuple(int(step) if step.lstrip("-").isdigit() else step for step in path.split("."))


def pick(document: Any, path: tuple[str | int, ...]) -> Any:
    for step in path:
        try:
            document = document[step]
        except (KeyError, IndexError, TypeError):
            return None
    return document


class LinesDecoder(Decoder):
    def __init__(self, path: tuple[str | int, ...]) -> None:
        self.path = path
        self.seen = False

    def feed(self, line: bytes) -> Iterable[AgentEvent]:
        self.seen = True
        if line.startswith(b"data:"):
            line = line[5:].strip()
            if line == b"[DONE]" or not line:
                return ()
        elif line.startswith(_SSE_FIELDS):
            return ()
        document = parse_json("http", line)
        if isinstance(document, dict) and document.get("error"):
            raise stream_error("http", document["error"])
        text = pick(document, self.path)
        return (TextDelta(text),) if isinstance(text, str) and text else ()

    def finish(self) -> str | None:
        if not self.seen:
            raise AttemptError("http: the response was empty", "protocol", retryable=True)
        return None


class TextDecoder(Decoder):
    def __init__(self) -> None:
        self.seen = False

    def feed(self, text: str) -> Iterable[AgentEvent]:
        self.seen = True
        return (TextDelta(text),)

    def finish(self) -> str | None:
        if not self.seen:
            raise AttemptError("http: the response was empty", "protocol", retryable=True)
        return None


class HttpAgent(StreamingAgent):
    provider = "http"
    needs_model = False
    probe_lists = False

    def __init__(self, name: str, config: AgentConfig, *, backoff: Backoff = DEFAULT_BACKOFF) -> None:
        super().__init__(name, config, backoff=backoff)
        self.path = compile_path(config.text_path) if config.text_path else None
        self.framing = "lines" if self.path else "text"  # type: ignore[misc]

    @property
    def base_url(self) -> str:
        return self.config.base_url or ""  # the endpoint itself: kept exactly as configured

    def _auth(self, key: str | None) -> dict[str, str]:
        uses_placeholder = any("{api_key}" in value for value in self.config.headers.values())
        return {"authorization": f"Bearer {key}"} if key and not uses_placeholder else {}

    def build(self, request: AgentRequest, key: str | None) -> Call:
        values = {
            "prompt": request.prompt,
            "system": self.system_prompt(request) or "",
            "model": self.config.model or "",
        }
        return Call(self.base_url, self.headers(self._auth(key), key), fill(self.config.request, values))

    def decoder(self) -> Decoder:
        return LinesDecoder(self.path) if self.path else TextDecoder()

    def probe(self, key: str | None) -> tuple[str, str, dict[str, str]]:
        return "HEAD", self.base_url, self.headers(self._auth(key), key)

    def _answering(self, status: int) -> bool:
        return status < 500 and status not in (401, 403)
