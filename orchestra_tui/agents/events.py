"""What an agent run yields, in order: text as it arrives, usage, attempts, and one final event.

A run's stream always ends with exactly one ``Finished`` or ``Failed``. Text deltas are never repeated: an
HTTP agent retries only before any text was yielded, and a coding-agent CLI's own retries (of one request
in its conversation) repeat nothing it printed.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of the answer. ``raw``: the bytes a program wrote, when it wrote bytes (``output.txt`` keeps them
    exactly; ``text`` is their decoding, for display, and may be empty while a character is incomplete)."""

    text: str
    raw: bytes | None = None


@dataclass(frozen=True, slots=True)
class UsageUpdate:
    """Totals so far for the run (not increments). None means the provider did not say.

    ``input_tokens`` counts every prompt token, cached ones included; ``cache_read_tokens`` and
    ``cache_write_tokens`` are the parts of it read from / written to a prompt cache (priced at the cache
    rates). ``cost_usd`` is the cost the provider itself reported (Claude Code's ``total_cost_usd``,
    OpenRouter's and LiteLLM's ``usage.cost``): it wins over the built-in price table but not over a price
    the plan sets (see :func:`~orchestra_tui.agents.pricing.run_cost`).
    """

    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None
    cache_read_tokens: int | None = None
    cache_write_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class Retrying:
    """An attempt failed in a way worth retrying; the next starts after ``delay`` seconds (None: the program
    that retries, a coding-agent CLI, did not say)."""

    attempt: int
    delay: float | None
    reason: str


@dataclass(frozen=True, slots=True)
class Finished:
    """The run succeeded. ``text`` is the whole answer, or None when the answer is simply all the text the run
    streamed (a program's output, which can be any size: the runner has it on disk, so the agent does not
    keep it); ``handoff`` means a person now has the task."""

    text: str | None = None
    stop_reason: str | None = None
    handoff: bool = False


@dataclass(frozen=True, slots=True)
class Failed:
    """The run failed; ``message`` is one line for the user (never a key, never a traceback)."""

    message: str
    # auth | quota | rate_limit | overloaded | server | timeout | connection | protocol | cancelled | exit | error,
    # interrupted (a remote run's node or worker died),
    # or how a model's answer ended badly: truncated | refused | tool_call | stopped | empty
    kind: str = "error"


AgentEvent = TextDelta | UsageUpdate | Retrying | Finished | Failed


class TextBuffer:
    """The text of a model's answer so far, for its ``Finished``: one bytearray, however many pieces arrive.

    A list of the pieces (and ``io.StringIO``, which accumulates into a list) keeps one object per piece,
    and every full garbage-collection pass visits them all: with a long run streaming, that pause grows
    until it is felt in the app's key presses.
    """

    __slots__ = ("_data",)

    def __init__(self) -> None:
        self._data = bytearray()

    def write(self, text: str) -> None:
        self._data += text.encode("utf-8", "surrogatepass")

    def __bool__(self) -> bool:
        return bool(self._data)

    def getvalue(self) -> str:
        return self._data.decode("utf-8", "surrogatepass")
