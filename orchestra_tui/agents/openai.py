"""OpenAI Chat Completions, streamed -- and every OpenAI-compatible server (vLLM, llama.cpp, LM Studio,
OpenRouter, LiteLLM) by changing ``base_url`` (which includes ``/v1``).

The key comes from ``api_key_env``; when that is unset it defaults to ``OPENAI_API_KEY`` for
api.openai.com only, so a local server gets no key and the OpenAI key never leaves for another host.
The token limit is sent as ``max_completion_tokens`` to api.openai.com (its reasoning models reject
``max_tokens``) and as ``max_tokens`` elsewhere (what compatible servers read). The stream must end with
``data: [DONE]``; a payload with an ``error`` key is an error event (vLLM, OpenRouter). OpenRouter's and
LiteLLM's ``usage.cost`` becomes ``UsageUpdate.cost_usd``. With ``api = "responses"`` the agent talks to the
Responses API instead (:mod:`.openai_responses`), with the same retries, cost and outcome rules.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .base import AgentRequest
from .events import AgentEvent, TextDelta, UsageUpdate
from .openai_responses import ResponsesDecoder
from .structured import SCHEMA_NAME, inline_refs
from .transport import (
    Call,
    StreamingAgent,
    TerminatedDecoder,
    bad_ending,
    host_of,
    parse_json,
    stream_error,
)

OFFICIAL_HOST = "api.openai.com"


class OpenAIDecoder(TerminatedDecoder):
    """Only choice 0 is the answer (a request for several choices streams them interleaved). A refusal
    streamed in ``delta.refusal`` is kept as text and fails the run, as do ``finish_reason`` ``length``,
    ``content_filter`` and a tool call."""

    provider = "openai"
    terminal = "data: [DONE]"

    def __init__(self) -> None:
        super().__init__()
        self.refused = False
        self.tool: str | None = None

    def feed(self, payload: str) -> Iterable[AgentEvent]:
        if self.done:
            return ()
        if payload == "[DONE]":
            self.done = True
            return ()
        chunk = parse_json("openai", payload)
        if chunk.get("error"):
            raise stream_error("openai", chunk["error"])
        events: list[AgentEvent] = []
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) == 0:
                events.extend(self._choice(choice))
        usage: Any = chunk.get("usage")
        if usage:
            events.append(openai_usage(usage))
        return events

    def _choice(self, choice: dict[str, Any]) -> list[AgentEvent]:
        delta = choice.get("delta") or {}
        if delta.get("refusal"):
            self.refused = True
        for call in delta.get("tool_calls") or ():
            self.tool = self.tool or ((call.get("function") or {}).get("name") or "a tool")
        if choice.get("finish_reason"):
            self.stop_reason = choice["finish_reason"]
        text = delta.get("content") or delta.get("refusal")
        return [TextDelta(text)] if text else []

    def finish(self) -> str | None:
        reason = super().finish()
        if reason == "length":
            raise bad_ending("openai", "truncated", "finish_reason: length")
        if reason == "content_filter" or self.refused:
            raise bad_ending(
                "openai", "refused", f"finish_reason: {reason}" if reason == "content_filter" else "a refusal"
            )
        if reason in ("tool_calls", "function_call") or self.tool:
            raise bad_ending(
                "openai", "tool_call", f"finish_reason: {reason}, {self.tool or 'a tool'}; orchestra offers none"
            )
        return reason


def openai_usage(usage: dict[str, Any]) -> UsageUpdate:
    """Chat Completions' usage: ``prompt_tokens`` include the cached ones (``prompt_tokens_details.cached_tokens``);
    LiteLLM adds Anthropic's ``cache_creation_input_tokens`` and the cost (``cost``, as OpenRouter does)."""
    details = usage.get("prompt_tokens_details") or {}
    cost = usage.get("cost")
    return UsageUpdate(
        usage.get("prompt_tokens"),
        usage.get("completion_tokens"),
        float(cost) if isinstance(cost, int | float) and not isinstance(cost, bool) else None,
        details.get("cached_tokens"),
        usage.get("cache_creation_input_tokens") or None,
    )


class OpenAIAgent(StreamingAgent):
    provider = "openai"
    default_base_url = "https://api.openai.com/v1"

    @property
    def official(self) -> bool:
        return host_of(self.base_url) == OFFICIAL_HOST

    @property
    def key_env(self) -> str | None:
        return self.config.api_key_env or ("OPENAI_API_KEY" if self.official else None)

    def _auth(self, key: str | None) -> dict[str, str]:
        return {"authorization": f"Bearer {key}"} if key else {}

    def build(self, request: AgentRequest, key: str | None) -> Call:
        if self.config.api == "responses":
            return self._responses(request, key)
        system = self.system_prompt(request)
        messages = [{"role": "system", "content": system}] if system else []
        messages.append({"role": "user", "content": request.prompt})
        body: dict[str, Any] = {"model": self.config.model, "messages": messages, "stream": True}
        if self.config.stream_usage:
            body["stream_options"] = {"include_usage": True}
        body["max_completion_tokens" if self.official else "max_tokens"] = self.config.max_tokens
        if self.config.temperature is not None:
            body["temperature"] = self.config.temperature
        if request.response_schema is not None:
            schema = {"name": SCHEMA_NAME, "schema": inline_refs(dict(request.response_schema)), "strict": False}
            body["response_format"] = {"type": "json_schema", "json_schema": schema}
        headers = self.headers({**self._auth(key), "accept": "text/event-stream"}, key)
        return Call(f"{self.base_url}/chat/completions", headers, body)

    def _responses(self, request: AgentRequest, key: str | None) -> Call:
        body: dict[str, Any] = {
            "model": self.config.model,
            "input": request.prompt,
            "stream": True,
            "max_output_tokens": self.config.max_tokens,
            "store": False,
        }
        if system := self.system_prompt(request):
            body["instructions"] = system
        if self.config.temperature is not None:
            body["temperature"] = self.config.temperature
        if request.response_schema is not None:
            schema = inline_refs(dict(request.response_schema))
            body["text"] = {"format": {"type": "json_schema", "name": SCHEMA_NAME, "schema": schema, "strict": False}}
        headers = self.headers({**self._auth(key), "accept": "text/event-stream"}, key)
        return Call(f"{self.base_url}/responses", headers, body)

    def decoder(self) -> TerminatedDecoder:
        return ResponsesDecoder() if self.config.api == "responses" else OpenAIDecoder()

    def probe(self, key: str | None) -> tuple[str, str, dict[str, str]]:
        return "GET", f"{self.base_url}/models", self.headers(self._auth(key), key)
