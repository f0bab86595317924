"""The board's look on small and large terminals (tui/widgets/board.py, the footer in tui/widgets/header.py):
titles cut with an ellipsis to their column's width, empty columns narrow, one cursor on the board, every
important key in the footer at 80 columns, rows added in their column's order. Checked on the screen as
drawn (the compositor's lines), on copies of the demo in tmp_path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rich.style import Style
from textual.strip import Strip
from textual.widget import Widget

from orchestra_tui.engine.project import Project
from orchestra_tui.tui.app import OrchestraApp
from orchestra_tui.tui.widgets.board import BoardView, TaskColumn

from ..helpers.plans import task_block, write_plan
from ..helpers.tui import app_on, screen
from ..helpers.waits import until

SMALL, LARGE = (80, 24), (120, 40)


def inside(app: OrchestraApp, widget: Widget) -> list[Strip]:
    """The lines of ``widget``'s content region (inside its border and padding) as drawn."""
    region = widget.content_region
    return [line.crop(region.x, region.right) for line in screen(app)[region.y : region.bottom]]


def background(strip: Strip) -> object:
    style = next(iter(strip)).style or Style()
    return style.bgcolor


def highlighted(app: OrchestraApp) -> list[str]:
    """The rows drawn with a background other than their column's blank lines' (the cursor's)."""
    found = []
    for column in app.query(TaskColumn):
        lines = inside(app, column)
        if not column.row_count:
            continue  # an empty column is a label
        blank = background(lines[-1])  # the demo's columns are longer than their rows
        found += [line.text.split()[1] for line in lines[: column.row_count] if background(line) != blank]
    return found


def board(app: OrchestraApp) -> BoardView:
    return app.query_one(BoardView)


# ------------------------------------------------------------------------------------------ titles


async def test_a_long_title_fills_its_column_and_ends_in_an_ellipsis(demo_dir: Path, tmp_path: Path) -> None:
    app = app_on(demo_dir, tmp_path)
    title = app.session.project.tasks["DEV-003"].title  # "Implement the command-line interface"
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        column = board(app).columns["blocked"]

        def row() -> str:
            return inside(app, column)[column.get_row_index("DEV-003")].text

        small = row()
        assert small.startswith("◌ DEV-003 ") and small.endswith("…"), small  # the last column of the content is "…"
        cut = small.removeprefix("◌ DEV-003 ").removesuffix("…")
        assert len(cut) >= 3 and title.startswith(cut) and not cut.endswith(" "), small
        await pilot.resize_terminal(*LARGE)  # the empty columns leave their width to the two with cards
        await until(pilot, lambda: title in row(), "the whole title")
        assert "…" not in row()


async def test_titles_fit_beside_the_scrollbar_of_a_long_column(tmp_path: Path) -> None:
    ids = [f"T{n}" for n in range(1, 61)]
    body = "".join(task_block(task_id, ["T1"] if task_id != "T1" else []) for task_id in reversed(ids))
    write_plan(tmp_path / "p", body.replace('title = "Task ', 'title = "A title long enough to be cut, task '))
    app = app_on(tmp_path / "p", tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        column = board(app).columns["blocked"]
        assert column.show_vertical_scrollbar
        lines = inside(app, column)
        width = column.scrollable_content_region.width
        assert [line.text.split()[:2] for line in lines[:2]] == [["◌", "T2"], ["◌", "T3"]]
        assert lines[0].text.index("A title") == len("◌ T10 ")  # the titles line up after the widest id
        cut = lines[0].text[:width]  # the ellipsis in the last column before the scrollbar
        assert cut.rstrip().endswith("…") and "A title long enough to be cut".startswith(
            cut.rstrip()[len("◌ T10 ") : -1]
        )


# ------------------------------------------------------------------------------------------ widths


async def test_an_empty_column_is_narrow_and_widens_when_a_task_moves_in(demo_dir: Path, tmp_path: Path) -> None:
    app = app_on(demo_dir, tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        running, ready = app.query_one("#board-running"), app.query_one("#board-ready")
        assert running.outer_size.width == 3 < ready.outer_size.width  # its border and a label downwards
        top = screen(app)[running.region.y].text
        for title in ("Blocked 9", "Ready 1"):
            assert title in top, title
        label = "".join(
            line.text[running.region.x + 1] for line in screen(app)[running.region.y + 1 : running.region.bottom]
        )
        assert label.startswith("Running 0")
        with Project.open(demo_dir, actor="cli") as cli:
            cli.start("DES-001")
        await until(pilot, lambda: board(app).column_of("DES-001") == "running", "DES-001 running")
        await pilot.pause()
        assert ready.outer_size.width == 3 < running.outer_size.width
        assert "● DES-001" not in screen(app)[running.region.y + 1].text
        assert "▶ DES-001 Write" in inside(app, board(app).columns["running"])[0].text


# ------------------------------------------------------------------------------------------ the cursor


async def test_only_the_column_holding_the_selection_shows_its_cursor(demo_dir: Path, tmp_path: Path) -> None:
    with Project.open(demo_dir, actor="cli") as project:
        project.start("DES-001")
        project.complete("DES-001")
    app = app_on(demo_dir, tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        assert app.selected == "DES-002"  # the recommended task
        assert highlighted(app) == ["DES-002"]
        await pilot.press("left")  # to Blocked: its cursor row becomes the selection
        await until(pilot, lambda: app.selected == "DEV-001", "DEV-001 selected")
        await pilot.pause()
        assert highlighted(app) == ["DEV-001"]
        await pilot.press("slash")  # the focus leaves the board: the selection stays marked
        await pilot.pause()
        assert highlighted(app) == ["DEV-001"]


# ------------------------------------------------------------------------------------------ the footer


async def test_the_footer_shows_the_important_keys_at_80_columns_and_all_at_120(demo_dir: Path, tmp_path: Path) -> None:
    important = ["d Dispatch", "a All ready", "c Complete", "f Fail", "x Cancel", "? Help", "q Quit"]
    app = app_on(demo_dir, tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        footer = screen(app)[-1].text
        for key in important:
            assert key in footer, (key, footer)
        assert footer.rstrip().endswith("▏^p palette")
        await pilot.press("3")  # the timeline's own keys come first
        await pilot.pause()
        footer = screen(app)[-1].text
        for key in ("← Earlier", "→ Later", "⏎ Roll back here", "u Undo", "? Help", "q Quit"):
            assert key in footer, (key, footer)
        assert "o Output" not in footer and "d Dispatch" not in footer  # no panes nor task keys on the timeline
        await pilot.press("1")
        await pilot.resize_terminal(*LARGE)
        await pilot.pause()
        footer = screen(app)[-1].text
        for key in [*important, "n Next", "u Undo", "/ Filter", "r Retry", "o Output"]:
            assert key in footer, (key, footer)


async def test_the_footer_shows_a_remapped_key_with_its_label(demo_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.toml").write_text('[keymap]\ncomplete = "K"\ndispatch_all = "A"\n')
    app = app_on(demo_dir, tmp_path)
    async with app.run_test(size=LARGE) as pilot:
        await pilot.pause()
        footer = screen(app)[-1].text
        assert "K Complete" in footer and "A All ready" in footer and "c Complete" not in footer


# ------------------------------------------------------------------------------------------ the first fill


async def test_rows_are_added_in_their_columns_order(tmp_path: Path) -> None:
    """Rows go in sorted (T2 before T10), so the first show needs no sort and a key pressed at once acts on
    the row a user sees there."""
    ids = [f"T{n}" for n in (12, 3, 10, 1, 7, 2, 11, 5, 9, 4, 8, 6)]
    body = "".join(task_block(task_id, ["T1"] if task_id in ("T7", "T12", "T9") else []) for task_id in ids)
    write_plan(tmp_path / "p", body)
    app = app_on(tmp_path / "p", tmp_path)
    async with app.run_test(size=LARGE) as pilot:
        view = board(app)
        for name in ("ready", "blocked"):
            added = [str(key.value) for key in view.columns[name].rows]
            assert added == view.rows(name), name
        assert view.rows("blocked") == ["T7", "T9", "T12"]
        ready = view.rows("ready")
        assert ready == app.session.project.graph.ready() and ready[:3] == ["T1", "T2", "T3"]
        assert app.selected == "T1"
        await pilot.press("down")
        await until(pilot, lambda: app.selected == "T2", "the second row")


# ------------------------------------------------------------------------------------------ selection


async def test_a_selection_made_before_an_earlier_one_took_focus_stays(demo_dir: Path, tmp_path: Path) -> None:
    """Moving the focus to a selected task's column lands a moment later; a newer selection made meanwhile (a
    jump, the board following a task that moved) is not taken back when that older focus lands."""
    with Project.open(demo_dir, actor="cli") as project:
        project.start("DES-001")
        project.complete("DES-001")
    app = app_on(demo_dir, tmp_path)
    async with app.run_test(size=LARGE) as pilot:
        await pilot.pause()
        assert app.selected == "DES-002" and board(app).column_of("DES-001") == "done"
        app.jump_to("DES-001")  # Done: its column takes the focus once the app gets to it
        app.jump_to("DES-002")  # back in Ready, before that focus landed
        for _ in range(5):
            await pilot.pause()
        assert app.selected == "DES-002" and board(app).selected == "DES-002"
        assert highlighted(app) == ["DES-002"]


async def test_a_key_press_that_scrolls_a_column_assembles_only_the_rows_whose_look_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A DataTable keys each rendered row by where its cursor is, so every cursor move assembled every row on show
    again from its cells: on a press that scrolls the column, all of them. Only the row the cursor leaves, the one
    it lands on and the rows scrolled into view are now; the others come from the cache."""
    write_plan(tmp_path / "p", "".join(task_block(f"T{index:02}") for index in range(40)))
    app = app_on(tmp_path / "p", tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        column = board(app).columns["ready"]
        column.focus()
        column.move_cursor(row=0, animate=False)
        await until(pilot, lambda: app.selected == "T00", "the first row selected")
        await pilot.pause(0.2)
        assembled: list[int] = []
        render_cell = column._render_cell

        def counted(row_index: int, *args: Any, **kwargs: Any) -> Any:
            assembled.append(row_index)
            return render_cell(row_index, *args, **kwargs)

        monkeypatch.setattr(column, "_render_cell", counted)
        scrolled = 0
        for row in range(1, 30):
            top, height = round(column.scroll_y), column.scrollable_content_region.height
            assembled.clear()
            await pilot.press("down")
            await until(pilot, lambda r=row: app.selected == f"T{r:02}", f"T{row:02} selected")
            await pilot.pause(0.05)  # the frame the press asked for
            now = round(column.scroll_y)
            scrolled += now != top
            came = set(range(top + height, now + height))  # the rows scrolled into view
            assert set(assembled) <= {row - 1, row} | came, (row, sorted(set(assembled)))
        assert scrolled > 5  # the presses past the first screenful scrolled the column
