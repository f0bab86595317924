"""The detail pane's label grid draws exactly what the Rich table it replaces draws, at any width."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.segment import Segment
from rich.style import Style
from rich.table import Table
from rich.text import Text
from textual.strip import Strip
from textual.visual import Visual

from orchestra_tui.tui.widgets.detail import LabelGrid, TaskDetail

from ..helpers.plans import task_block, write_plan
from ..helpers.tui import app_on, detail_text, first_ready_selected
from ..helpers.waits import until

LABELS = ["status", "priority", "hours", "runs", "description", "subtask of", "depends on", "blocked by", "tags"]
WORDS = ["a", "task", "runs", "✓", "DES-001,", "漢字の", "supercalifragilisticexpialidocious", "·", "-", "2.5 h"]
DETAIL_TASKS = [("A", 3), ("B", 40), ("C", 1)]
STYLES = [Style(), Style(color="green"), Style(color="red", bold=True), Style(italic=True, bgcolor="blue")]


def random_text(rng: random.Random) -> Text:
    """A value as the detail builds them: words with styled spans, sometimes several lines, sometimes trailing space."""
    text = Text()
    for line in range(rng.choice([1, 1, 1, 2, 4])):
        if line:
            text.append("\n")
        for index in range(rng.randint(1, 14)):
            text.append((" " if index else "") + rng.choice(WORDS), style=rng.choice(STYLES))
    if rng.random() < 0.1:
        text.append("  ")
    return text


def lines(console: Console, renderable: Group, width: int) -> list[list[Segment]]:
    return console.render_lines(renderable, console.options.update_width(width), pad=False)


def test_the_label_grid_draws_what_the_rich_table_draws_cell_for_cell() -> None:
    rng = random.Random(7)
    console = Console(width=200, color_system="truecolor", legacy_windows=False)
    for _ in range(60):
        grid = LabelGrid()
        for label in rng.sample(LABELS, rng.randint(1, len(LABELS))):
            grid.add_row(label, random_text(rng))
        title = Text("DES-001  a title")
        for width in (1, 2, 5, 8, 11, 12, 13, 14, 20, 31, 40, 57, 80, 121, 200):
            assert lines(console, Group(title, grid), width) == lines(console, Group(title, grid.table()), width), (
                width,
                grid.rows,
            )


def test_an_empty_label_grid_draws_nothing() -> None:
    console = Console(width=40)
    assert console.render_lines(LabelGrid(), pad=False) == console.render_lines(LabelGrid().table(), pad=False)


async def test_a_key_press_draws_the_detail_without_a_rich_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ``Table`` measured and rendered every cell of the detail on each key press: about half of the pane's
    drawing, on the event loop. The grid draws the same lines (the test above) without one."""
    write_plan(
        tmp_path / "p",
        "".join(task_block(task_id, description="word " * words) for task_id, words in DETAIL_TASKS),
    )
    tables: list[Table] = []
    render = Table.__rich_console__

    def counted(self: Table, console: Console, options: ConsoleOptions) -> RenderResult:
        tables.append(self)
        return render(self, console, options)

    monkeypatch.setattr(Table, "__rich_console__", counted)
    app = app_on(tmp_path / "p", tmp_path)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        detail = await first_ready_selected(app, pilot, "A")
        tables.clear()
        for key, task_id in (("down", "B"), ("down", "C"), ("up", "B")):
            await pilot.press(key)
            await until(pilot, lambda t=task_id: f"Task {t}" in detail_text(detail), f"{task_id} in the detail")
        assert tables == []


async def test_going_back_to_a_task_draws_no_lines_and_a_change_to_it_draws_them_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Turning the detail into lines was most of a key press's own work on the event loop. The pane keeps the lines
    of the details it drew last, keyed by what they show: going back to a task draws nothing, and a task that
    changed is drawn again."""
    write_plan(
        tmp_path / "p",
        "".join(task_block(task_id, description="word " * words) for task_id, words in DETAIL_TASKS),
    )
    drawn: list[str] = []
    to_strips = Visual.to_strips

    def counted(cls: type[Visual], widget: Any, *args: Any, **kwargs: Any) -> list[Strip]:
        if isinstance(widget, TaskDetail):
            drawn.append(widget.app.selected or "")
        return to_strips(widget, *args, **kwargs)

    def top(detail: TaskDetail) -> str:
        """The pane's first line as it draws it (``detail_text`` would draw the detail itself)."""
        return detail.render_line(0).text

    app = app_on(tmp_path / "p", tmp_path)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        detail = await first_ready_selected(app, pilot, "A")
        monkeypatch.setattr(Visual, "to_strips", classmethod(counted))
        for key, task_id in (("down", "B"), ("up", "A"), ("down", "B"), ("down", "C"), ("up", "B")):
            await pilot.press(key)
            await until(pilot, lambda t=task_id: f"Task {t}" in top(detail), f"{task_id} in the detail")
        await pilot.pause(0.1)
        assert drawn == ["B", "C"]
        await pilot.press("c")  # B completed: its status in the detail changes
        await until(pilot, lambda: "B" in drawn[2:], "B's detail drawn again")
        assert set(drawn[2:]) == {"B"}
        monkeypatch.undo()
        assert "completed" in detail_text(detail)
