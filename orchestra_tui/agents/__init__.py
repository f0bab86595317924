"""Agents: a task in, a stream of events out (``events``, ``base``), one module per agent type.

The HTTP agents (``openai``, ``anthropic``, ``gemini``, ``ollama``, ``http_generic``) share ``transport``:
one httpx client per process and event loop (close it with :func:`close_http_client` at shutdown),
timeouts, retries with backoff, and the redaction of keys from every message. The local agents
(``shell``, ``cli``, ``interactive``), the prompt, prices and the registry complete the package.

Names are imported on first use (PEP 562), so importing the package or ``registry`` does not load httpx
for a plan that only runs shell commands.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "Agent": "base",
    "AgentRequest": "base",
    "Usability": "base",
    "AgentEvent": "events",
    "Failed": "events",
    "Finished": "events",
    "Retrying": "events",
    "TextDelta": "events",
    "UsageUpdate": "events",
    "OpenAIAgent": "openai",
    "AnthropicAgent": "anthropic",
    "GeminiAgent": "gemini",
    "OllamaAgent": "ollama",
    "HttpAgent": "http_generic",
    "Backoff": "transport",
    "StreamingAgent": "transport",
    "close_http_client": "transport",
    "http_client": "transport",
    "ShellAgent": "shell",
    "CliAgent": "cli",
    "InteractiveAgent": "interactive",
    "render_prompt": "prompt",
    "price_for": "pricing",
    "cost_usd": "pricing",
    "AgentRegistry": "registry",
    "agents_for": "registry",
    "build_agent": "registry",
}
__all__ = [
    "Agent",
    "AgentEvent",
    "AgentRegistry",
    "AgentRequest",
    "AnthropicAgent",
    "Backoff",
    "CliAgent",
    "Failed",
    "Finished",
    "GeminiAgent",
    "HttpAgent",
    "InteractiveAgent",
    "OllamaAgent",
    "OpenAIAgent",
    "Retrying",
    "ShellAgent",
    "StreamingAgent",
    "TextDelta",
    "Usability",
    "UsageUpdate",
    "agents_for",
    "build_agent",
    "close_http_client",
    "cost_usd",
    "http_client",
    "price_for",
    "render_prompt",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


if TYPE_CHECKING:
    from .anthropic import AnthropicAgent
    from .base import Agent, AgentRequest, Usability
    from .cli import CliAgent
    from .events import AgentEvent, Failed, Finished, Retrying, TextDelta, UsageUpdate
    from .gemini import GeminiAgent
    from .http_generic import HttpAgent
    from .interactive import InteractiveAgent
    from .ollama import OllamaAgent
    from .openai import OpenAIAgent
    from .pricing import cost_usd, price_for
    from .prompt import render_prompt
    from .registry import AgentRegistry, agents_for, build_agent
    from .shell import ShellAgent
    from .transport import Backoff, StreamingAgent, close_http_client, http_client
