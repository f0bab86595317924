"""What a new user hit in the TUI's first hour (issue 14): each defect with the test that found it.

Pilot tests go through ``create_app`` on copies of the demo. ``Terminal`` reads what the app draws the way
a terminal would: every update the compositor sends, as the escape sequences a real run writes, fed to a
terminal emulator (pyte); so a region left unpainted shows as it would on the user's screen.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pyte
from rich.console import Console
from textual._compositor import CompositorUpdate
from textual.command import CommandList, CommandPalette
from textual.screen import Screen
from textual.widgets import Button

from orchestra_tui.engine.project import Project
from orchestra_tui.tui.app import OrchestraApp
from orchestra_tui.tui.messages import TaskSelected
from orchestra_tui.tui.screens.dialogs import ConfirmDialog, ReasonDialog
from orchestra_tui.tui.screens.help import keys_table
from orchestra_tui.tui.screens.rollback import ConfirmRollback
from orchestra_tui.tui.screens.task import TaskScreen
from orchestra_tui.tui.widgets.board import BoardView
from orchestra_tui.tui.widgets.detail import TaskDetail
from orchestra_tui.tui.widgets.output import OutputPanes
from orchestra_tui.tui.widgets.table import COLUMNS as TABLE_COLUMNS
from orchestra_tui.tui.widgets.table import TableView
from orchestra_tui.tui.widgets.timeline import TimelineView

from ..helpers.plans import task_block, write_plan
from ..helpers.tui import app_on
from ..helpers.waits import RUN_START, until


class Terminal:
    """The screen a terminal would show for ``app``: installed before the app runs, it sees every frame."""

    def __init__(self, app: OrchestraApp, size: tuple[int, int]) -> None:
        self.screen = pyte.Screen(*size)
        self.stream = pyte.Stream(self.screen)
        display = app._display

        def shown(screen: Screen[Any], renderable: Any) -> None:
            display(screen, renderable)
            if isinstance(renderable, CompositorUpdate) and not app._batch_count:  # App._display skips batches too
                self.stream.feed(renderable.render_segments(app.console))

        app._display = shown  # type: ignore[method-assign]

    @property
    def text(self) -> str:
        return "\n".join(self.screen.display)


# ------------------------------------------------------------------------------------------ 1: toasts


async def test_a_toast_that_timed_out_leaves_the_terminal_after_a_scroll(demo_dir: Path, tmp_path: Path) -> None:
    """Textual lost the damage of a toast removed after a scroll: its cells stayed painted until a view switch."""
    app = app_on(demo_dir, tmp_path)
    terminal = Terminal(app, (80, 24))
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await until(pilot, lambda: app.focused is not None, "the board has the focus")
        app.notify("GHOST-TOAST here", timeout=3)
        await until(pilot, lambda: "GHOST-TOAST" in terminal.text, "the toast on the terminal", timeout=20)
        app.query_one(TaskDetail).scroll_end(animate=False)  # a scroll: the compositor's fast path
        await until(pilot, lambda: not app.screen.query("Toast"), "the toast removed from the screen", timeout=20)
        for _ in range(10):  # a few frames after its removal
            await pilot.pause(0.05)
        assert "GHOST-TOAST" not in terminal.text, terminal.text


# ------------------------------------------------------------------------------------------ 2: the rollback dialog


async def test_the_rollback_dialog_keeps_its_buttons_at_80x24_and_cancel_is_the_default(tmp_path: Path) -> None:
    root = tmp_path / "many"
    write_plan(root, "".join(task_block(f"T-{n:02d}") for n in range(1, 13)))
    with Project.open(root, actor="cli") as project:
        for n in range(1, 11):
            project.complete(f"T-{n:02d}")
    app = app_on(root, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.focused is not None, "the board has the focus")
        await pilot.press("3", "home", "enter")  # roll back to the plan: ten changes
        await until(
            pilot, lambda: isinstance(app.screen, ConfirmRollback) and app.screen.changes is not None, "the changes"
        )
        dialog = app.screen
        assert isinstance(dialog, ConfirmRollback) and dialog.changes is not None and len(dialog.changes) == 10
        await pilot.pause()
        for button_id in ("#confirm-yes", "#confirm-no"):
            region = dialog.query_one(button_id, Button).region
            assert region.height > 0 and dialog.region.contains_region(region), (button_id, region)
        hint = " ".join(str(hint.visual) for hint in dialog.query(".dialog-hint"))
        assert "y: roll back" in hint and "n / escape: cancel" in hint
        assert app.focused is dialog.query_one("#confirm-no", Button)  # the safe choice
        await pilot.press("tab")
        assert app.focused is dialog.query_one("#confirm-yes", Button)  # tab reaches the other button
        await pilot.press("tab", "enter")  # back on Cancel, which enter presses
        await until(pilot, lambda: not isinstance(app.screen, ConfirmRollback), "the dialog closed")
        assert app.session.project.history()[-1].action == "complete"  # nothing rolled back


# ------------------------------------------------------------------------------------------ 3: f refuses first


async def test_f_refuses_a_completed_task_before_asking_why(demo_dir: Path, tmp_path: Path) -> None:
    with Project.open(demo_dir, actor="cli") as project:
        project.complete("DES-001")
    app = app_on(demo_dir, tmp_path)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await until(pilot, lambda: app.focused is not None, "the board has the focus")
        app.post_message(TaskSelected("DES-001"))
        await until(pilot, lambda: app.selected == "DES-001", "DES-001 selected")
        await pilot.press("f")
        await until(pilot, lambda: any("cannot fail DES-001" in n.message for n in app._notifications), "the refusal")
        assert not isinstance(app.screen, ReasonDialog)


# ------------------------------------------------------------------------------------------ 4: the footer at 80 columns


async def test_the_footer_keeps_dispatch_ready_and_cancel_at_80_columns(demo_dir: Path, tmp_path: Path) -> None:
    app = app_on(demo_dir, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.focused is not None, "the board has the focus")
        await pilot.pause()
        footer = app.screen._compositor.render_full_update().strips[-1]
        text = "".join(strip.text for strip in footer)
        for key in ("d Dispatch", "a All ready", "x Cancel", "? Help", "q Quit"):
            assert key in text, (key, text)


# ------------------------------------------------------------------------------------------ 5, 6: the output panes


async def test_a_cancelled_run_reads_cancelled_in_its_tab_header_and_runs_row(demo_dir: Path, tmp_path: Path) -> None:
    plan = demo_dir / "orchestra.toml"
    plan.write_text(plan.read_text().replace("\"printf '# wordfreq", '"sleep 30", "printf \'# wordfreq', 1))
    app = app_on(demo_dir, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.selected == "DES-001" and app.focused is not None, "DES-001 selected")
        await pilot.press("d")
        panes = app.query_one(OutputPanes)
        await until(
            pilot,
            lambda: panes.current is not None and panes.current.task_id == "DES-001",
            "DES-001's pane",
            RUN_START,
        )
        await pilot.press("x")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the question")
        await pilot.press("y")
        await until(pilot, lambda: status(app, "DES-001") == "cancelled", "DES-001 cancelled")
        pane = panes.panes[next(iter(panes.panes))]
        await until(pilot, lambda: pane.finished, "the pane finished")
        header = pane.header().plain
        assert "cancelled" in header and "failed" not in header, header
        assert "⊘" in str(panes.tabs.get_tab(pane.tab_id).label)  # type: ignore[union-attr]
        await until(pilot, lambda: "⊘ cancelled" in detail_text(app), "the detail redrawn")  # its own message
        assert "✗ failed" not in detail_text(app)


async def test_another_tasks_run_starting_leaves_the_selected_tasks_output_in_front(
    demo_dir: Path, tmp_path: Path
) -> None:
    app = app_on(demo_dir, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.selected == "DES-001" and app.focused is not None, "DES-001 selected")
        await pilot.press("d")  # DES-001's commands succeed at once: it completes and stays selected
        panes = app.query_one(OutputPanes)
        await until(pilot, lambda: status(app, "DES-001") == "completed", "DES-001 completed", RUN_START)
        await until(pilot, lambda: panes.current is not None and panes.current.finished, "DES-001's pane finished")
        app.session.dispatch("DES-002")
        await until(
            pilot, lambda: any(p.task_id == "DES-002" for p in panes.panes.values()), "DES-002's pane", RUN_START
        )
        await pilot.pause(0.2)
        assert app.selected == "DES-001" and panes.current is not None and panes.current.task_id == "DES-001"


def detail_text(app: OrchestraApp) -> str:
    """The detail pane's text as drawn at 200 columns (all of it, not only what fits on the screen)."""
    return detail_text_of(app.query_one(TaskDetail))


def detail_text_of(detail: TaskDetail) -> str:
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(detail.renderable)
    return console.export_text()


def status(app: OrchestraApp, task_id: str) -> str:
    return app.session.project.tasks[task_id].status.value


# ------------------------------------------------------------------------------------------ 11: the detail pane


async def test_the_detail_does_not_list_the_same_tasks_twice(demo_dir: Path, tmp_path: Path) -> None:
    app = app_on(demo_dir, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.selected == "DES-001", "DES-001 selected")
        detail = detail_text(app)
        assert "unblocks" in detail and "DES-002" in detail
        assert detail.count("DES-002") == 1, detail


# ------------------------------------------------------------------------------------------ 13: keys people know


async def test_vim_and_less_keys_move_on_the_board_dag_and_timeline_and_enter_opens_the_task(
    demo_dir: Path, tmp_path: Path
) -> None:
    with Project.open(demo_dir, actor="cli") as project:
        project.complete("DES-001")  # ready: DES-002, DES-003, DEV-004
    app = app_on(demo_dir, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.selected == "DES-002" and app.focused is not None, "DES-002 selected")
        board = app.query_one(BoardView)
        ready = board.rows("ready")
        await pilot.press("j")
        assert app.selected == ready[1]
        await pilot.press("G")
        assert app.selected == ready[-1]
        await pilot.press("g")
        assert app.selected == ready[0]
        await pilot.press("k")
        assert app.selected == ready[0]  # the top stays the top
        await pilot.press("h")  # the nearest column to the left with tasks: Blocked
        await until(pilot, lambda: board.column_of(app.selected or "") == "blocked", "a blocked task selected")
        await pilot.press("ctrl+d")
        assert board.rows("blocked").index(app.selected or "") > 0
        await pilot.press("l")
        await until(pilot, lambda: board.column_of(app.selected or "") == "ready", "back in Ready")
        selected = app.selected
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, TaskScreen), "the task's screen")
        assert app.screen.task_id == selected  # type: ignore[attr-defined]
        assert "success" in detail_text_of(app.screen.query_one(TaskDetail))
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, TaskScreen), "back on the board")
        await pilot.press("2")  # the DAG: l follows an edge to a dependant, h back, j/k in the layer
        await until(pilot, lambda: app.view == "dag", "the DAG")
        await pilot.press("g")
        assert app.selected == "DES-001"
        await pilot.press("l")
        assert app.selected in app.session.project.graph.dependents("DES-001")
        await pilot.press("h")
        assert app.selected == "DES-001"
        await pilot.press("3")  # the timeline: h and l move through the entries, g and G to the ends
        view = app.query_one(TimelineView)
        await until(pilot, lambda: app.view == "timeline", "the timeline")
        last = view.cursor
        await pilot.press("h")
        assert view.cursor == last - 1
        await pilot.press("g")
        assert view.cursor == 0
        await pilot.press("G")
        assert view.cursor == last


async def test_help_lists_the_new_keys_in_one_aligned_table(demo_dir: Path, tmp_path: Path) -> None:
    app = app_on(demo_dir, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.focused is not None, "the board has the focus")
        sections = app.help_sections()
        ids = " ".join(name for _title, rows in sections for _keys, name, _what in rows)
        for binding_id in (
            "board.down",
            "board.first",
            "board.half_down",
            "dag.half_down",
            "output.bottom",
            "open_task",
            "back",
        ):
            assert f"[{binding_id}]" in ids, binding_id
        titles = [title for title, _rows in sections]
        table = keys_table(sections)
        assert len(table.columns) == 3  # one table: the columns line up across sections
        assert len([row for row in titles if row == "Board"]) >= 1


# ------------------------------------------------------------------------------------------ 15: the table view


async def test_the_table_lists_every_task_sorts_remembers_and_finds_failures(demo_dir: Path, tmp_path: Path) -> None:
    with Project.open(demo_dir, actor="cli") as project:
        project.complete("DES-001")
        project.fail("DES-003", "fixtures missing")
        project.cancel("DEV-004")
    app = app_on(demo_dir, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.focused is not None, "the board has the focus")
        header = str(app.query_one("#header").visual)  # type: ignore[attr-defined]
        assert "1 failed" in header and "1 cancelled" in header, header
        await pilot.press("4")
        table = app.query_one(TableView)
        await until(pilot, lambda: app.view == "table" and len(table.rows()) == 10, "the table with every task")
        assert app.selected == "DES-002"  # the selection stays what it was
        assert table.rows()[:3] == ["DES-001", "DES-002", "DES-003"]  # by id
        assert [column.label.plain for column in table.table.columns.values()] == list(TABLE_COLUMNS)
        await pilot.press("s", "s")  # by status: failed first
        assert table.sort_column == "status" and table.rows()[:2] == ["DES-003", "DEV-004"]
        await pilot.press("S")
        assert table.rows()[-2:] == ["DEV-004", "DES-003"]
        await pilot.press("F")
        await until(pilot, lambda: sorted(table.rows()) == ["DES-003", "DEV-004"], "failures only")
        await pilot.press("F", "slash", *"tst", "enter")
        await until(pilot, lambda: sorted(table.rows()) == ["TST-001", "TST-002", "TST-003"], "the filter")
        await pilot.press("g", "j")
        await until(pilot, lambda: app.selected == table.rows()[1], "the selection follows the cursor")
    saved = (tmp_path / "config" / "config.toml").read_text()
    assert 'table_sort = "status"' in saved and "table_reverse = true" in saved
    again = app_on(demo_dir, tmp_path)
    async with again.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: again.focused is not None, "the board has the focus")
        assert again.query_one(TableView).sort_column == "status" and again.query_one(TableView).reverse


# ------------------------------------------------------------------------------------------ 14: jump to any task


async def test_colon_finds_a_task_by_title_fuzzily_and_selects_it(demo_dir: Path, tmp_path: Path) -> None:
    app = app_on(demo_dir, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.focused is not None and app.selected == "DES-001", "DES-001 selected")
        await pilot.press("colon")
        await until(pilot, lambda: isinstance(app.screen, CommandPalette), "the palette")
        await pilot.press(*"usr guide")  # fuzzy: "Write the user guide" is DEV-004
        await until(
            pilot, lambda: "DEV-004" in str(app.screen.query_one(CommandList).get_option_at_index(0).prompt), "the hit"
        )
        await pilot.press("enter")
        await until(pilot, lambda: app.selected == "DEV-004", "DEV-004 selected")
        assert app.query_one(BoardView).column_of("DEV-004") == "blocked" and not isinstance(app.screen, CommandPalette)


# ------------------------------------------------------------------------------------------ 16: running cards


async def test_a_running_card_shows_its_elapsed_time_and_last_line_and_a_review_card_what_waits(tmp_path: Path) -> None:
    root = tmp_path / "p"
    write_plan(
        root,
        task_block("LONG", commands=["echo first line; echo compiling module 7; sleep 30"])
        + task_block("DONE", commands=["true"]),
    )
    app = app_on(root, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.focused is not None, "the board has the focus")
        await pilot.press("a")
        board = app.query_one(BoardView)
        column = board.columns["running"]

        def card(task_id: str) -> str:
            cell = (
                column.get_cell(task_id, "title")
                if board.column_of(task_id) == "running"
                else board.columns["review"].get_cell(task_id, "title")
            )
            return f"{cell.title}\n{cell.note}"

        await until(
            pilot,
            lambda: board.column_of("LONG") == "running" and "compiling module 7" in card("LONG"),
            "the last line",
            timeout=15,
        )
        assert card("LONG").split("\n")[1].split(" · ")[0].endswith(" s")  # the elapsed time
        await until(pilot, lambda: board.column_of("DONE") == "review", "DONE in review", timeout=15)
        assert "waits for you" in card("DONE")
        await pilot.press("q", "y")


async def test_help_shows_every_key_of_the_first_hour(demo_dir: Path, tmp_path: Path) -> None:
    app = app_on(demo_dir, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.focused is not None, "the board has the focus")
        ids = " ".join(name for _title, rows in app.help_sections() for _keys, name, _what in rows)
        for binding_id in (
            "jump",
            "view_table",
            "table.sort",
            "table.failures",
            "task.back",
            "timeline.first",
            "dag.half_up",
        ):
            assert f"[{binding_id}]" in ids, binding_id


def test_table_rows_made_together_show_the_same_blockers(demo_dir: Path) -> None:
    """A full rebuild of the table takes every task's blockers from one pass (TaskGraph.all_blockers), not one
    upstream walk per row: the rows are the same as when each is made alone."""
    from datetime import UTC, datetime

    from orchestra_tui.tui.widgets.table import row_values

    with Project.open(demo_dir, actor="cli") as project:
        project.fail("DES-001", "no time")
        project.cancel("DES-002")
        now = datetime.now(UTC)
        together = project.graph.all_blockers()
        assert together  # the demo's other tasks wait on those two
        for task_id in project.tasks:
            assert row_values(project, task_id, now, {}, together) == row_values(project, task_id, now, {})
