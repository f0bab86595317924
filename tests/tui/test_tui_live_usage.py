"""The tokens and cost of a run another process owns show while it runs (issue 10): the header's totals, the
running card and the detail's run line, from the run's files; once it ends, the totals are the journal's,
counted once whichever of the run's end and the journal's entry a face catches up with first. A real model
server on 127.0.0.1 streams slowly; a detached driver (a real process) runs the task."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestra_tui.engine.driver import start_driver
from orchestra_tui.engine.project import Project
from orchestra_tui.tui.app import OrchestraApp
from orchestra_tui.tui.session import Session
from orchestra_tui.tui.widgets.header import ProjectHeader

from ..helpers.fakeserver import FakeServer, Reply
from ..helpers.plans import claude_plan
from ..helpers.streams import KEY, SSE, anthropic_held
from ..helpers.tui import SIZE, app_on, board
from ..helpers.waits import RUN_START, until, wait_for
from .test_tui_first_hour import detail_text

LIVE_COST = "$0.0036"  # 1,200 in and 1 out at claude-sonnet-4-5's price, as the header and a card say it
FINAL_COST = "$0.0081"  # 1,200 in and 300 out


@pytest.fixture
def held_run(server: FakeServer, tmp_path: Path) -> Iterator[tuple[Path, threading.Event]]:
    """A project whose task ``A`` runs in a driver of its own, on a stream that has reported its input tokens and
    waits for the event before it ends (set at the end whatever happens; the driver is stopped by conftest)."""
    root = tmp_path / "p"
    claude_plan(root, server.url)
    gate = threading.Event()
    server.reply(Reply(200, SSE, anthropic_held(gate, input_tokens=1200, output_tokens=300)))
    start_driver(root, only=["A"], env={**os.environ, "ANTHROPIC_API_KEY": KEY})
    yield root, gate
    gate.set()


def card_note(app: OrchestraApp) -> str:
    """The second line of A's card while it is in Running ("" elsewhere)."""
    view = board(app)
    return view.columns["running"].get_cell("A", "title").note if view.column_of("A") == "running" else ""


def committed(root: Path) -> tuple[str, int | None, float | None]:
    with Project.open(root, repair=False) as project:
        task = project.task("A")
    tokens = None if task.input_tokens is None else task.input_tokens + (task.output_tokens or 0)
    return task.status.value, tokens, task.cost_usd


async def test_the_header_card_and_detail_show_a_foreign_runs_cost_while_it_runs(
    held_run: tuple[Path, threading.Event], tmp_path: Path
) -> None:
    root, gate = held_run
    app = app_on(root, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        header = app.query_one(ProjectHeader)
        await until(pilot, lambda: LIVE_COST in str(header.render()), "the run's cost so far in the header", RUN_START)
        assert "1,201 tokens" in str(header.render()) and committed(root)[0] == "in_progress"
        await until(pilot, lambda: LIVE_COST in card_note(app), "the cost on the running card", 5)
        await until(pilot, lambda: "1,200 in / 1 out · $0.0036" in detail_text(app), "the run's usage in the detail", 5)
        gate.set()
        await until(pilot, lambda: FINAL_COST in str(header.render()), "the run's final cost", RUN_START)
        await until(pilot, lambda: committed(root)[0] == "review" and not app.session.usage, "the end caught up", 5)
        assert app.session.figures()["cost_usd"] == committed(root)[2] and "1,500 tokens" in str(header.render())


async def test_a_runs_tokens_are_counted_once_whichever_a_face_catches_up_with_first(
    held_run: tuple[Path, threading.Event],
) -> None:
    """One face reads the journal's entry before the run's end line, the other the end line first: both show
    the run's tokens once at every step, and the journal's totals at the end."""
    root, gate = held_run
    journal_first, end_first = Session.open(root), Session.open(root)
    try:

        def look(session: Session) -> int | None:
            session.watch_runs()
            session.messages(session.subscription.drain())
            return session.figures()["tokens"]

        wait_for(lambda: look(journal_first) == 1201 and look(end_first) == 1201, "the live tokens in both", 30)
        journal_first.refresh()
        end_first.refresh()  # both know the run began
        assert look(journal_first) == look(end_first) == 1201
        gate.set()
        wait_for(lambda: committed(root)[0] == "review", "the run's end committed", 30)
        journal_first.refresh()  # the entry, not yet the run's end line
        assert journal_first.figures()["tokens"] == 1500
        wait_for(lambda: look(end_first) and not end_first.watcher.runs, "the run's end line", 10)
        assert end_first.figures()["tokens"] == 1500  # its last usage line, the entry not caught up with
        end_first.refresh()
        assert look(journal_first) == look(end_first) == 1500 == committed(root)[1]
        assert journal_first.figures()["cost_usd"] == end_first.figures()["cost_usd"] == committed(root)[2]
        assert journal_first.usage == end_first.usage == {}
    finally:
        await journal_first.close()
        await end_first.close()
