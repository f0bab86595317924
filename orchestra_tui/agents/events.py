"""What an agent run yields, in order: text as it arrives, usage, attempts, and one final event.

A run's stream always ends with exactly one ``Finished`` or ``Failed``. Text deltas are never repeated:
a retry happens only before any text was yielded.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class UsageUpdate:
    """Totals so far for the run (not increments). None means the provider did not say.

    ``cost_usd`` is the cost the provider itself reported (Claude Code's ``total_cost_usd``, OpenRouter's
    ``usage.cost``): it includes prompt-cache pricing a price table cannot know, so it wins over the table.
    """

    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None


@dataclass(frozen=True, slots=True)
class Retrying:
    """An attempt failed in a way worth retrying; the next starts after ``delay`` seconds."""

    attempt: int
    delay: float
    reason: str


@dataclass(frozen=True, slots=True)
class Finished:
    """The run succeeded. ``text`` is the whole answer; ``handoff`` means a person now has the task."""

    text: str
    stop_reason: str | None = None
    handoff: bool = False


@dataclass(frozen=True, slots=True)
class Failed:
    """The run failed; ``message`` is one line for the user (never a key, never a traceback)."""

    message: str
    kind: str = "error"  # auth | quota | rate_limit | overloaded | server | timeout | connection | protocol | cancelled | exit | error


AgentEvent = TextDelta | UsageUpdate | Retrying | Finished | Failed
