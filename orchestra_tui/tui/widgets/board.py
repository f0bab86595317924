"""The board: the tasks in five columns by status, kept in step with the project by keyed diffs.

Blocked, Ready (in recommended order), Running, Review, Done (failed, then cancelled, then completed: the
ones needing attention first, each with its mark). A change touches only the rows of the tasks it names
and of their dependants (whose readiness may follow): a row moves between columns, or its cells update in
place. ``/`` opens the filter line above the columns; only matching tasks are shown.

An empty column shrinks to a narrow label (its title written downwards) and leaves its width to the
columns with cards. When even so a card would show fewer than ``MIN_TITLE`` characters of its title (a
narrow terminal, many columns with cards), the board becomes one list grouped by status: each column a
group under its title, the groups one under the other in one scrolling list, the cursor going from the end
of one group to the start of the next. Only the column holding the selection shows its cursor, so one row
on the board looks selected.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from rich.cells import cell_len, set_cell_size
from rich.console import Console, ConsoleOptions, RenderResult
from rich.text import Span, Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container, Vertical
from textual.geometry import Region
from textual.message import Message
from textual.widget import Widget
from textual.widgets import DataTable, Input, Static

from ...display import one_line
from ...formatting import spent as hours_spent
from ...graph import natural_key
from ...models import TaskStatus
from ...statuses import LOOKS, STATUS_MARKS
from ..messages import ActionRequested, TaskSelected
from ..status_text import Palette, ThemePalette
from ..textual_compat import RowCursorTable, bound_render_caches, columns_resized
from .filtering import FilterLine

if TYPE_CHECKING:
    from ...engine.project import Project
    from ...models import AgentTask

COLUMNS = (("blocked", "Blocked"), ("ready", "Ready"), ("running", "Running"), ("review", "Review"), ("done", "Done"))
COLUMN_OF = {TaskStatus(status): look.column for status, look in LOOKS.items() if status != "pending"}
_DONE_ORDER = {TaskStatus.FAILED: 0, TaskStatus.CANCELLED: 1, TaskStatus.COMPLETED: 2}
MIN_TITLE = 20  # characters of a card's title the board shows at least (else it becomes a list)
COLLAPSED = 3  # an empty column's width: its border and one column for its label
CARD_FRAME = 5  # a column's width beside its cards: border (2), padding (2), scrollbar (1)


@dataclass(frozen=True)
class TaskCell:
    """The first cell of a row: its mark and id. It carries the id, so a column can sort by it."""

    task_id: str
    text: Text

    def __rich__(self) -> Text:
        return self.text


@dataclass(frozen=True)
class TitleCell:
    """The second cell: the title, cut to the width it is drawn in with "…" after its last kept word
    character (rich's own ellipsis may follow a space). Drawn for the rows on show only, so a new width
    costs nothing per row. A running or review card has a second line (``note``): what it is doing."""

    title: str
    note: str = ""

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = options.max_width
        lines = [self.title, self.note] if self.note else [self.title]
        for index, line in enumerate(lines):
            if cell_len(line) > width:
                line = set_cell_size(line, max(width - 1, 0)).rstrip() + "…"
            yield Text(line, no_wrap=True, end="" if index == len(lines) - 1 else "\n", style="dim" if index else "")


NOTED = frozenset({TaskStatus.IN_PROGRESS, TaskStatus.REVIEW})  # statuses whose cards have a second line


def conflict_files(task: AgentTask) -> list[str] | None:
    """The files the task's last merge conflicted in (it stays in review), else None."""
    return task.worktree.conflict_files if task.worktree is not None else None


def card_note(task: AgentTask, status: TaskStatus, last_line: str, now: datetime, spent: str = "") -> str:
    """A running card's elapsed time, what its run spent so far (``spent``: a cost, when its agent reports usage)
    and last line of output; a review card's reminder of what waits (a conflict's files first)."""
    if status == TaskStatus.REVIEW:
        conflict = conflict_files(task)
        if conflict:
            shown = ", ".join(conflict[:3]) + (f" +{len(conflict) - 3}" if len(conflict) > 3 else "")
            return f"conflict in {shown}: r re-runs, v diff"
        return "waits for you: c accepts, v diff, r reopens" if task.worktree else "waits for you: c accepts, r reopens"
    started = task.started_at
    elapsed = hours_spent((now - started).total_seconds() / 3600) if started is not None else "-"
    return " · ".join(part for part in (elapsed, spent, last_line) if part)


CONFLICT_MARK = "!"  # a review card whose merge conflicted, in the failed status's colour


def _by_task(order: Callable[[str], Any]) -> Callable[[TaskCell], Any]:
    """A column's sort key read from its first cell (which carries the task id)."""
    return lambda cell: order(cell.task_id)


def row_cells(task: AgentTask, status: TaskStatus, colours: Palette, note: str = "") -> tuple[TaskCell, TitleCell]:
    conflicted = status == TaskStatus.REVIEW and conflict_files(task)
    look = "failed" if conflicted else status
    mark, style = CONFLICT_MARK if conflicted else STATUS_MARKS[status], colours.get(look, "")
    task_id = task.task_id
    cell = Text(
        f"{mark} {task_id}",
        spans=[Span(0, len(mark), style), Span(len(mark) + 1, len(mark) + 1 + len(task_id), "bold")],
    )
    title = one_line(task.title)
    return TaskCell(task_id, cell), TitleCell(f"↳ {title}" if task.parent else title, note)  # ↳: a subtask


def matches(task: AgentTask, status: TaskStatus, needle: str) -> bool:
    """The filter: a case-insensitive substring of the id, title, status, priority, phase or a tag."""
    haystack = " ".join([task.task_id, task.title, status.value, task.priority.value, task.phase.value, *task.tags])
    return needle.casefold() in haystack.casefold()


RENDER_CACHE = 200  # rendered rows kept per column


class TaskColumn(RowCursorTable):
    """One column; left and right step to the neighbouring column instead of scrolling.

    Its two columns have fixed widths: the task cell's set by the board (the widest task cell on it, so the
    titles line up across columns), the title the rest, where a long title ends in "…". (DataTable's own
    auto width would make the title column as wide as the longest title, cut off by the border.)
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "cursor_down", "Down", show=False, id="board.down"),
        Binding("k", "cursor_up", "Up", show=False, id="board.up"),
        Binding("h", "cursor_left", "Column to the left", show=False, id="board.left"),
        Binding("l", "cursor_right", "Column to the right", show=False, id="board.right"),
        Binding("g", "scroll_top", "First in the column", show=False, id="board.first"),
        Binding("G", "scroll_bottom", "Last in the column", show=False, id="board.last"),
        Binding("ctrl+d", "half_page(1)", "Half a page down", show=False, id="board.half_down"),
        Binding("ctrl+u", "half_page(-1)", "Half a page up", show=False, id="board.half_up"),
    ]

    class Step(Message):
        """To the next column with cards (``step`` 1) or the previous one (-1); ``land``: the row the cursor
        goes to there (first, last, or None: where it was)."""

        def __init__(self, column: TaskColumn, step: int, land: str | None = None) -> None:
            super().__init__()
            self.column, self.step, self.land = column, step, land

    def __init__(self, name: str, title: str) -> None:
        super().__init__(
            id=f"column-{name}",
            cursor_type="row",
            show_header=False,
            zebra_stripes=False,
            cell_padding=0,
            show_cursor=False,
        )
        self.kind, self.title = name, title
        self.task_width = 0
        # A column shows a screenful; a few screens of cache serve scrolling as well (textual_compat.py, 4).
        bound_render_caches(self, RENDER_CACHE)

    def on_mount(self) -> None:
        self.add_column("task", width=1, key="task")
        self.add_column("title", width=1, key="title")
        self.fit()

    def fit(self, task_width: int | None = None) -> None:
        """Give the task cell ``task_width`` (kept for later fits; one space of it parts the id from the
        title) and the title the rest. Cheap when nothing changes; a change redraws only the rows on show."""
        if task_width is not None:
            self.task_width = task_width
        task, title = self.columns["task"], self.columns["title"]  # type: ignore[index]
        widths = (self.task_width, max(1, self.scrollable_content_region.width - self.task_width))
        if (task.width, title.width) != widths:
            task.width, title.width = widths
            columns_resized(self)
            self.refresh()

    def on_resize(self) -> None:
        self.fit()

    def watch_show_vertical_scrollbar(self) -> None:
        self.fit()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        """Handled here rather than bubbled up through the column's containers: see ``TaskSelected``."""
        event.stop()
        self.query_ancestor(BoardView).highlighted(event)

    def action_half_page(self, direction: int) -> None:
        if self.row_count:
            half = max(1, self.scrollable_content_region.height // 2)
            self.move_cursor(row=max(0, min(self.row_count - 1, self.cursor_row + direction * half)), animate=False)

    def action_cursor_left(self) -> None:
        self.post_message(self.Step(self, -1))

    @property
    def _listed(self) -> bool:
        return self.query_ancestor(BoardView).has_class("-list")

    def action_cursor_down(self) -> None:
        """In the list, down from a group's last card goes to the next group's first."""
        if self._listed and self.cursor_row >= self.row_count - 1:
            self.post_message(self.Step(self, 1, "first"))
        else:
            super().action_cursor_down()

    def action_cursor_up(self) -> None:
        if self._listed and self.cursor_row <= 0:
            self.post_message(self.Step(self, -1, "last"))
        else:
            super().action_cursor_up()

    def action_cursor_right(self) -> None:
        self.post_message(self.Step(self, 1))


class BoardView(FilterLine, Widget):
    """The board (the view contract of DESIGN §8: ``show_project``, ``select_task``, posts ``TaskSelected``)."""

    DEFAULT_CSS = """
    BoardView { layout: vertical; height: 1fr; }
    BoardView > #board-filter { display: none; height: 3; }
    BoardView.-filtering > #board-filter { display: block; }
    BoardView > #board-columns { layout: horizontal; height: 1fr; }
    BoardView .board-column {
        width: 1fr; height: 1fr; border: round $foreground-muted; border-title-color: $text-muted;
    }
    BoardView .board-column:focus-within { border: round $primary; border-title-color: $text; }
    BoardView TaskColumn {
        height: 1fr; padding: 0 1; overflow-x: hidden; scrollbar-size-vertical: 1; background: transparent;
    }
    BoardView .column-label { display: none; width: 1; color: $text-muted; }
    BoardView .board-column.-empty { width: 3; }
    BoardView .board-column.-empty > .column-label { display: block; }
    BoardView .board-column.-empty > TaskColumn { height: 0; padding: 0; }  /* kept displayed: it may take the focus */
    BoardView.-list > #board-columns { layout: vertical; overflow-y: auto; scrollbar-size-vertical: 1; }
    BoardView.-list .board-column, BoardView.-list .board-column.-empty {
        width: 1fr; height: auto; border: none; border-top: solid $foreground-muted;
    }
    BoardView.-list .board-column:focus-within { border: none; border-top: solid $primary; }
    BoardView.-list .board-column > .column-label { display: none; }
    BoardView.-list TaskColumn { height: auto; overflow-y: hidden; }
    """

    FILTER_ID = "board-filter"
    NAVIGATION: ClassVar[list[tuple[str, str, str]]] = [
        ("up, down", "Move in a column", "page up / page down too"),
        ("left, right", "Next column", "the nearest column with tasks"),
        ("enter", "Open the task", "its detail, full screen; escape comes back"),
    ]

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.project: Project | None = None
        self.selected: str | None = None
        self.filter = ""
        self.columns = {name: TaskColumn(name, title) for name, title in COLUMNS}
        self._where: dict[str, str] = {}  # task id -> the column showing it
        self._shown: dict[str, tuple[TaskCell, TitleCell]] = {}  # task id -> its cells on show
        self._task_width = 0  # of the task cells: the widest shown yet, and a space
        self._last_lines: dict[str, str] = {}  # running task id -> the last line of its output
        self._spent: dict[str, str] = {}  # running task id -> what its run spent so far (its cost)
        self.palette = ThemePalette(self, self._recolour)  # the running theme's status styles

    def compose(self) -> ComposeResult:
        yield Input(
            placeholder="filter: id, title, status, priority, phase or tag (enter keeps it, escape clears it)",
            id="board-filter",
        )
        with Container(id="board-columns"):
            for column in self.columns.values():
                with Vertical(classes="board-column", id=f"board-{column.kind}"):
                    yield Static(classes="column-label")
                    yield column

    def on_mount(self) -> None:
        for column in self.columns.values():
            self._title(column)
        self.set_interval(1.0, self._tick)
        self.palette.follow()

    def _recolour(self) -> None:
        """A new theme: every card whose mark changes colour is drawn again (its cell updated)."""
        if self.project is not None:
            self.show_project(self.project, None)

    def note_output(self, task_id: str, text: str) -> None:
        """Keep the last line of a running task's output for its card (drawn on the next tick)."""
        lines = [line for line in text.replace("\r", "\n").split("\n") if line.strip()]
        if lines:
            self._last_lines[task_id] = "".join(ch for ch in lines[-1].strip() if ch.isprintable())[:200]

    def note_spent(self, task_id: str, spent: str) -> None:
        """Keep what a running task's run spent so far for its card (drawn on the next tick)."""
        self._spent[task_id] = spent

    def _tick(self) -> None:
        """Redraw the running cards: their elapsed time and last line."""
        if self.project is not None:
            for task_id in self.rows("running"):
                if task_id in self.project.tasks:
                    self._place(self.project, task_id, "running")

    # -- the view contract ----------------------------------------------------------------------------

    def show_project(self, project: Project, changed: frozenset[str] | None) -> None:
        """Rows are placed column by column in the column's order, so rows added to an empty column (the
        first show, a filter) are in order already and only columns that had rows are sorted."""
        self.project = project
        graph = project.graph
        if changed is None:
            ids = set(project.tasks) | set(self._where)
        else:
            ids = set(changed)
            for task_id in changed:
                if task_id in graph:
                    ids.update(graph.dependents(task_id))
        wanted: dict[str | None, list[str]] = {}
        for task_id in ids:
            wanted.setdefault(self._wanted(project, task_id), []).append(task_id)
        orders = {name: self._order(name, project) for name in self.columns}
        had_rows = {name for name, column in self.columns.items() if column.row_count}
        touched = {"ready"}  # its order follows the remaining hours of every task
        with self.app.batch_update():
            for task_id in wanted.pop(None, ()):
                touched |= self._place(project, task_id, None)
            for name, task_ids in wanted.items():
                assert name is not None  # popped above
                for task_id in sorted(task_ids, key=orders[name]):
                    touched |= self._place(project, task_id, name)
            for name in touched:
                column = self.columns[name]
                if name in had_rows:
                    column.sort("task", key=_by_task(orders[name]))
                self._title(column)
            self._fit_layout()
            self._follow_selection()

    def select_task(self, task_id: str) -> None:
        self.selected = task_id
        where = self._where.get(task_id)
        self._show_cursor_in(where)
        if where is None:
            return
        column = self.columns[where]
        column.move_cursor(row=column.get_row_index(task_id), animate=False)
        focused = self.screen.focused
        if focused is not None and focused is not column and isinstance(focused, TaskColumn):
            self.screen.set_focus(column)  # now, not later: see on_descendant_focus
        self.call_after_refresh(self._reveal, column)

    def rows(self, name: str) -> list[str]:
        """The ids in a column, top to bottom."""
        return [str(row.key.value) for row in self.columns[name].ordered_rows]

    def column_of(self, task_id: str) -> str | None:
        return self._where.get(task_id)

    # -- rows -----------------------------------------------------------------------------------------

    def _wanted(self, project: Project, task_id: str) -> str | None:
        """The column a task belongs in now (None: gone from the plan, or filtered out)."""
        task = project.tasks.get(task_id)
        status = project.graph.status_of(task_id) if task is not None else None
        if task is None or status is None or (self.filter and not matches(task, status, self.filter)):
            return None
        return COLUMN_OF[status]

    def _place(self, project: Project, task_id: str, want: str | None) -> set[str]:
        """Put one task's row in column ``want`` (None: nowhere); returns the columns whose rows came or went."""
        have = self._where.get(task_id)
        touched: set[str] = set()
        if have is not None and have != want:
            self.columns[have].remove_row(task_id)
            del self._where[task_id], self._shown[task_id]
            touched.add(have)
        if want is None:
            return touched
        task = project.tasks[task_id]
        status = project.graph.status_of(task_id)
        note = ""
        if status in NOTED:
            note = card_note(
                task, status, self._last_lines.get(task_id, ""), datetime.now(UTC), self._spent.get(task_id, "")
            )
        if status != TaskStatus.IN_PROGRESS:
            self._last_lines.pop(task_id, None)
        if status not in (TaskStatus.IN_PROGRESS, TaskStatus.READY):  # ready: a run whose start is not caught up
            self._spent.pop(task_id, None)
        cells = row_cells(task, status, self.palette.styles, note)
        column = self.columns[want]
        if have != want:
            column.add_row(*cells, key=task_id, height=2 if note else 1)
            self._where[task_id] = want
            touched.add(want)
            self._widen(cells[0].text.cell_len + 1)
        elif cells != self._shown[task_id]:
            for key, old, new in zip(("task", "title"), self._shown[task_id], cells, strict=True):
                if old != new:
                    column.update_cell(task_id, key, new)
            if want == "done":
                touched.add(want)  # a failed task moving to completed changes its place in the column
        self._shown[task_id] = cells
        return touched

    def _order(self, name: str, project: Project) -> Callable[[str], Any]:
        """The sort key of a column's task ids."""
        graph = project.graph
        if name == "ready":
            ranks = {task_id: index for index, task_id in enumerate(graph.ready())}
            return lambda task_id: ranks.get(task_id, len(ranks))
        if name == "done":
            return lambda task_id: (_DONE_ORDER.get(graph.status_of(task_id), 3), natural_key(task_id))
        return natural_key

    def _widen(self, width: int) -> None:
        if width > self._task_width:
            self._task_width = width
            for column in self.columns.values():
                column.fit(width)
            self._fit_layout()

    def _title(self, column: TaskColumn) -> None:
        """The title and count on the column's border, and downwards on its label (shown while it is empty)."""
        box = column.parent
        assert isinstance(box, Widget)
        title = f"{column.title} {column.row_count}"
        box.border_title = title
        box.set_class(not column.row_count, "-empty")
        box.query_one(".column-label", Static).update("\n".join(title))

    # -- narrow terminals -----------------------------------------------------------------------------

    def on_resize(self) -> None:
        self._fit_layout()

    def listed(self) -> bool:
        """Whether the board is one list grouped by status rather than columns."""
        return self.has_class("-list")

    def _fit_layout(self) -> None:
        """Columns while each card keeps ``MIN_TITLE`` characters of title, else one list."""
        width = self.size.width
        full = sum(1 for column in self.columns.values() if column.row_count)
        if not width or not full:
            return
        room = (width - COLLAPSED * (len(self.columns) - full)) // full - CARD_FRAME - self._task_width
        if self.listed() != (room < MIN_TITLE):
            self.set_class(room < MIN_TITLE, "-list")
            where = self._where.get(self.selected or "")
            if where is not None:
                self.call_after_refresh(self._reveal, self.columns[where])

    def _reveal(self, column: TaskColumn) -> None:
        """In the list, scroll it so the cursor's card (and, on a group's first card, its title) is on show."""
        if not self.listed() or not column.row_count or not column.is_mounted:
            return
        scroller = self.query_one("#board-columns")
        rows = column.ordered_rows
        row = min(column.cursor_row, len(rows) - 1)
        above = sum(r.height for r in rows[:row])
        top = column.region.y - scroller.content_region.y + round(scroller.scroll_y) + above
        heading = 1 if row == 0 else 0
        scroller.scroll_to_region(Region(0, top - heading, 1, rows[row].height + heading), animate=False, force=True)

    # -- selection ------------------------------------------------------------------------------------

    def _show_cursor_in(self, where: str | None) -> None:
        """Show the cursor in column ``where`` only: the others' cursor rows are not the selection."""
        for name, column in self.columns.items():
            column.show_cursor = name == where

    def _follow_selection(self) -> None:
        """Keep the cursor on the selected task, wherever its row is now."""
        if self.selected is not None:
            self.select_task(self.selected)

    def _select(self, task_id: str) -> None:
        if task_id != self.selected:
            self.selected = task_id
            self._show_cursor_in(self._where.get(task_id))
            self.app.post_message(TaskSelected(task_id))

    def highlighted(self, event: DataTable.RowHighlighted) -> None:
        """The user moved the cursor. A highlight of a row the cursor has left since is stale (rows moved, or
        the selection came from elsewhere): taking it would bounce the selection between views for ever. So is
        one in a column the selected task has just left: focus follows the task later (``focus`` is deferred),
        so the old column may still have it when its cursor lands on the next row."""
        table = event.data_table
        if isinstance(table, TaskColumn) and self._where.get(self.selected or "") not in (None, table.kind):
            return  # the board moved the selected task to another column; this cursor only fell on a neighbour
        if (
            not table.has_focus
            or event.cursor_row != table.cursor_row
            or not table.is_valid_coordinate(table.cursor_coordinate)
        ):
            return
        if event.row_key == table.coordinate_to_cell_key(table.cursor_coordinate).row_key:
            self._select(str(event.row_key.value))
            if isinstance(table, TaskColumn):
                self._reveal(table)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """Enter on a row opens the task (the app's ``open_task``)."""
        event.stop()
        self.post_message(ActionRequested("open", str(event.row_key.value)))

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        """A column the user focuses selects its cursor's task. The board moves the focus itself to follow the
        selection, at once (``Screen.set_focus``, where ``Widget.focus`` waits its turn and could land after a
        newer selection); the event of a focus that has moved on since is stale and taking it would select the
        older task again."""
        column = event.widget
        if column is not self.screen.focused:
            return
        if isinstance(column, TaskColumn) and column.row_count:
            self._select(str(column.coordinate_to_cell_key(column.cursor_coordinate).row_key.value))

    def on_task_column_step(self, event: TaskColumn.Step) -> None:
        event.stop()
        names = [name for name, _ in COLUMNS]
        index = names.index(event.column.kind)
        while 0 <= index + event.step < len(names):
            index += event.step
            column = self.columns[names[index]]
            if column.row_count:
                if event.land is not None:
                    column.move_cursor(row=0 if event.land == "first" else column.row_count - 1, animate=False)
                column.focus()
                self.call_after_refresh(self._reveal, column)
                return

    def focus_selection(self) -> None:
        """Focus the column holding the selected task (else the first column with rows)."""
        where = self._where.get(self.selected or "")
        if where is None:
            where = next((name for name, _ in COLUMNS if self.columns[name].row_count), "ready")
        self.screen.set_focus(self.columns[where])

    def focus_rows(self) -> None:
        self.focus_selection()
