"""The autopilot (issue 10): ``A`` (and "Run until done" in the palette) drives the plan to the end with the
engine's own loop (``Scheduler.drive``, which ``orchestra run`` uses too); the header says it is on. Runs are
the real shell agent on copies of the demo in tmp_path.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual.app import App, ComposeResult
from textual.pilot import Pilot

from orchestra_tui.tui import bindings
from orchestra_tui.tui.app import OrchestraApp
from orchestra_tui.tui.widgets.header import ProjectHeader

from ..helpers.plans import task_block, write_plan
from ..helpers.tui import app_on
from ..helpers.waits import RUN_START, until

SIZE = (120, 40)


def notes(app: OrchestraApp) -> list[str]:
    return [notification.message for notification in app._notifications]


def header(app: OrchestraApp) -> str:
    return str(app.query_one(ProjectHeader).render())


def statuses(app: OrchestraApp) -> set[str]:
    return {task.status.value for task in app.session.project.tasks.values()}


async def test_one_press_of_A_finishes_the_demo(demo_dir: Path, tmp_path: Path) -> None:
    app = app_on(demo_dir, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert "autopilot" not in header(app)
        await pilot.press("A")
        await until(pilot, lambda: statuses(app) == {"completed"}, "the ten tasks completed", timeout=60)
        await until(
            pilot, lambda: any(n.startswith("autopilot done: 10 runs: 10 completed") for n in notes(app)), "done"
        )
        assert "autopilot" not in header(app) and not app.autopilot
        assert len(app.session.project.tasks) == 10
        assert not any(n.startswith("dispatched") for n in notes(app))  # no other key was pressed


async def test_the_help_lists_A(demo_dir: Path, tmp_path: Path) -> None:
    app = app_on(demo_dir, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        rows = [row for _, section in app.help_sections() for row in section]
        assert ("A", "Run until done [autopilot]", bindings.HELP["autopilot"]) in rows


async def _palette(pilot: Pilot, app: OrchestraApp, text: str) -> None:
    await pilot.press("ctrl+p")
    await pilot.press(*text)
    await pilot.pause(0.3)
    await pilot.press("enter")


async def test_run_until_done_from_the_palette_shows_in_the_header_and_A_again_stops_dispatching_not_the_runs(
    tmp_path: Path,
) -> None:
    """A waits for a file; B needs A. Switched off while A runs: A still ends, B is not started."""
    root = tmp_path / "p"
    plan = write_plan(
        root,
        task_block("A", commands=["while [ ! -f go ]; do sleep 0.02; done; echo A done"])
        + task_block("B", ["A"], commands=["echo B"]),
    )
    plan.write_text(plan.read_text().replace('name = "Test"\n', 'name = "Test"\nauto_complete = true\n'))
    app = app_on(root, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await _palette(pilot, app, "Run until done")
        await until(pilot, lambda: app.session.running_here("A") and "autopilot" in header(app), "A running", RUN_START)
        await pilot.press("A")
        await until(pilot, lambda: "autopilot" not in header(app), "the autopilot off")
        assert app.session.running_here("A")
        (root / "go").touch()
        await until(pilot, lambda: app.session.project.tasks["A"].status.value == "completed", "A ends", timeout=10)
        await pilot.pause(0.3)
        assert app.session.project.tasks["B"].status.value == "pending" and not app.session.running()
        assert "autopilot off: the runs going carry on" in notes(app)


FIGURES: dict[str, Any] = {
    "completion_percentage": 30,
    "completed_tasks": 3,
    "total_tasks": 10,
    "hours_done": 4.5,
    "hours_total": 15,
    "running": 3,
    "by_status": {},
    "tokens": None,
    "cost_usd": None,
}


class HeaderApp(App[None]):
    """The header alone, as the app draws it with the autopilot on."""

    def compose(self) -> ComposeResult:
        yield ProjectHeader(id="header")

    def on_mount(self) -> None:
        views = [("board", "1", "Board"), ("dag", "2", "DAG"), ("timeline", "3", "Timeline"), ("table", "4", "Table")]
        self.query_one(ProjectHeader).show("wordfreq: a word-frequency CLI", FIGURES, views, "board", autopilot=True)


def test_the_header_with_the_autopilot_on(snap_compare: Callable[..., bool]) -> None:
    assert snap_compare(HeaderApp(), terminal_size=(120, 3))
