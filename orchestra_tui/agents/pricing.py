"""What a run cost: USD per million input/output tokens, by model.

Lookup order: the agent's own ``price_input`` / ``price_output``, then the plan's ``[pricing."MODEL"]``
table, then :data:`DEFAULT_PRICES`. A model name with a date or version suffix (``claude-sonnet-4-5-20250929``,
``gpt-4o-2024-08-06``, ``claude-sonnet-4-5@20250929``) or a router prefix (``openai/gpt-4o``) finds its
base entry. An unknown model has an unknown cost (``None``), never a made-up 0. Local agents (``ollama``,
``shell``, ``interactive``) cost nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from ..models import AgentConfig, AgentType, Price

#: List prices in USD per million tokens (standard tier; Gemini 2.5 Pro for prompts up to 200k tokens),
#: taken from the providers' pricing pages in November 2025. Override any of them in the plan's
#: ``[pricing."MODEL"]`` table or with an agent's ``price_input`` / ``price_output``.
DEFAULT_PRICES: dict[str, Price] = {
    "claude-opus-4-1": Price(input=15.0, output=75.0),
    "claude-opus-4": Price(input=15.0, output=75.0),
    "claude-sonnet-4-5": Price(input=3.0, output=15.0),
    "claude-sonnet-4": Price(input=3.0, output=15.0),
    "claude-haiku-4-5": Price(input=1.0, output=5.0),
    "claude-3-5-haiku": Price(input=0.8, output=4.0),
    "gpt-4o": Price(input=2.5, output=10.0),
    "gpt-4o-mini": Price(input=0.15, output=0.6),
    "gpt-4.1": Price(input=2.0, output=8.0),
    "gpt-4.1-mini": Price(input=0.4, output=1.6),
    "gpt-4.1-nano": Price(input=0.1, output=0.4),
    "o3": Price(input=2.0, output=8.0),
    "o3-mini": Price(input=1.1, output=4.4),
    "o4-mini": Price(input=1.1, output=4.4),
    "gemini-2.5-pro": Price(input=1.25, output=10.0),
    "gemini-2.5-flash": Price(input=0.3, output=2.5),
}

#: Agent types that run locally and spend no money.
FREE_TYPES = frozenset({AgentType.OLLAMA, AgentType.SHELL, AgentType.INTERACTIVE})

_FREE = Price(input=0.0, output=0.0)
# What may follow a base name: dates (-20250929, -2024-08-06, @20250929), -latest, Bedrock's -v1:0.
_SUFFIX = re.compile(r"(?:[-@](?:\d{8}|\d{4}-\d{2}-\d{2}|latest|v\d+(?::\d+)?))+")


def find_price(model: str | None, table: Mapping[str, Price]) -> Price | None:
    """The entry of ``table`` for ``model``: exact (ignoring case and a ``vendor/`` prefix), or base + date suffix."""
    if not model:
        return None
    folded = {name.casefold(): price for name, price in table.items()}
    name = model.strip().casefold().rsplit("/", 1)[-1]
    if name in folded:
        return folded[name]
    for base in sorted(folded, key=len, reverse=True):
        if name.startswith(base) and _SUFFIX.fullmatch(name[len(base):]):
            return folded[base]
    return None


def price_for(model: str | None, config: AgentConfig | None = None, plan_pricing: Mapping[str, Price] | None = None) -> Price | None:
    """The price that applies to ``model`` run by an agent with ``config``; None when unknown."""
    if config is not None and config.type in FREE_TYPES:
        base: Price | None = _FREE
    else:
        base = find_price(model, plan_pricing or {}) or find_price(model, DEFAULT_PRICES)
    own_input = config.price_input if config is not None else None
    own_output = config.price_output if config is not None else None
    price_input = own_input if own_input is not None else (base.input if base else None)
    price_output = own_output if own_output is not None else (base.output if base else None)
    if price_input is None or price_output is None:
        return None
    return Price(input=price_input, output=price_output)


def cost_usd(
    model: str | None,
    input_tokens: int | None,
    output_tokens: int | None,
    config: AgentConfig | None = None,
    plan_pricing: Mapping[str, Price] | None = None,
) -> float | None:
    """USD for a run's tokens, or None when the price or the token counts are unknown."""
    price = price_for(model, config, plan_pricing)
    if price is None or input_tokens is None or output_tokens is None:
        return None
    return (input_tokens * price.input + output_tokens * price.output) / 1_000_000


def format_cost(cost: float | None) -> str:
    """``$0.0123`` for reports, or ``unknown`` when there is no price (never a misleading ``$0``)."""
    if cost is None:
        return "unknown"
    return f"${cost:.4f}" if cost < 1 else f"${cost:,.2f}"
