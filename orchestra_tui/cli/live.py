"""What ``orchestra execute`` and ``orchestra run`` show while runs go: consumers of the engine's bus.

``execute`` writes the agent's text to stdout exactly as it arrives (so ``orchestra execute T > file`` keeps
just the answer); notes (retries, the outcome) go to stderr. ``run`` on a terminal shows a rich live view:
one line per running task (id, title, agent, elapsed time, its latest line of output) above an overall
progress bar, with a line printed for every task that ends; piped, it prints those lines only.
"""

from __future__ import annotations

import asyncio
import sys
import time
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING

from rich.text import Text

from ..agents.pricing import format_cost
from ..engine.bus import (
    EngineError,
    RunEnded,
    RunOutput,
    RunRetry,
    RunStarted,
    RunUsage,
    Subscription,
)
from ..formatting import elapsed, tokens_line
from . import render

if TYPE_CHECKING:
    from rich.console import Console, RenderableType

    from ..engine.project import Project
    from ..engine.runner import RunResult

REFRESH = 0.1  # seconds between two refreshes of the live view


def usage_line(result: RunResult) -> str:
    parts = [elapsed(result.duration_seconds)]
    if result.input_tokens is not None or result.output_tokens is not None:
        parts.append(f"{tokens_line(result.input_tokens, result.output_tokens)} tokens")
    if result.cost_usd or (result.cost_usd is None and result.output_tokens is not None):
        parts.append(format_cost(result.cost_usd))
    return ", ".join(parts)


# ------------------------------------------------------------------------------------- execute


async def stream_text(subscription: Subscription, out: IO[str] | None = None, err: IO[str] | None = None) -> None:
    """Write every run's text to ``out`` as it arrives and its retries to ``err``, until the subscription closes.

    Ends with a newline on ``out`` when the text did not, so the notes that follow start on a line of their own."""
    out = out or sys.stdout
    err = err or sys.stderr
    last = "\n"
    async for event in subscription:
        if isinstance(event, RunOutput) and event.text:
            out.write(event.text)
            out.flush()
            last = event.text[-1]
        elif isinstance(event, RunRetry):
            err.write(f"{event.retrying} (attempt {event.attempt + 1}): {event.reason}\n")
            err.flush()
    if last != "\n":
        out.write("\n")
        out.flush()


# ------------------------------------------------------------------------------------------ run


@dataclass
class _Running:
    task_id: str
    title: str
    agent: str
    started: float = field(default_factory=time.monotonic)
    line: str = ""
    tokens: int | None = None


class RunView:
    """The live progress of ``orchestra run``, fed from a bus subscription by :meth:`follow`."""

    def __init__(self, project: Project, total: int, console: Console | None = None) -> None:
        self.project = project
        self.total = total
        self.console = console or render.console()
        self.live = self.console.is_terminal
        self.running: dict[str, _Running] = {}
        self.ended: dict[str, int] = {}
        self._lines: list[Text] = []  # piped: the lines of the events at hand, printed together by ``_flush``

    def _started(self, event: RunStarted) -> None:
        task = self.project.tasks.get(event.task_id)
        self.running[event.run_id] = _Running(event.task_id, task.title if task else "", event.agent)
        if not self.live:
            self._say(Text(f"started {event.task_id} ({event.agent})"))

    def _ended(self, event: RunEnded) -> None:
        running = self.running.pop(event.run_id, None)
        took = f" in {elapsed(event.seconds)}" if event.seconds else ""
        if running and not event.seconds:
            took = f" in {elapsed(time.monotonic() - running.started)}"
        self.ended[event.status] = self.ended.get(event.status, 0) + 1
        line = Text.assemble(render.status_text(event.status), f" {event.task_id}{took}")
        if event.handoff:
            line.append(": handed to you; `orchestra complete` it when done", style="dim")
        elif event.error:
            line.append(f": {event.error}", style="red")
        self._say(line)

    def _say(self, line: Text) -> None:
        """Print a line: at once above the live view; piped, with the others of the events at hand (one print per
        batch: Rich's cost per print, ~0.3 ms, was most of what following 2,000 instant runs cost)."""
        if self.live:
            self.console.print(line, highlight=False)
        else:
            self._lines.append(line)

    def _flush(self) -> None:
        if self._lines:
            lines, self._lines = self._lines, []
            self.console.print(Text("\n").join(lines), highlight=False)

    def handle(self, event: object) -> None:
        if isinstance(event, RunStarted):
            self._started(event)
        elif isinstance(event, RunEnded):
            self._ended(event)
        elif isinstance(event, RunOutput) and event.source == "agent":
            running = self.running.get(event.run_id)
            if running is not None:
                lines = [line for line in event.text.splitlines() if line.strip()]
                if lines:
                    running.line = lines[-1].strip()
        elif isinstance(event, RunUsage):
            running = self.running.get(event.run_id)
            if running is not None and event.output_tokens is not None:
                running.tokens = event.output_tokens
        elif isinstance(event, RunRetry) and not self.live:
            self._say(Text(f"{event.task_id}: {event.retrying}: {event.reason}"))
        elif isinstance(event, EngineError):
            self._say(Text(f"error: {event.message}", style="red"))

    def renderable(self) -> RenderableType:
        from rich.console import Group
        from rich.progress_bar import ProgressBar
        from rich.table import Table

        table = Table.grid(padding=(0, 1), expand=True)
        table.add_column(no_wrap=True)
        table.add_column(no_wrap=True, max_width=32, overflow="ellipsis")
        table.add_column(no_wrap=True, style="dim")
        table.add_column(no_wrap=True, justify="right")
        table.add_column(no_wrap=True, overflow="ellipsis", ratio=1, style="dim")
        now = time.monotonic()
        for running in self.running.values():
            tokens = f" {running.tokens:,} tok" if running.tokens else ""
            table.add_row(
                Text(f"▶ {running.task_id}", style="bold cyan"),
                running.title,
                running.agent,
                elapsed(now - running.started) + tokens,
                running.line,
            )
        done = sum(self.ended.values())
        bar = ProgressBar(total=max(self.total, 1), completed=min(done, self.total), width=30)
        counts = " · ".join(f"{count} {status.replace('_', ' ')}" for status, count in sorted(self.ended.items()))
        footer = Table.grid(padding=(0, 1))
        footer.add_row(
            bar,
            Text(f"{done}/{self.total} runs ended · {len(self.running)} running" + (f" · {counts}" if counts else "")),
        )
        return Group(table, footer)

    async def follow(self, subscription: Subscription) -> None:
        """Show events until the subscription closes (then everything it held has been shown)."""
        if not self.live:
            while True:
                try:
                    first = await subscription.get()
                except EOFError:
                    return
                for event in [first, *subscription.drain()]:
                    self.handle(event)
                self._flush()
        from rich.live import Live

        with Live(self.renderable(), console=self.console, auto_refresh=False, transient=True) as live:
            closed = False
            due = time.monotonic() + REFRESH
            while not closed:
                try:
                    self.handle(await asyncio.wait_for(subscription.get(), max(0.0, due - time.monotonic())))
                    for event in subscription.drain():
                        self.handle(event)
                except TimeoutError:
                    pass
                except EOFError:
                    closed = True
                if closed or time.monotonic() >= due:  # at most one redraw per REFRESH, however fast events come
                    live.update(self.renderable(), refresh=True)
                    due = time.monotonic() + REFRESH
