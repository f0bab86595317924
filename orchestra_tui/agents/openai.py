"""OpenAI Chat Completions, streamed -- and every OpenAI-compatible server (vLLM, llama.cpp, LM Studio,
OpenRouter, LiteLLM) by changing ``base_url`` (which includes ``/v1``).

The key comes from ``api_key_env``; when that is unset it defaults to ``OPENAI_API_KEY`` for
api.openai.com only, so a local server gets no key and the OpenAI key never leaves for another host.
The token limit is sent as ``max_completion_tokens`` to api.openai.com (its reasoning models reject
``max_tokens``) and as ``max_tokens`` elsewhere (what compatible servers read). The stream must end with
``data: [DONE]``; a payload with an ``error`` key is an error event (vLLM, OpenRouter). OpenRouter's
``usage.cost`` becomes ``UsageUpdate.cost_usd``.
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
    host_of,
    parse_json,
    stream_error,
)

OFFICIAL_HOST = "api.openai.com"


class OpenAIDecoder(TerminatedDecoder):
    provider = "openai"
    terminal = "data: [DONE]"

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
        choices = chunk.get("choices")
        if choices:
            choice = choices[0]
            delta = choice.get("delta") or {}
            text = delta.get("content") or delta.get("refusal")
            if text:
                events.append(TextDelta(text))
            if choice.get("finish_reason"):
                self.stop_reason = choice["finish_reason"]
        usage: Any = chunk.get("usage")
        if usage:
            events.append(UsageUpdate(usage.get("prompt_tokens"), usage.get("completion_tokens"), usage.get("cost")))
        return events



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
        system = self.system_prompt(request)
        messages = [{"role": "system", "content": system}] if system else []
        messages.append({"role": "user", "content": request.prompt})
        body: dict[str, Any] = {"model": self.config.model, "messages": messages, "stream": True}
        if self.config.stream_usage:
            body["stream_options"] = {"include_usage": True}
        body["max_completion_tokens" if self.official else "max_tokens"] = self.config.max_tokens
        if self.config.temperature is not None:
            body["temperature"] = self.config.temperature
        headers = self.headers({**self._auth(key), "accept": "text/event-stream"}, key)
        return Call(f"{self.base_url}/chat/completions", headers, body)

    def decoder(self) -> OpenAIDecoder:
        return OpenAIDecoder()

    def probe(self, key: str | None) -> tuple[str, str, dict[str, str]]:
        return "GET", f"{self.base_url}/models", self.headers(self._auth(key), key)
