"""The board: the tasks in five columns by status, kept in step with the project by keyed diffs.

Blocked, Ready (in recommended order), Running, Review, Done (failed, then cancelled, then completed: the
ones needing attention first, each with its mark). A change touches only the rows of the tasks it names
and of their dependants (whose readiness may follow): a row moves between columns, or its cells update in
place. ``/`` opens the filter line above the columns; only matching tasks are shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widget import Widget
from textual.widgets import DataTable, Input

from ...cli.render import status_text
from ...graph import natural_key
from ...models import TaskStatus
from ..messages import TaskSelected

if TYPE_CHECKING:
    from ...engine.project import Project
    from ...models import AgentTask

COLUMNS = (("blocked", "Blocked"), ("ready", "Ready"), ("running", "Running"), ("review", "Review"), ("done", "Done"))
COLUMN_OF = {
    TaskStatus.BLOCKED: "blocked",
    TaskStatus.READY: "ready",
    TaskStatus.IN_PROGRESS: "running",
    TaskStatus.REVIEW: "review",
    TaskStatus.FAILED: "done",
    TaskStatus.CANCELLED: "done",
    TaskStatus.COMPLETED: "done",
}
_DONE_ORDER = {TaskStatus.FAILED: 0, TaskStatus.CANCELLED: 1, TaskStatus.COMPLETED: 2}


@dataclass(frozen=True)
class TaskCell:
    """The first cell of a row: its mark and id. It carries the id, so a column can sort by it."""

    task_id: str
    text: Text

    def __rich__(self) -> Text:
        return self.text


def row_cells(task: AgentTask, status: TaskStatus) -> tuple[TaskCell, Text]:
    mark = status_text(status)[:1]
    return TaskCell(task.task_id, Text.assemble(mark, " ", (task.task_id, "bold"))), Text(task.title, no_wrap=True, overflow="ellipsis")


def matches(task: AgentTask, status: TaskStatus, needle: str) -> bool:
    """The filter: a case-insensitive substring of the id, title, status, priority, phase or a tag."""
    haystack = " ".join([task.task_id, task.title, status.value, task.priority.value, task.phase.value, *task.tags])
    return needle.casefold() in haystack.casefold()


class TaskColumn(DataTable[object]):
    """One column; left and right step to the neighbouring column instead of scrolling."""

    class Step(Message):
        def __init__(self, column: TaskColumn, step: int) -> None:
            super().__init__()
            self.column, self.step = column, step

    def __init__(self, name: str, title: str) -> None:
        super().__init__(id=f"column-{name}", cursor_type="row", show_header=False, zebra_stripes=False)
        self.kind, self.title = name, title

    def action_cursor_left(self) -> None:
        self.post_message(self.Step(self, -1))

    def action_cursor_right(self) -> None:
        self.post_message(self.Step(self, 1))


class BoardView(Widget):
    """The board (the view contract of DESIGN §8: ``show_project``, ``select_task``, posts ``TaskSelected``)."""

    DEFAULT_CSS = """
    BoardView { layout: vertical; height: 1fr; }
    BoardView > #board-filter { display: none; height: 3; }
    BoardView.-filtering > #board-filter { display: block; }
    BoardView > Horizontal { height: 1fr; }
    BoardView .board-column { width: 1fr; height: 1fr; border: round $panel; border-title-color: $text-muted; }
    BoardView .board-column:focus-within { border: round $primary; border-title-color: $text; }
    BoardView TaskColumn { height: 1fr; overflow-x: hidden; background: transparent; }
    """

    NAVIGATION = [
        ("up, down", "Move in a column", "page up / page down, home / end too"),
        ("left, right", "Next column", "the nearest column with tasks"),
    ]

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.project: Project | None = None
        self.selected: str | None = None
        self.filter = ""
        self.columns = {name: TaskColumn(name, title) for name, title in COLUMNS}
        self._where: dict[str, str] = {}  # task id -> the column showing it
        self._shown: dict[str, tuple[TaskCell, Text]] = {}  # task id -> its cells on show

    def compose(self) -> ComposeResult:
        yield Input(placeholder="filter: id, title, status, priority, phase or tag (enter keeps it, escape clears it)", id="board-filter")
        with Horizontal():
            for column in self.columns.values():
                with Vertical(classes="board-column", id=f"board-{column.kind}"):
                    yield column

    def on_mount(self) -> None:
        for column in self.columns.values():
            column.add_column("task", key="task")
            column.add_column("title", key="title")
            self._title(column)

    # -- the view contract ----------------------------------------------------------------------------

    def show_project(self, project: Project, changed: frozenset[str] | None) -> None:
        self.project = project
        graph = project.graph
        if changed is None:
            ids = set(project.tasks) | set(self._where)
        else:
            ids = set(changed)
            for task_id in changed:
                if task_id in graph:
                    ids.update(graph.dependents(task_id))
        touched = {"ready"}  # its order follows the remaining hours of every task
        with self.app.batch_update():
            for task_id in ids:
                touched |= self._place(project, task_id)
            for name in touched:
                self._sort(self.columns[name], project)
                self._title(self.columns[name])
            self._follow_selection()

    def select_task(self, task_id: str) -> None:
        self.selected = task_id
        where = self._where.get(task_id)
        if where is None:
            return
        column = self.columns[where]
        column.move_cursor(row=column.get_row_index(task_id), animate=False)
        focused = self.screen.focused
        if focused is not None and focused is not column and isinstance(focused, TaskColumn):
            column.focus()

    def rows(self, name: str) -> list[str]:
        """The ids in a column, top to bottom."""
        return [str(row.key.value) for row in self.columns[name].ordered_rows]

    def column_of(self, task_id: str) -> str | None:
        return self._where.get(task_id)

    # -- rows -----------------------------------------------------------------------------------------

    def _place(self, project: Project, task_id: str) -> set[str]:
        """Put one task's row where it belongs now; returns the columns whose rows came or went."""
        task = project.tasks.get(task_id)
        status = project.graph.status_of(task_id) if task is not None else None
        want = None
        if task is not None and status is not None and (not self.filter or matches(task, status, self.filter)):
            want = COLUMN_OF[status]
        have = self._where.get(task_id)
        touched: set[str] = set()
        if have is not None and have != want:
            self.columns[have].remove_row(task_id)
            del self._where[task_id], self._shown[task_id]
            touched.add(have)
        if want is None:
            return touched
        assert task is not None and status is not None
        cells = row_cells(task, status)
        column = self.columns[want]
        if have != want:
            column.add_row(*cells, key=task_id)
            self._where[task_id] = want
            touched.add(want)
        elif cells != self._shown[task_id]:
            for key, old, new in zip(("task", "title"), self._shown[task_id], cells, strict=True):
                if old != new:
                    column.update_cell(task_id, key, new)
            if want == "done":
                touched.add(want)  # a failed task moving to completed changes its place in the column
        self._shown[task_id] = cells
        return touched

    def _sort(self, column: TaskColumn, project: Project) -> None:
        graph = project.graph
        if column.kind == "ready":
            order = {task_id: index for index, task_id in enumerate(graph.ready())}
            column.sort("task", key=lambda cell: order.get(cell.task_id, len(order)))
        elif column.kind == "done":
            column.sort("task", key=lambda cell: (_DONE_ORDER.get(graph.status_of(cell.task_id), 3), natural_key(cell.task_id)))
        else:
            column.sort("task", key=lambda cell: natural_key(cell.task_id))

    def _title(self, column: TaskColumn) -> None:
        column.parent.border_title = f"{column.title} {column.row_count}"  # type: ignore[union-attr]

    # -- selection ------------------------------------------------------------------------------------

    def _follow_selection(self) -> None:
        """Keep the cursor on the selected task, wherever its row is now."""
        if self.selected is not None and self.selected in self._where:
            self.select_task(self.selected)

    def _select(self, task_id: str) -> None:
        if task_id != self.selected:
            self.selected = task_id
            self.post_message(TaskSelected(task_id))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        """The user moved the cursor. A highlight of a row the cursor has left since is stale (rows moved, or
        the selection came from elsewhere): taking it would bounce the selection between views for ever."""
        event.stop()
        table = event.data_table
        if not table.has_focus or event.cursor_row != table.cursor_row or not table.is_valid_coordinate(table.cursor_coordinate):
            return
        if event.row_key == table.coordinate_to_cell_key(table.cursor_coordinate).row_key:
            self._select(str(event.row_key.value))

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        column = event.widget
        if isinstance(column, TaskColumn) and column.row_count:
            self._select(str(column.coordinate_to_cell_key(column.cursor_coordinate).row_key.value))

    def on_task_column_step(self, event: TaskColumn.Step) -> None:
        event.stop()
        names = [name for name, _ in COLUMNS]
        index = names.index(event.column.kind)
        while 0 <= index + event.step < len(names):
            index += event.step
            if self.columns[names[index]].row_count:
                self.columns[names[index]].focus()
                return

    def focus_selection(self) -> None:
        """Focus the column holding the selected task (else the first column with rows)."""
        where = self._where.get(self.selected or "")
        if where is None:
            where = next((name for name, _ in COLUMNS if self.columns[name].row_count), "ready")
        self.columns[where].focus()

    # -- the filter -----------------------------------------------------------------------------------

    def open_filter(self) -> None:
        self.add_class("-filtering")
        self.query_one("#board-filter", Input).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.filter = event.value.strip()
        if self.project is not None:
            self.show_project(self.project, None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if not self.filter:
            self.remove_class("-filtering")
        self.focus_selection()

    def on_key(self, event: events.Key) -> None:
        if event.key == "escape" and self.has_class("-filtering"):
            event.stop()
            self.query_one("#board-filter", Input).value = ""  # its Changed message redraws the board
            self.remove_class("-filtering")
            self.focus_selection()
