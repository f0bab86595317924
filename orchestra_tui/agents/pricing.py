"""What a run cost: USD per million input/output tokens (and cached prompt tokens), by model.

Order (:func:`run_cost`): the agent's own ``price_*`` keys, then the plan's ``[pricing."MODEL"]`` table,
then the cost the server reported for the run (LiteLLM's and OpenRouter's ``usage.cost``, Claude Code's
``total_cost_usd``), then :data:`DEFAULT_PRICES`. A price a person set wins over everything; a server's
own figure knows discounts a table cannot. A model name with a date or version suffix
(``claude-sonnet-4-5-20250929``, ``gpt-4o-2024-08-06``, ``claude-sonnet-4-5@20250929``) or a router
prefix (``openai/gpt-4o``) finds its base entry. An unknown model has an unknown cost (``None``), never a
made-up 0. Local agents (``ollama``, ``shell``, ``interactive``) cost nothing.

Cached prompt tokens are part of the input tokens; those read from or written to a prompt cache are
priced at ``cache_read`` / ``cache_write`` (the input price when a price leaves them out).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from ..models import AgentConfig, AgentType, Price
from .events import UsageUpdate


def _price(input: float, output: float, cache_read: float, cache_write: float | None = None) -> Price:
    return Price(
        input=input, output=output, cache_read=cache_read, cache_write=input if cache_write is None else cache_write
    )


#: List prices in USD per million tokens (standard tier; Gemini 2.5 Pro for prompts up to 200k tokens),
#: taken from the providers' pricing pages in November 2025: input, output, cache read, cache write
#: (Anthropic's 5-minute cache write is 1.25x input; OpenAI and Gemini charge no more than input for it).
#: Override any of them in the plan's ``[pricing."MODEL"]`` table or with an agent's ``price_*`` keys.
DEFAULT_PRICES: dict[str, Price] = {
    "claude-opus-4-1": _price(15.0, 75.0, 1.5, 18.75),
    "claude-opus-4": _price(15.0, 75.0, 1.5, 18.75),
    "claude-sonnet-4-5": _price(3.0, 15.0, 0.3, 3.75),
    "claude-sonnet-4": _price(3.0, 15.0, 0.3, 3.75),
    "claude-haiku-4-5": _price(1.0, 5.0, 0.1, 1.25),
    "claude-3-5-haiku": _price(0.8, 4.0, 0.08, 1.0),
    "gpt-4o": _price(2.5, 10.0, 1.25),
    "gpt-4o-mini": _price(0.15, 0.6, 0.075),
    "gpt-4.1": _price(2.0, 8.0, 0.5),
    "gpt-4.1-mini": _price(0.4, 1.6, 0.1),
    "gpt-4.1-nano": _price(0.1, 0.4, 0.025),
    "o3": _price(2.0, 8.0, 0.5),
    "o3-mini": _price(1.1, 4.4, 0.55),
    "o4-mini": _price(1.1, 4.4, 0.275),
    "gemini-2.5-pro": _price(1.25, 10.0, 0.125),
    "gemini-2.5-flash": _price(0.3, 2.5, 0.03),
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
        if name.startswith(base) and _SUFFIX.fullmatch(name[len(base) :]):
            return folded[base]
    return None


def _own(config: AgentConfig | None) -> dict[str, float]:
    """The price keys the agent itself sets."""
    if config is None:
        return {}
    own = {
        "input": config.price_input,
        "output": config.price_output,
        "cache_read": config.price_cache_read,
        "cache_write": config.price_cache_write,
    }
    return {name: value for name, value in own.items() if value is not None}


def _chosen(
    model: str | None, config: AgentConfig | None, plan_pricing: Mapping[str, Price] | None
) -> tuple[Price | None, bool]:
    """(the price for ``model``, whether a person set it: the agent's keys or the plan's table)."""
    if config is not None and config.type in FREE_TYPES:
        return _FREE.model_copy(update=_own(config)), True
    planned = find_price(model, plan_pricing or {})
    base = planned or find_price(model, DEFAULT_PRICES)
    own = _own(config)
    if base is not None:
        return base.model_copy(update=own), bool(own) or planned is not None
    if "input" in own and "output" in own:
        return Price(**own), True
    return None, False


def price_for(
    model: str | None, config: AgentConfig | None = None, plan_pricing: Mapping[str, Price] | None = None
) -> Price | None:
    """The price that applies to ``model`` run by an agent with ``config``; None when unknown."""
    return _chosen(model, config, plan_pricing)[0]


def priced(price: Price, usage: UsageUpdate) -> float | None:
    """USD for ``usage`` at ``price``; None when the input or output count is unknown."""
    if usage.input_tokens is None or usage.output_tokens is None:
        return None
    read, written = usage.cache_read_tokens or 0, usage.cache_write_tokens or 0
    fresh = max(usage.input_tokens - read - written, 0)
    read_rate = price.input if price.cache_read is None else price.cache_read
    write_rate = price.input if price.cache_write is None else price.cache_write
    return (
        fresh * price.input + read * read_rate + written * write_rate + usage.output_tokens * price.output
    ) / 1_000_000


def run_cost(
    model: str | None,
    usage: UsageUpdate,
    config: AgentConfig | None = None,
    plan_pricing: Mapping[str, Price] | None = None,
) -> float | None:
    """A run's cost from its usage so far (``usage.cost_usd``: what the server reported), in the module's order."""
    if config is not None and config.type in FREE_TYPES and not _own(config):
        return 0.0  # whatever it reported
    price, by_person = _chosen(model, config, plan_pricing)
    if price is not None and by_person:
        return priced(price, usage)
    if usage.cost_usd is not None:
        return usage.cost_usd
    return None if price is None else priced(price, usage)


def cost_usd(
    model: str | None,
    input_tokens: int | None,
    output_tokens: int | None,
    config: AgentConfig | None = None,
    plan_pricing: Mapping[str, Price] | None = None,
) -> float | None:
    """USD for a run's tokens (none of them cached), or None when the price or the token counts are unknown."""
    return run_cost(model, UsageUpdate(input_tokens, output_tokens), config, plan_pricing)


def format_cost(cost: float | None) -> str:
    """``$0.0123`` for reports, or ``unknown`` when there is no price (never a misleading ``$0``)."""
    if cost is None:
        return "unknown"
    return f"${cost:.4f}" if cost < 1 else f"${cost:,.2f}"


def format_total(cost: float | None, unpriced: int) -> str:
    """A total over runs: ``$0.4200``, ``$0.4200 + 3 unpriced``, ``unknown (3 unpriced)``, or ``none`` (no run
    has a cost yet)."""
    if cost is None:
        return f"unknown ({unpriced} unpriced)" if unpriced else "none"
    return format_cost(cost) + (f" + {unpriced} unpriced" if unpriced else "")
