"""The app shell (tui/app.py, session.py, the board): every key, the palette, the keymap, themes, live changes
from another process, errors as notifications, and `orchestra` on a terminal. Pilot tests go through
``create_app``, the factory the CLI uses; projects are copies in tmp_path; runs are the real shell agent.
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import struct
import subprocess
import sys
import termios
import time
import tomllib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pytest
from textual.command import CommandList
from textual.geometry import Region
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import ContentSwitcher, DataTable, Input
from textual.widgets.data_table import RowKey

from orchestra_tui.engine.project import Project
from orchestra_tui.engine.runs import EVENTS_FILE, run_dir
from orchestra_tui.errors import OrchestraError
from orchestra_tui.tui.app import OrchestraApp, create_app
from orchestra_tui.tui.config import CONFIG_ENV
from orchestra_tui.tui.messages import TaskSelected
from orchestra_tui.tui.screens.dialogs import ConfirmDialog, ReasonDialog
from orchestra_tui.tui.screens.help import HelpScreen
from orchestra_tui.tui.screens.rollback import ConfirmRollback
from orchestra_tui.tui.widgets.dag import DagView
from orchestra_tui.tui.widgets.detail import TaskDetail
from orchestra_tui.tui.widgets.output import OutputPanes
from orchestra_tui.tui.widgets.timeline import EntryList, Scrubber, TimelineView

from ..helpers.plans import task_block, write_plan
from ..helpers.tui import SIZE, app_on, board, detail_text, first_ready_selected
from ..helpers.waits import RUN_START, until

T = TypeVar("T")

ENTRY_POINT = [sys.executable, "-m", "orchestra_tui"]


# ------------------------------------------------------------------------------------------ helpers


def notes(app: OrchestraApp) -> list[str]:
    return [notification.message for notification in app._notifications]


def status(app: OrchestraApp, task_id: str) -> str:
    return app.session.project.tasks[task_id].status.value


def shown(widget: Widget) -> str:
    """The text a widget draws (its whole height, scrolled out of view or not)."""
    width, height = widget.size.width, max(widget.virtual_size.height, widget.size.height)
    return "\n".join(strip.text for strip in widget.render_lines(Region(0, 0, width, height)))


def first_command(app: OrchestraApp) -> str:
    """The command the palette on show offers first ("" when none)."""
    lists = app.screen.query(CommandList)
    if not lists or not lists.first().option_count:
        return ""
    return str(lists.first().get_option_at_index(0).prompt)


async def choose(pilot: Pilot, app: OrchestraApp, task_id: str) -> None:
    """Select a task as a view does when the user moves to it."""
    app.post_message(TaskSelected(task_id))
    await until(pilot, lambda: app.selected == task_id, f"{task_id} selected")


def small_plan(root: Path, parallel: int = 3) -> Path:
    """A prints a line, waits for a file named ``go`` in the project, prints another (high priority: the
    recommended one); B and C print at once; D needs A."""
    write_plan(
        root,
        task_block(
            "A", commands=["echo first line; while [ ! -f go ]; do sleep 0.02; done; echo second line"], priority="high"
        )
        + task_block("B", commands=["echo from B"])
        + task_block("C", commands=["echo from C"])
        + task_block("D", ["A"], commands=["echo from D"]),
    )
    plan = root / "orchestra.toml"
    plan.write_text(plan.read_text().replace('name = "Test"\n', f'name = "Test"\nparallel_max = {parallel}\n'))
    return root


# ------------------------------------------------------------------------------------------ the board


async def test_board_columns_header_and_the_selected_tasks_detail(demo_dir: Path, tmp_path: Path) -> None:
    with Project.open(demo_dir, actor="cli") as project:
        project.start("DES-001")
        project.complete("DES-001")
        for task_id in ("DES-002", "DES-003", "DEV-004"):
            project.start(task_id)
        project.review("DES-002")
        project.fail("DES-003", "fixtures missing")
    app = app_on(demo_dir, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        view = board(app)
        assert view.rows("ready") == []
        assert view.rows("running") == ["DEV-004"]
        assert view.rows("review") == ["DES-002"]
        assert view.rows("done") == ["DES-003", "DES-001"]  # failed first, then completed
        assert view.rows("blocked") == ["DEV-001", "DEV-002", "DEV-003", "TST-001", "TST-002", "TST-003"]
        header = shown(app.query_one("#header"))
        assert "wordfreq: a word-frequency CLI" in header
        assert "10% · 1/10 tasks · 2 h done · 13 h left · 1 running · 1 failed" in header
        assert "tokens" not in header and "$" not in header  # nothing known: no made-up 0
        assert "Done 2" in shown(app.query_one("#board-done"))
        await choose(pilot, app, "DES-003")
        detail = detail_text(app.query_one(TaskDetail))
        for expected in (
            "DES-003  Prepare test fixtures",
            "✗ failed",
            "A small corpus with known word counts",
            "depends on   ✓ DES-001",
            "- build/fixtures/corpus.txt",
            "The corpus has a known most frequent word",
            "last error   fixtures missing",
        ):
            assert expected in detail, expected
        await choose(pilot, app, "DES-001")
        assert "unblocks" not in detail_text(app.query_one(TaskDetail))  # its dependants are ready already
        await choose(pilot, app, "DEV-002")
        assert "depends on   ◆ DES-002" in detail_text(app.query_one(TaskDetail))


async def test_a_stale_highlight_does_not_move_the_selection(tmp_path: Path) -> None:
    """Highlights arrive after the cursor has moved on (rows moved, a selection from another view): taking
    them made two tasks' highlights bounce the selection between them for ever."""
    app = app_on(small_plan(tmp_path / "p"), tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        ready = board(app).columns["ready"]
        assert app.focused is ready and app.selected == "A"
        ready.post_message(DataTable.RowHighlighted(ready, 1, RowKey("B")))  # the cursor is on A, not B
        await pilot.pause(0.1)
        assert app.selected == "A" and board(app).selected == "A"
        await pilot.press("down")  # a real move is taken
        await until(pilot, lambda: app.selected == "B", "B selected")


async def test_d_dispatches_the_selected_task_its_output_streams_into_its_pane_and_it_moves_column(
    tmp_path: Path,
) -> None:
    root = small_plan(tmp_path / "p")
    app = app_on(root, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.selected == "A" and board(app).rows("ready") == ["A", "B", "C"]
        await pilot.press("d")
        await until(pilot, lambda: board(app).column_of("A") == "running", "A in Running", timeout=RUN_START)
        panes = app.query_one(OutputPanes)

        def pane_text() -> str:
            return "\n".join(line for pane in panes.panes.values() for line in pane.lines)

        await until(pilot, lambda: "first line" in pane_text(), "the first line in A's pane")
        assert "second line" not in pane_text() and status(app, "A") == "in_progress"  # streamed while it runs
        (root / "go").touch()
        await until(pilot, lambda: board(app).column_of("A") == "review", "A in Review", timeout=10)
        # the state and the run's output reach the app by different roads (the journal, the run's files)
        await until(pilot, lambda: "second line" in pane_text(), "A's last line in its pane")
        assert [pane.task_id for pane in panes.panes.values()] == ["A"]
        await pilot.press("o")  # to the output, whose own keys then work, and back
        assert app.focused is panes.log_widget
        await pilot.press("z")
        assert app.screen.maximized is panes
        await pilot.press("3")  # another view: the maximised panes give way to it
        assert app.screen.maximized is None and app.view == "timeline"
        await pilot.press("1", "o", "z")
        assert app.screen.maximized is panes
        await pilot.press("z", "o")
        assert app.focused is board(app).columns["review"]
        assert board(app).rows("ready") == ["B", "C"] and status(app, "A") == "review"
        await pilot.press("d")  # A again: it is in review, not ready
        await until(pilot, lambda: any("cannot dispatch A: it is review" in n for n in notes(app)), "the refusal")


async def test_a_dispatches_ready_tasks_up_to_parallel_max(tmp_path: Path) -> None:
    root = small_plan(tmp_path / "p", parallel=2)
    app = app_on(root, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        (root / "go").touch()
        await pilot.press("a")
        await until(pilot, lambda: any(n.startswith("dispatched A, B") for n in notes(app)), "A and B dispatched")
        assert status(app, "C") == "pending"  # the third waits for a slot
        await until(
            pilot, lambda: status(app, "A") == "review" and status(app, "B") == "review", "A and B done", timeout=10
        )
        await pilot.press("a")
        await until(pilot, lambda: status(app, "C") == "review", "C run", timeout=10)
        await pilot.press("a")
        await until(pilot, lambda: any("no task is ready" in n for n in notes(app)), "nothing left to dispatch")


async def test_the_selected_tasks_output_comes_to_the_front_when_its_run_starts(tmp_path: Path) -> None:
    """Even when other runs began first: the selection's output is what the user is looking at."""
    wait = "while [ ! -f go ]; do sleep 0.02; done"
    write_plan(
        tmp_path / "p",
        "".join(
            task_block(task_id, commands=[f"echo from {task_id}; {wait}"], priority=priority)
            for task_id, priority in (("A", "high"), ("B", "medium"), ("C", "low"))
        ),
    )
    root = tmp_path / "p"
    plan = root / "orchestra.toml"
    plan.write_text(plan.read_text().replace('name = "Test"\n', 'name = "Test"\nparallel_max = 3\n'))
    app = app_on(root, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await choose(pilot, app, "C")  # recommended last: its run starts after A's and B's
        await pilot.press("a")
        panes = app.query_one(OutputPanes)
        await until(
            pilot,
            lambda: len(panes.panes) == 3 and panes.tabs.tab_count == 3,
            "three panes",
            timeout=RUN_START,
        )
        await until(pilot, lambda: panes.current is not None and panes.current.task_id == "C", "C's output in front")
        (root / "go").touch()
        await until(
            pilot, lambda: all(status(app, task_id) == "review" for task_id in "ABC"), "the three done", timeout=10
        )
        assert panes.current.task_id == "C"


async def test_the_demo_runs_offline_dispatching_its_first_task(demo_dir: Path, tmp_path: Path) -> None:
    app = app_on(demo_dir, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.selected == "DES-001"
        await pilot.press("d")
        await until(pilot, lambda: board(app).column_of("DES-001") == "done", "DES-001 done", timeout=10)
        assert (demo_dir / "build" / "SPEC.md").exists()
        assert board(app).rows("ready") == ["DES-002", "DES-003", "DEV-004"]
        assert app.selected == "DES-001" and app.focused is board(app).columns["done"]  # the selection followed it
        run_id = app.session.project.tasks["DES-001"].last_run_id
        detail = " ".join(detail_text(app.query_one(TaskDetail)).split())
        assert f"runs {run_id[:20]}" in detail and "· shell · ✓ completed ·" in detail  # the id is cut at 80 columns


async def test_c_f_x_r_n_and_u_act_on_the_selected_task(demo_dir: Path, tmp_path: Path) -> None:
    app = app_on(demo_dir, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("c")  # DES-001
        await until(pilot, lambda: board(app).column_of("DES-001") == "done", "DES-001 completed")
        await pilot.press("n")
        assert app.selected == "DES-002"  # high priority, the longest path: the recommended one
        await pilot.press("f")
        await until(pilot, lambda: isinstance(app.screen, ReasonDialog), "the reason dialog")
        await pilot.press("enter")  # a blank reason is refused
        assert isinstance(app.screen, ReasonDialog)
        await pilot.press(*"no time", "enter")
        await until(pilot, lambda: status(app, "DES-002") == "failed", "DES-002 failed")
        assert app.session.project.tasks["DES-002"].last_error == "no time"
        assert board(app).rows("done") == ["DES-002", "DES-001"]
        await pilot.press("f")  # a failed task cannot fail again: refused before the reason is asked
        await until(pilot, lambda: any("cannot fail DES-002" in n for n in notes(app)), "the refusal")
        assert not isinstance(app.screen, ReasonDialog)
        await pilot.press("r")
        await until(pilot, lambda: board(app).column_of("DES-002") == "ready", "DES-002 reopened")
        await pilot.press("x")
        await until(pilot, lambda: status(app, "DES-002") == "cancelled", "DES-002 cancelled")
        assert board(app).column_of("DES-002") == "done" and "⊘" in shown(board(app).columns["done"])
        await pilot.press("u")
        await until(pilot, lambda: status(app, "DES-002") == "pending", "the cancel undone")
        assert any(n.startswith("undid ") and "DES-002 cancelled" in n for n in notes(app))
        entries = [entry.action for entry in app.session.project.history()]
        assert entries == ["plan", "complete", "fail", "retry", "cancel", "undo"]
        assert {entry.actor for entry in app.session.project.history()[1:]} == {"tui"}


async def test_x_on_a_running_task_asks_then_stops_its_run_and_cancels_it(tmp_path: Path) -> None:
    root = tmp_path / "p"
    write_plan(root, task_block("SLOW", commands=["echo started; sleep 30"]))
    app = app_on(root, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("d")
        await until(
            pilot,
            lambda: any("started" in line for p in app.query_one(OutputPanes).panes.values() for line in p.lines),
            "output",
            timeout=RUN_START,
        )
        await pilot.press("c")  # the run decides how it ends; a person stops it first
        await until(
            pilot, lambda: "cannot complete SLOW while its run goes here; x stops the run" in notes(app), "the refusal"
        )
        await pilot.press("x")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the confirmation")
        await pilot.press("y")
        await until(pilot, lambda: status(app, "SLOW") == "cancelled", "SLOW cancelled", timeout=10)
        assert not app.session.running_here("SLOW")
        # The run goes in a driver process: cancelled as any process's run is (cancel_run), the task's cancel is
        # committed first and the run's end, superseded, records nothing.
        assert [entry.action for entry in app.session.project.history()][-2:] == ["start", "cancel"]
        run_id = app.session.project.tasks["SLOW"].last_run_id
        assert (run_dir(root, run_id) / "output.txt").read_text() == "started\n"  # its output is kept


async def test_slash_filters_the_board_and_escape_clears_it(demo_dir: Path, tmp_path: Path) -> None:
    app = app_on(demo_dir, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("slash")
        assert isinstance(app.focused, Input)
        await pilot.press(*"fixture")  # a word of DES-003's title
        await until(pilot, lambda: board(app).rows("blocked") == ["DES-003"], "only DES-003")
        await pilot.press(*["backspace"] * 7, *"testing")  # the phase
        await until(pilot, lambda: board(app).rows("blocked") == ["TST-001", "TST-002", "TST-003"], "only the tests")
        assert board(app).rows("ready") == []
        await pilot.press("enter")  # keeps the filter, back to the columns
        assert board(app).filter == "testing" and not isinstance(app.focused, Input)
        await pilot.press("slash", "escape")
        await until(pilot, lambda: len(board(app).rows("blocked")) == 9, "every task back")
        assert board(app).rows("ready") == ["DES-001"]


async def test_help_lists_the_keys_and_q_quits(demo_dir: Path, tmp_path: Path) -> None:
    app = app_on(demo_dir, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen), "the help")
        text = shown(app.screen.query_one("Static"))
        for expected in (
            "Dispatch [dispatch]",
            "Fail [fail]",
            "Undo [undo]",
            "Command palette",
            "Next column",
            "Roll back here",
            "Dependant",
            "Maximise output",
        ):
            assert expected in text, expected
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("q")
        await until(pilot, lambda: not app.is_running, "the app quit")
    assert app.return_code == 0


async def test_tab_and_the_number_keys_switch_views(demo_dir: Path, tmp_path: Path) -> None:
    app = app_on(demo_dir, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        switcher = app.query_one("#views", ContentSwitcher)
        views = list(app.views)
        assert views == ["board", "dag", "timeline", "table"]
        await pilot.press("3")
        assert switcher.current == "timeline" and "3 Timeline" in shown(app.query_one("#header"))
        assert not app.query_one("#lower").display  # the timeline has the room to itself
        await pilot.press("c")  # a task key does nothing on the timeline
        assert status(app, "DES-001") == "pending"
        await pilot.press("1")
        assert switcher.current == "board" and app.query_one("#lower").display
        seen = []
        for _ in views:
            await pilot.press("tab")
            seen.append(switcher.current)
        assert seen == [*views[1:], "board"]


async def test_the_dag_follows_the_selection_and_its_moves_lead_the_board(demo_dir: Path, tmp_path: Path) -> None:
    app = app_on(demo_dir, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await choose(pilot, app, "DES-002")
        await pilot.press("2")
        dag = app.query_one(DagView)
        assert app.query_one("#views", ContentSwitcher).current == "dag" and "2 DAG" in shown(app.query_one("#header"))
        assert dag.canvas.selected == "DES-002" and app.focused is dag.canvas
        await pilot.press("right")  # along an edge to a dependant
        await until(pilot, lambda: app.selected in ("DEV-001", "DEV-002"), "a dependant of DES-002 selected")
        assert board(app).selected == app.selected and app.query_one(DagView).canvas.selected == app.selected
        await pilot.press("left", "left")  # back to DES-001, the ready one
        await until(pilot, lambda: app.selected == "DES-001", "DES-001 selected")
        await pilot.press("c")  # the task keys work on the DAG too
        await until(pilot, lambda: status(app, "DES-001") == "completed", "DES-001 completed")
        await pilot.press("1")
        assert board(app).column_of("DES-001") == "done" and app.focused is board(app).columns["done"]


async def test_key_presses_leave_a_hidden_timeline_due_for_a_redraw_alone_until_it_is_shown(
    demo_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every selection repainted the hidden timeline's scrubber and list, and a repaint of widgets that are not on
    screen makes Textual rebuild its map of the whole screen on the next frame, as if widgets had been added: on
    every key press. A view to be redrawn in full when next shown (the timeline, until it is) is told then."""
    app = app_on(demo_dir, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        timeline = app.query_one(TimelineView)
        repaints: list[str] = []
        for widget in (timeline.query_one(Scrubber), timeline.query_one(EntryList)):

            def counted(*args: Any, _widget: Widget = widget, _refresh: Any = widget.refresh, **kwargs: Any) -> Any:
                repaints.append(_widget.id or "")
                return _refresh(*args, **kwargs)

            monkeypatch.setattr(widget, "refresh", counted)
        for task_id in ("DES-002", "DEV-001", "DES-001"):
            await choose(pilot, app, task_id)
        await pilot.pause(0.1)
        assert repaints == []
        await pilot.press("3")
        await until(pilot, lambda: timeline.selected_task == "DES-001", "the timeline told the selection")
        assert {"timeline-scrubber", "timeline-list"} <= set(repaints)


async def test_rollback_from_the_timeline_asks_first_and_u_undoes_it(demo_dir: Path, tmp_path: Path) -> None:
    app = app_on(demo_dir, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("c")
        await until(pilot, lambda: status(app, "DES-001") == "completed", "DES-001 completed")
        await pilot.press("3", "left", "enter")  # back to the plan's entry, and roll back to it
        await until(pilot, lambda: isinstance(app.screen, ConfirmRollback), "the confirmation")
        await until(pilot, lambda: app.screen.changes is not None, "the changes listed")  # type: ignore[attr-defined]
        await pilot.press("y")
        await until(pilot, lambda: status(app, "DES-001") == "pending", "rolled back")
        assert app.session.project.history()[-1].action == "rollback"
        await pilot.press("u")
        await until(pilot, lambda: status(app, "DES-001") == "completed", "the rollback undone")
        await pilot.press("1")
        assert board(app).column_of("DES-001") == "done"


# ------------------------------------------------------------------------------------------ palette, keymap, themes


async def test_the_palette_offers_every_action_and_runs_it(demo_dir: Path, tmp_path: Path) -> None:
    app = app_on(demo_dir, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+p")
        await until(pilot, lambda: app.screen.query(CommandList), "the palette")
        commands = app.screen.query_one(CommandList)
        await until(pilot, lambda: commands.option_count >= 15, "the commands listed")
        prompts = [str(commands.get_option_at_index(i).prompt) for i in range(commands.option_count)]
        for title in (
            "Dispatch (d)",
            "Dispatch ready (a)",
            "Complete (c)",
            "Fail (f)",
            "Cancel (x)",
            "Retry (r)",
            "Next (n)",
            "Undo (u)",
            "Filter (/)",
            "Help (?)",
            "Quit (q)",
            "Board (1)",
            "DAG (2)",
            "Timeline (3)",
            "Next view (tab)",
            "Theme",
        ):
            assert any(prompt.startswith(title) for prompt in prompts), title
        await pilot.press(*"Complete (c)")
        await until(pilot, lambda: first_command(app).startswith("Complete (c)"), "Complete offered first")
        await pilot.press("enter")
        await until(pilot, lambda: status(app, "DES-001") == "completed", "completed from the palette")


async def test_a_keymap_in_the_config_remaps_a_key(demo_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.toml").write_text(
        '[keymap]\ncomplete = "K"\n"timeline.earlier" = "b"\nnot_a_binding = "z"\n'
    )
    app = app_on(demo_dir, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("c")
        await pilot.pause(0.2)
        assert status(app, "DES-001") == "pending"
        await pilot.press("K")
        await until(pilot, lambda: status(app, "DES-001") == "completed", "completed with K")
        assert [n for n in notes(app) if "[keymap]" in n] == [
            "config.toml: [keymap] has no binding 'not_a_binding'; ? lists the ids in brackets"
        ]
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen), "the help")
        lines = shown(app.screen.query_one("Static")).splitlines()
        assert any(line.split()[:3] == ["K", "Complete", "[complete]"] for line in lines)
        assert any(line.split()[:3] == ["b", "Earlier", "[timeline.earlier]"] for line in lines)  # a view's key too
        await pilot.press("escape", "3")
        await until(pilot, lambda: app.query_one(TimelineView).cursor == 1, "the timeline at its last entry")
        await pilot.press("b")
        assert app.query_one(TimelineView).cursor == 0


async def test_the_theme_comes_from_the_flag_then_the_palette_and_is_remembered(demo_dir: Path, tmp_path: Path) -> None:
    config = tmp_path / "config" / "config.toml"
    app = app_on(demo_dir, tmp_path, theme="light")
    assert tomllib.loads(config.read_text()) == {"theme": "light", "keymap": {}}
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.theme == "light" and not app.current_theme.dark
        assert {"dark", "light", "nord"} <= set(app.available_themes)

        await pilot.press("ctrl+p", *"Theme")
        await until(pilot, lambda: first_command(app).startswith("Theme"), "the Theme command offered")
        await pilot.press("enter")  # the theme picker: another palette, of themes
        await pilot.pause(0.1)
        await pilot.press(*"nord")
        await until(pilot, lambda: first_command(app).startswith("nord"), "the nord theme offered")
        await pilot.press("enter")
        await until(pilot, lambda: tomllib.loads(config.read_text())["theme"] == "nord", "nord remembered")
        assert app.theme == "nord"
    again = app_on(demo_dir, tmp_path)
    assert again.theme == "nord"
    async with again.run_test(size=SIZE) as pilot:
        await pilot.pause()
    with pytest.raises(OrchestraError, match=r"^unknown theme 'neon'; orchestra's: dark, light, nord; Textual's: "):
        app_on(demo_dir, tmp_path, theme="neon")


async def test_a_broken_config_file_is_reported_and_left_alone(
    demo_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "elsewhere" / "config.toml"
    config.parent.mkdir()
    config.write_text("theme = [\n")
    monkeypatch.setenv(CONFIG_ENV, str(config.parent))
    app = create_app(demo_dir)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.theme == "dark"
        assert any(
            n.startswith(f"{config}: ") and n.endswith("the defaults are used and the file is left alone")
            for n in notes(app)
        )
        app.theme = "light"
        await pilot.pause(0.2)
    assert config.read_text() == "theme = [\n"


# ------------------------------------------------------------------------------------------ live and robust


async def test_a_change_from_another_process_shows_by_itself(demo_dir: Path, tmp_path: Path) -> None:
    """The app notices another process's commit without a key press (C8; how soon is bench/bench_tui.py's)."""
    app = app_on(demo_dir, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        with Project.open(demo_dir, actor="cli") as cli:
            cli.start("DES-001")
            cli.complete("DES-001")
        await until(pilot, lambda: board(app).rows("ready") == ["DES-002", "DES-003", "DEV-004"], "the CLI's change")
        assert "10% · 1/10 tasks" in shown(app.query_one("#header"))
        await pilot.press("a")  # the three now ready, up to the demo's parallel_max of 3
        await until(
            pilot,
            lambda: any(n.startswith("dispatched DES-002, DES-003, DEV-004") for n in notes(app)),
            "three dispatched",
        )
        await until(pilot, lambda: len(board(app).rows("done")) == 4, "the three done", timeout=10)


async def test_an_engine_error_is_a_notification_not_a_crash(demo_dir: Path, tmp_path: Path) -> None:
    app = app_on(demo_dir, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await choose(pilot, app, "TST-003")
        await pilot.press("c")
        await until(pilot, lambda: notes(app), "a notification")
        assert notes(app) == [
            "cannot complete TST-003: it depends on tasks not completed: DEV-004 (blocked), TST-001 (blocked), "
            "TST-002 (blocked)"
        ]
        assert status(app, "TST-003") == "pending" and app.is_running
        await pilot.press("c")  # and the app still works
        await until(pilot, lambda: len(notes(app)) == 2, "the second notification")


async def test_a_run_that_died_with_its_process_is_failed_and_said_at_start(demo_dir: Path, tmp_path: Path) -> None:
    with Project.open(demo_dir, actor="scheduler") as project:
        run_id = "20260101T000000.000000Z-dead00"
        run_dir(demo_dir, run_id).mkdir(parents=True)
        (run_dir(demo_dir, run_id) / EVENTS_FILE).write_text(
            json.dumps({"event": "run", "task": "DES-001", "agent": "shell"})
            + "\n"
            + json.dumps({"event": "started", "attempt": 1})
            + "\n"
        )
        project.start("DES-001", run_id=run_id)
    app = app_on(demo_dir, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert status(app, "DES-001") == "failed" and app.session.project.tasks["DES-001"].last_error == "interrupted"
        assert any(n.startswith("DES-001 was interrupted") for n in notes(app))
        assert [(run.run_id, run.status) for run in app.session.runs_of("DES-001")] == [(run_id, "interrupted")]


async def test_damage_the_store_repaired_is_a_notification(demo_dir: Path, tmp_path: Path) -> None:
    with Project.open(demo_dir, actor="cli") as project:
        project.start("DES-001")
    path = demo_dir / ".orchestra" / "journal.log"
    with open(path, "ab") as journal:
        journal.write(b"\x00half an entry")  # what a crash in the middle of an append leaves
    damaged = path.read_bytes()
    app = app_on(demo_dir, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert path.read_bytes() == damaged  # opening the app repairs nothing (issue 9 item 3): its first change does
        assert status(app, "DES-001") == "in_progress"
        app.session.complete("DES-001")
        await until(
            pilot,
            lambda: any(n.startswith("repaired: journal.log had a torn entry after 00000002") for n in notes(app)),
            "the repair's notification",
        )
        assert status(app, "DES-001") == "completed"


# ------------------------------------------------------------------------------------------ the command


def run_in_terminal(args: list[str], keys: bytes, env: dict[str, str], seconds: float = 20.0) -> tuple[int, str]:
    """Run ``orchestra ARGS`` on a pseudo-terminal (80x24), type ``keys`` once the app has drawn its footer,
    and return its exit code and everything it wrote."""
    main, terminal = os.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    process = subprocess.Popen(
        [*ENTRY_POINT, *args],
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        env={**os.environ, **env},
        start_new_session=True,
    )
    os.close(terminal)
    output = b""
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([main], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(main, 65536)
                except OSError:  # the child closed the terminal
                    break
                if not chunk:
                    break
                output += chunk
                if keys and b"Dispatch" in output:
                    os.write(main, keys)
                    keys = b""
        return process.wait(timeout=max(0.1, deadline - time.monotonic())), output.decode(errors="replace")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(main)


def test_orchestra_dir_on_a_terminal_opens_the_app_and_q_quits(demo_dir: Path, tmp_path: Path) -> None:
    code, output = run_in_terminal(
        [str(demo_dir), "--theme", "nord"], b"q", {CONFIG_ENV: str(tmp_path / "config"), "TERM": "xterm-256color"}
    )
    assert code == 0, output[-500:]
    assert "wordfreq: a word-frequency CLI" in output and "Blocked 9" in output
    assert tomllib.loads((tmp_path / "config" / "config.toml").read_text())["theme"] == "nord"
    code, output = run_in_terminal([str(demo_dir), "--theme", "neon"], b"", {CONFIG_ENV: str(tmp_path / "config")})
    assert code == 1 and output.startswith("error: unknown theme 'neon'; orchestra's: dark, light, nord; ")


def test_a_directory_without_a_plan_says_how_to_start_on_a_terminal_too(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    code, output = run_in_terminal([str(empty)], b"", {CONFIG_ENV: str(tmp_path / "config")})
    assert code == 1
    assert (
        output.strip()
        == f"error: no orchestra.toml in {empty} or above it: run `orchestra init {empty}`, or try `orchestra demo`"
    )
    assert list(empty.iterdir()) == []


async def layouts_pressing(
    tmp_path: Path, lines: dict[str, int], steps: Sequence[tuple[str, str]], look: Callable[[TaskDetail], T]
) -> tuple[list[object], dict[str, T]]:
    """On a plan of tasks with ``lines`` lines of description each, from the first Ready task: press each key, wait
    until the detail shows its task and the frames the press asked for are drawn, and note what ``look`` says
    then; the screen layouts asked for meanwhile, and the looks by task."""
    write_plan(tmp_path / "p", "".join(task_block(task_id, description="a line\n" * n) for task_id, n in lines.items()))
    app = app_on(tmp_path / "p", tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        detail = await first_ready_selected(app, pilot, next(iter(lines)))
        layouts: list[object] = []
        app.screen.screen_layout_refresh_signal.subscribe(app, layouts.append)
        seen = {}
        for key, task_id in steps:
            await pilot.press(key)
            await until(pilot, lambda t=task_id: f"Task {t}" in detail_text(detail), f"{task_id} in the detail")
            await pilot.pause(0.1)
            seen[task_id] = look(detail)
    return layouts, seen


async def test_selecting_another_task_repaints_the_detail_without_laying_out_the_screen(tmp_path: Path) -> None:
    """A Static of the task's text changed height with every task, which laid out the whole screen twice per key
    press (for its height, then for its container's scrollable size): the detail draws its own lines now, and
    its scrollable height follows the task's."""
    steps = (("down", "B"), ("down", "C"), ("up", "B"), ("up", "A"))
    lines = {"A": 1, "B": 9, "C": 3}
    layouts, heights = await layouts_pressing(tmp_path, lines, steps, lambda detail: detail.virtual_size.height)
    assert layouts == []
    assert heights["B"] == heights["A"] + 8 and heights["C"] == heights["A"] + 2


async def test_a_task_whose_detail_overflows_the_pane_next_to_one_that_fits_lays_out_nothing(tmp_path: Path) -> None:
    """The pane's scrollbar came when a task's lines did not fit and went when the next task's did, and each time
    Textual laid out the whole screen (~17 ms on a 2,000-task board, on about one Ready-column press in ten while
    runs stream). The scrollbar stays now; its track is drawn in the pane's background while nothing scrolls."""
    steps = (("down", "B"), ("down", "C"), ("down", "D"), ("up", "C"), ("up", "B"), ("up", "A"))

    def look(detail: TaskDetail) -> tuple[bool, bool, int, bool]:
        shown = detail.show_vertical_scrollbar and detail.vertical_scrollbar.display
        return detail.max_scroll_y > 0, detail.has_class("-fits"), detail.virtual_size.width, shown

    layouts, seen = await layouts_pressing(tmp_path, {"A": 1, "B": 40, "C": 1, "D": 40}, steps, look)
    assert layouts == []
    width = seen["A"][2]
    fits, overflows = (False, True, width, True), (True, False, width, True)
    assert seen == {"A": fits, "B": overflows, "C": fits, "D": overflows}


async def test_the_detail_is_drawn_again_at_the_width_it_gets(tmp_path: Path) -> None:
    """Its lines are drawn at a width: a narrower terminal wraps the description into more of them."""
    write_plan(tmp_path / "p", task_block("A", description="word " * 60))
    app = app_on(tmp_path / "p", tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        detail = app.query_one(TaskDetail)
        await until(pilot, lambda: "Task A" in detail_text(detail), "A in the detail")
        wide = detail.virtual_size.height
        await pilot.resize_terminal(80, 40)
        await until(pilot, lambda: detail.virtual_size.height > wide, "more lines at 80 columns")
        assert detail.virtual_size.width == detail.scrollable_content_region.width == 80 - 2 - 2  # padding, scrollbar


async def test_selecting_another_running_task_brings_its_output_without_laying_out_the_screen(tmp_path: Path) -> None:
    """Each task's output had a pane of its own in a TabbedContent, and bringing another to the front changed
    the panes' ``display``, which lays out the whole screen on every key press in the Running column: the
    selected run's lines are drawn in the one pane on show now."""
    wait = "while [ ! -f go ]; do sleep 0.02; done"
    root = tmp_path / "p"
    write_plan(root, "".join(task_block(t, commands=[f"echo from {t}; {wait}; echo bye {t}"]) for t in "ABC"))
    plan = root / "orchestra.toml"
    plan.write_text(plan.read_text().replace('name = "Test"\n', 'name = "Test"\nparallel_max = 3\n'))
    app = app_on(root, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("a")
        panes = app.query_one(OutputPanes)
        running = board(app).columns["running"]
        await until(pilot, lambda: len(board(app).rows("running")) == 3, "three running", timeout=RUN_START)
        await until(pilot, lambda: len(panes.panes) == 3, "their panes")
        rows = board(app).rows("running")
        running.focus()
        running.move_cursor(row=0, animate=False)
        await until(pilot, lambda: panes.current is not None and panes.current.task_id == rows[0], "the first")
        await pilot.pause(0.2)
        layouts: list[object] = []
        app.screen.screen_layout_refresh_signal.subscribe(app, layouts.append)
        for key, row in (("down", 1), ("down", 2), ("up", 1), ("up", 0)):
            task_id = rows[row]
            await pilot.press(key)
            await until(pilot, lambda t=task_id: panes.current is not None and panes.current.task_id == t, task_id)
            await until(pilot, lambda t=task_id: f"from {t}" in "\n".join(panes.current.lines), "its lines")
            await pilot.pause(0.1)  # the frames the press asked for
        (root / "go").touch()
        assert layouts == []
