"""SVG snapshots (pytest-textual-snapshot) of the board, the DAG (whole and focused), the timeline (scrubber and
list), the table, an output pane (following, and searched), the help screen and the dialogs (confirm, reason,
rollback) on the demo, at 120x40 and 80x24 (the board at 60x24 too). Every 80x24 one shows the narrow footer.

The app is built by ``create_app``, the factory the CLI uses, on a copy of the demo in which DES-001 was
started and completed (so the board has a Done column, the DAG a finished node and the timeline a history).
What could differ between runs or machines is pinned: every time the engine writes is one fixed instant,
the local zone is UTC, NO_COLOR is unset, the config directory is an empty one in tmp_path (so the default
theme), and no path is drawn (the header shows the project's name; no run has been made, so no run id).
``--snapshot-update`` rewrites ``__snapshots__/``; look at the SVGs before committing them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import cast

import pytest
from textual.pilot import Pilot

from orchestra_tui.engine import transitions
from orchestra_tui.engine.project import Project
from orchestra_tui.store import store
from orchestra_tui.tui.app import OrchestraApp, create_app
from orchestra_tui.tui.screens.dialogs import ConfirmDialog, ReasonDialog
from orchestra_tui.tui.screens.help import HelpScreen
from orchestra_tui.tui.screens.rollback import ConfirmRollback
from orchestra_tui.tui.widgets.dag import DagCanvas
from orchestra_tui.tui.widgets.output import OutputPanes
from orchestra_tui.tui.widgets.table import TableView
from orchestra_tui.tui.widgets.timeline import TimelineView

from ..helpers.waits import until

INSTANT = "2025-01-15T09:30:00.000+00:00"
SIZES = {"120x40": (120, 40), "80x24": (80, 24)}
NEXT_TASK = "DES-002"  # the recommended next task once DES-001 is done: selected when the app opens


@pytest.fixture
def steady(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every time stamp the engine writes is ``INSTANT``, local time is UTC, and colours are on (NO_COLOR unset)."""
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setattr(store, "now_iso", lambda: INSTANT)
    monkeypatch.setattr(transitions, "_now", lambda: INSTANT)
    saved = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = saved
        time.tzset()


@pytest.fixture
def demo_app(demo_dir: Path, tmp_path: Path, steady: None) -> OrchestraApp:
    with Project.open(demo_dir, actor="cli") as project:
        project.start("DES-001")
        project.complete("DES-001")
    return create_app(demo_dir, config_dir=tmp_path / "config")


async def started(pilot: Pilot[None]) -> OrchestraApp:
    """The app once its first messages are handled, with the recommended next task selected. (A key pressed
    before then can leave another ready task selected, depending on the order the board added its rows.)"""
    app = cast(OrchestraApp, pilot.app)
    await pilot.pause()
    await until(pilot, lambda: app.focused is not None, "the board has the focus")
    assert app.selected == NEXT_TASK
    return app


async def show_board(pilot: Pilot[None]) -> None:
    await started(pilot)


async def show_dag(pilot: Pilot[None]) -> None:
    app = await started(pilot)
    await pilot.press("2")
    await until(pilot, lambda: app.view == "dag", "the DAG is on show")
    assert app.selected == NEXT_TASK


async def show_timeline(pilot: Pilot[None]) -> None:
    """The timeline one entry back from the end, so that the preview has a diff against now to show."""
    app = await started(pilot)
    await pilot.press("3", "left")
    timeline = app.query_one(TimelineView)
    await until(pilot, lambda: timeline.cursor == 1 and timeline.diff_lines is not None, "the diff of entry 2")


async def show_table(pilot: Pilot[None]) -> None:
    app = await started(pilot)
    await pilot.press("4")
    table = app.query_one(TableView)
    await until(pilot, lambda: app.view == "table" and len(table.rows()) == 10, "the table is on show")


async def show_dag_focus(pilot: Pilot[None]) -> None:
    """The DAG focused on the selected task (space): it, its dependencies and dependants, titled boxes."""
    app = await started(pilot)
    await pilot.press("2", "space")
    await until(pilot, lambda: app.query_one(DagCanvas).focus_depth == 1, "the focus")
    await pilot.pause()


async def show_output_search(pilot: Pilot[None]) -> None:
    """An output pane (text given to it, as the engine's events would) searched for "warning": matches marked."""
    app = await started(pilot)
    panes = app.query_one(OutputPanes)
    panes.run_started("run-1", NEXT_TASK, "shell", NEXT_TASK)
    lines = [f"step {n}: " + ("warning: slow disk" if n % 7 == 3 else "ok") for n in range(40)]
    panes.append("run-1", NEXT_TASK, "\n".join(lines) + "\n")
    await until(pilot, lambda: panes.current is not None and panes.tabs.active == panes.current.tab_id, "the pane")
    await pilot.press("o", "g", "slash", *"warning", "enter")  # from the top: searches go down from the view
    count = panes.query_one("#output-search-count")
    await until(pilot, lambda: "1/6" in str(count.visual), "the first match")
    await pilot.pause()


async def show_output(pilot: Pilot[None]) -> None:
    """An output pane following the end of a run's text (more lines than fit)."""
    app = await started(pilot)
    panes = app.query_one(OutputPanes)
    panes.run_started("run-1", NEXT_TASK, "shell", NEXT_TASK)
    panes.append("run-1", NEXT_TASK, "".join(f"step {n}: ok\n" for n in range(60)))
    await until(pilot, lambda: panes.current is not None and panes.tabs.active == panes.current.tab_id, "the pane")
    await pilot.press("o")
    await pilot.pause()


async def show_help(pilot: Pilot[None]) -> None:
    app = await started(pilot)
    await pilot.press("question_mark")
    await until(pilot, lambda: isinstance(app.screen, HelpScreen), "the help screen")
    await pilot.pause()


async def show_confirm(pilot: Pilot[None]) -> None:
    """The yes/no dialog, with the question ``x`` asks about a task running here."""
    app = await started(pilot)
    app.push_screen(ConfirmDialog(f"Stop the run of {NEXT_TASK} and cancel the task?", "Its output so far is kept."))
    await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the dialog")
    await pilot.pause()


async def show_reason(pilot: Pilot[None]) -> None:
    """The one-line question ``f`` asks."""
    app = await started(pilot)
    app.push_screen(ReasonDialog(f"Why did {NEXT_TASK} fail?", "the reason is kept with the task"))
    await until(pilot, lambda: isinstance(app.screen, ReasonDialog), "the dialog")
    await pilot.pause()


async def show_rollback(pilot: Pilot[None]) -> None:
    """Rolling back from the timeline: the dialog lists what would change."""
    app = await started(pilot)
    await pilot.press("3", "left", "enter")
    await until(
        pilot, lambda: isinstance(app.screen, ConfirmRollback) and app.screen.changes is not None, "the changes"
    )
    await pilot.pause()


VIEWS: dict[str, Callable[[Pilot[None]], Awaitable[None]]] = {
    "board": show_board,
    "dag": show_dag,
    "timeline": show_timeline,
    "table": show_table,
    "dag_focus": show_dag_focus,
    "output_search": show_output_search,
    "output": show_output,
    "help": show_help,
    "confirm": show_confirm,
    "reason": show_reason,
    "rollback": show_rollback,
}


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("view", VIEWS)
def test_view(view: str, size: str, demo_app: OrchestraApp, snap_compare: Callable[..., bool]) -> None:
    assert snap_compare(demo_app, terminal_size=SIZES[size], run_before=VIEWS[view])


def test_the_board_as_one_list_at_60x24(demo_app: OrchestraApp, snap_compare: Callable[..., bool]) -> None:
    """Issue 14 item 10: below the width where cards keep 20 characters of title, one list grouped by status."""
    assert snap_compare(demo_app, terminal_size=(60, 24), run_before=show_board)
