"""Editing orchestra.toml while the app is open (issue 10): the board follows a saved edit within a second; a bad
edit is a notification and the last valid plan stays on show. The engine's ``PlanWatch`` does the watching
(real files, written in place and by rename as editors do); the app only shows what the bus says.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from textual.geometry import Region
from textual.widget import Widget

from orchestra_tui.engine.bus import Bus, HistoryAppended, PlanRejected
from orchestra_tui.engine.plan_watch import PlanWatch
from orchestra_tui.engine.project import Project
from orchestra_tui.tui.app import REFRESH, OrchestraApp
from orchestra_tui.tui.widgets.board import BoardView
from orchestra_tui.tui.widgets.detail import TaskDetail

from ..helpers.plans import task_block, write_plan
from ..helpers.tui import app_on, detail_text
from ..helpers.waits import until

SIZE = (120, 40)


def notes(app: OrchestraApp) -> list[str]:
    return [notification.message for notification in app._notifications]


def shown(widget: Widget) -> str:
    """The text a widget draws."""
    width, height = widget.size.width, max(widget.virtual_size.height, widget.size.height)
    return "\n".join(strip.text for strip in widget.render_lines(Region(0, 0, width, height)))


def save_by_rename(path: Path, text: str) -> None:
    """Save as vim and most editors do: a new file renamed over the old one."""
    temporary = path.with_name(path.name + ".swp")
    temporary.write_text(text)
    os.replace(temporary, path)


def two_tasks(root: Path) -> Path:
    return write_plan(root, task_block("A", commands=["echo A"]) + task_block("B", ["A"], commands=["echo B"]))


async def test_a_task_added_and_a_title_changed_in_the_plan_show_on_the_board_within_a_second(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ "Within a second" counted in the app's looks at the plan (one per ``REFRESH``), not read off a clock that a
    loaded machine slows: the edit shows within a second's worth of looks."""
    looks: list[None] = []
    check = PlanWatch.check

    def looked(watch: PlanWatch) -> bool:
        looks.append(None)
        return check(watch)

    monkeypatch.setattr(PlanWatch, "check", looked)
    plan = two_tasks(tmp_path / "p")
    app = app_on(tmp_path / "p", tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        board = app.query_one(BoardView)
        assert board.rows("ready") == ["A"]
        save_by_rename(plan, plan.read_text().replace('title = "Task A"', 'title = "Renamed A"') + task_block("C"))
        looks.clear()
        await until(pilot, lambda: "C" in board.rows("ready"), "the new task on the board", timeout=15)
        assert len(looks) >= 1 and len(looks) * REFRESH <= 1.0
        assert app.session.project.tasks["A"].title == "Renamed A"
        assert board.columns["ready"].get_row("A")[1].title == "Renamed A"  # the card's title
        await until(
            pilot,
            lambda: app.selected == "A" and "Renamed A" in detail_text(app.query_one(TaskDetail)),
            "the new title shown",
        )
        with plan.open("a") as handle:  # written in place, as some editors do
            handle.write(task_block("D", ["C"]))
        looks.clear()
        await until(pilot, lambda: "D" in app.session.project.tasks, "a task appended in place", timeout=15)
        assert len(looks) >= 1 and len(looks) * REFRESH <= 1.0


async def test_an_invalid_edit_is_a_notification_and_the_last_valid_plan_stays(tmp_path: Path) -> None:
    plan = two_tasks(tmp_path / "p")
    app = app_on(tmp_path / "p", tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        good = plan.read_text()
        save_by_rename(plan, good + task_block("C", ["nope"]) + "[[tasks]]\nid = 'E'\n")
        await until(
            pilot, lambda: any("the plan was not taken up" in n for n in notes(app)), "the problems", timeout=15
        )
        (note,) = [n for n in notes(app) if "the plan was not taken up" in n]
        assert "unknown task 'nope'" in note or 'unknown task "nope"' in note, note
        assert "orchestra.toml:" in note
        assert sorted(app.session.project.tasks) == ["A", "B"]  # the last valid plan
        assert app.query_one(BoardView).rows("ready") == ["A"]
        await pilot.pause(0.6)
        assert len([n for n in notes(app) if "not taken up" in n]) == 1  # said once, not on every look
        save_by_rename(plan, good + task_block("C"))  # fixed: taken up
        await until(pilot, lambda: "C" in app.session.project.tasks, "the fixed plan", timeout=15)


def test_plan_watch_publishes_a_bad_plan_once_and_takes_a_good_one_as_one_entry(tmp_path: Path) -> None:
    plan = two_tasks(tmp_path / "p")
    bus = Bus()
    with Project.open(tmp_path / "p", actor="tui") as project, bus.subscribe() as events:
        bus.watch(project)
        watch = PlanWatch(project, bus)
        assert watch.check() is False and events.drain() == []  # nothing changed: one stat per file
        save_by_rename(plan, plan.read_text() + "not toml [")
        assert watch.check() is False and events.drain() == []  # maybe half-written: not said yet
        assert watch.check() is False
        (rejected,) = events.drain()
        assert isinstance(rejected, PlanRejected) and "orchestra.toml" in rejected.problems[0]
        assert watch.check() is False and events.drain() == []
        save_by_rename(plan, plan.read_text().replace("not toml [", "") + task_block("C"))
        assert watch.check() is True
        appended = [event for event in events.drain() if isinstance(event, HistoryAppended)]
        assert len(appended) == 1 and appended[0].entry.action == "plan" and "C" in appended[0].tasks
        assert "C" in project.tasks and project.plan.sha256 == project.store.meta["plan_sha256"]
