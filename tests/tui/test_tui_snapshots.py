"""SVG snapshots (pytest-textual-snapshot) of the board, the DAG, the timeline and the table on the demo, at 120x40 and 80x24.

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


VIEWS: dict[str, Callable[[Pilot[None]], Awaitable[None]]] = {
    "board": show_board,
    "dag": show_dag,
    "timeline": show_timeline,
    "table": show_table,
}


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("view", VIEWS)
def test_view(view: str, size: str, demo_app: OrchestraApp, snap_compare: Callable[..., bool]) -> None:
    assert snap_compare(demo_app, terminal_size=SIZES[size], run_before=VIEWS[view])
