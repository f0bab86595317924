"""``orchestra run``'s piped view (cli/live.py): the lines of events that arrive together are printed together,
each in the order its event came, and none is lost when the subscription closes."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

from rich.console import Console

from orchestra_tui.cli.live import RunView
from orchestra_tui.engine.bus import Bus, EngineError, RunEnded, RunRetry, RunStarted
from orchestra_tui.engine.project import Project

from ..helpers.plans import task_block, write_plan


def test_piped_lines_come_in_event_order_one_print_per_batch(tmp_path: Path) -> None:
    write_plan(tmp_path, task_block("A", commands=["true"]) + task_block("B", commands=["false"]))
    out = io.StringIO()
    console = Console(file=out, width=160, markup=False, highlight=False, force_terminal=False)
    prints = 0
    original = console.print

    def counted(*args: object, **kwargs: object) -> None:
        nonlocal prints
        prints += 1
        original(*args, **kwargs)  # type: ignore[arg-type]

    console.print = counted  # type: ignore[method-assign]
    bus = Bus()
    subscription = bus.subscribe()
    with Project.open(tmp_path) as project:
        view = RunView(project, 2, console=console)
        assert not view.live
        for event in (
            RunStarted("r1", "A", "shell"),
            RunStarted("r2", "B", "shell"),
            RunRetry("r2", "B", 1, 0.5, "busy [later]"),
            RunEnded("r1", "A", "completed", seconds=0.2),
            RunEnded("r2", "B", "failed", "command 1 of 1 exited with 1: false", seconds=0.3),
        ):
            bus.publish(event)
        subscription.close()
        asyncio.run(view.follow(subscription))
        other = Bus()
        late = other.subscribe()  # one event, then closed: printed before follow returns
        other.publish(EngineError("the journal is full"))
        late.close()
        asyncio.run(view.follow(late))
    assert out.getvalue().splitlines() == [
        "started A (shell)",
        "started B (shell)",
        "B: retrying in 0.5 s: busy [later]",
        "✓ completed A in 0.2 s",
        "✗ failed B in 0.3 s: command 1 of 1 exited with 1: false",
        "error: the journal is full",
    ]
    assert prints == 2  # the five events at hand in one print, the last one in another
