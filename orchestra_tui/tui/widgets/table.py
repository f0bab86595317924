"""The table view (``4``): every task in one sortable table, one row per task.

Columns: id, title, status, priority, phase, agent, hours (estimated), elapsed (running: since it started;
done: the time it took), cost, blocked by. ``s`` sorts by the next column, ``S`` reverses the order (the app
remembers both in config.toml), ``F`` shows only the failed and cancelled tasks, ``/`` filters as on the
board. A change redraws only the rows of the tasks it names (and of their dependants, whose blockers may
follow); the view follows the contract of DESIGN §8 (``show_project``, ``select_task``, posts ``TaskSelected``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widget import Widget
from textual.widgets import DataTable, Input, Static

from ...formatting import spent
from ...graph import natural_key
from ...models import PRIORITY_RANK, ProjectPhase, TaskStatus
from ...statuses import URGENCY
from ..messages import ActionRequested, TaskSelected
from ..status_text import Palette, ThemePalette, status_text
from .board import matches
from .filtering import FilterLine

if TYPE_CHECKING:
    from ...engine.project import Project
    from ...models import AgentTask

COLUMNS = ("id", "title", "status", "priority", "phase", "agent", "hours", "elapsed", "cost", "blocked by")
_STATUS_ORDER = {status: index for index, status in enumerate(URGENCY)}
_PHASE_ORDER = {phase.value: index for index, phase in enumerate(ProjectPhase)}
FAILURES = frozenset({TaskStatus.FAILED, TaskStatus.CANCELLED})
TITLE_WIDTH = 28  # the title column's cells; longer titles end in "…"


def _elapsed(task: AgentTask, status: TaskStatus, now: datetime) -> float | None:
    """Hours: since it started while it runs, else the time it took (None: not started)."""
    if status == TaskStatus.IN_PROGRESS and task.started_at:
        try:
            started = task.started_at  # a datetime, or the stored text when the task was built unvalidated
            start = started if isinstance(started, datetime) else datetime.fromisoformat(started)
            return max(0.0, (now - start).total_seconds() / 3600)
        except ValueError:
            return None
    return task.actual_hours


def row_values(
    project: Project,
    task_id: str,
    now: datetime,
    colours: Palette,
    blocked_by: Mapping[str, list[str]] | None = None,
) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """(the cells shown, the values the columns sort by) of one task. ``blocked_by``: every task's blockers at
    once (``TaskGraph.all_blockers``, one pass) when many rows are made; else this task's are found."""
    task = project.tasks[task_id]
    graph = project.graph
    status = graph.status_of(task_id)
    blockers = graph.blockers(task_id) if blocked_by is None else blocked_by.get(task_id, [])
    elapsed = _elapsed(task, status, now)
    cost = task.cost_usd
    title = task.title if len(task.title) <= TITLE_WIDTH else task.title[: TITLE_WIDTH - 1].rstrip() + "…"
    cells = (
        Text(task_id, style="bold"),
        title,
        status_text(status, colours),
        task.priority.value,
        task.phase.value,
        project.agent_of(task),
        f"{task.estimated_hours:g}",
        spent(elapsed) if elapsed is not None else "-",
        f"${cost:.4f}" if cost else "-",
        ", ".join(blockers[:3]) + (f" +{len(blockers) - 3}" if len(blockers) > 3 else ""),
    )
    keys = (
        natural_key(task_id),
        task.title.casefold(),
        _STATUS_ORDER.get(status.value, 9),
        -PRIORITY_RANK[task.priority.value],
        _PHASE_ORDER.get(task.phase.value, 9),
        project.agent_of(task),
        task.estimated_hours,
        -1.0 if elapsed is None else elapsed,
        cost or 0.0,
        len(blockers),
    )
    return cells, keys


class TaskTable(DataTable[Any]):
    """The table; ``enter`` opens the task, vim keys move."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "cursor_down", "Down", show=False, id="table.down"),
        Binding("k", "cursor_up", "Up", show=False, id="table.up"),
        Binding("g", "scroll_top", "First row", show=False, id="table.first"),
        Binding("G", "scroll_bottom", "Last row", show=False, id="table.last"),
        Binding("ctrl+d", "half_page(1)", "Half a page down", show=False, id="table.half_down"),
        Binding("ctrl+u", "half_page(-1)", "Half a page up", show=False, id="table.half_up"),
    ]

    def action_half_page(self, direction: int) -> None:
        if self.row_count:
            half = max(1, self.scrollable_content_region.height // 2)
            self.move_cursor(row=max(0, min(self.row_count - 1, self.cursor_row + direction * half)), animate=False)


class TableView(FilterLine, Widget, can_focus=False):
    """Every task in one table (the view contract of DESIGN §8)."""

    DEFAULT_CSS = """
    TableView { layout: vertical; height: 1fr; }
    TableView > #table-filter { display: none; height: 3; }
    TableView.-filtering > #table-filter { display: block; }
    TableView > #table-status { height: 1; padding: 0 1; color: $text-muted; }
    TableView > TaskTable { height: 1fr; }
    """
    FILTER_ID = "table-filter"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "sort_next", "Sort by the next column", id="table.sort"),
        Binding("S", "sort_reverse", "Reverse the order", id="table.reverse"),
        Binding("F", "failures", "Failed and cancelled only", id="table.failures"),
    ]

    class SortChanged(Message):
        """The sort changed (the app remembers it)."""

        def __init__(self, column: str, reverse: bool) -> None:
            super().__init__()
            self.column, self.reverse = column, reverse

    def __init__(self, *, id: str | None = None, sort: str = "id", reverse: bool = False) -> None:
        super().__init__(id=id)
        self.project: Project | None = None
        self.selected: str | None = None
        self.filter = ""
        self.failures_only = False
        self.sort_column = sort if sort in COLUMNS else "id"
        self.reverse = reverse
        self._keys: dict[str, tuple[Any, ...]] = {}  # task id -> its sort values
        self._shown: dict[str, tuple[Any, ...]] = {}  # task id -> its cells on show
        self.palette = ThemePalette(self, self._recolour)  # the running theme's status styles

    def compose(self) -> ComposeResult:
        yield Input(
            placeholder="filter: id, title, status, priority, phase or tag (enter keeps it, escape clears it)",
            id="table-filter",
        )
        yield Static(id="table-status")
        yield TaskTable(id="table-rows", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        table = self.table
        for name in COLUMNS:
            table.add_column(name, key=name)
        self.palette.follow()

    def _recolour(self) -> None:
        """A new theme: every row whose status changes colour is drawn again (its cell updated)."""
        if self.project is not None:
            self.show_project(self.project, None)

    @property
    def table(self) -> TaskTable:
        return self.query_one(TaskTable)

    # -- the view contract ----------------------------------------------------------------------------

    def show_project(self, project: Project, changed: frozenset[str] | None) -> None:
        self.project = project
        graph = project.graph
        if changed is None:
            ids = set(project.tasks) | set(self._shown)
        else:
            ids = set(changed)
            for task_id in changed:
                if task_id in graph:
                    ids.update(graph.dependents(task_id))
        now = datetime.now(UTC)
        blocked_by = graph.all_blockers() if changed is None else None  # not one upstream walk per row
        table = self.table
        with self.app.batch_update():
            for task_id in ids:
                wanted = task_id in project.tasks and self._wanted(project, task_id)
                if not wanted:
                    if task_id in self._shown:
                        table.remove_row(task_id)
                        del self._shown[task_id], self._keys[task_id]
                    continue
                cells, keys = row_values(project, task_id, now, self.palette.styles, blocked_by)
                self._keys[task_id] = keys
                if task_id not in self._shown:
                    table.add_row(*cells, key=task_id)
                elif cells != self._shown[task_id]:
                    for name, old, new in zip(COLUMNS, self._shown[task_id], cells, strict=True):
                        if old != new:
                            table.update_cell(task_id, name, new)
                self._shown[task_id] = cells
            self._sort()
            self._status_line()
            if self.selected is not None:
                self._move_to(self.selected)

    def select_task(self, task_id: str) -> None:
        self.selected = task_id
        self._move_to(task_id)

    def rows(self) -> list[str]:
        """The ids on show, top to bottom."""
        return [str(row.key.value) for row in self.table.ordered_rows]

    # -- inside ---------------------------------------------------------------------------------------

    def _wanted(self, project: Project, task_id: str) -> bool:
        status = project.graph.status_of(task_id)
        if self.failures_only and status not in FAILURES:
            return False
        return not self.filter or matches(project.tasks[task_id], status, self.filter)

    def _sort(self) -> None:
        """Order the rows by the sort column's values (DataTable sorts by cells: the id cell maps to them)."""
        index = COLUMNS.index(self.sort_column)
        keys = self._keys
        self.table.sort("id", key=lambda cell: (keys[cell.plain][index], keys[cell.plain][0]), reverse=self.reverse)

    def _status_line(self) -> None:
        shown, total = len(self._shown), len(self.project.tasks) if self.project else 0
        parts = [
            f"{shown} of {total} tasks" if shown != total else f"{total} tasks",
            f"by {self.sort_column}{' (reversed)' if self.reverse else ''}",
            "failed and cancelled only (F: all)" if self.failures_only else "s sort · S reverse · F failures",
        ]
        if self.filter:
            parts.append(f"filter {self.filter!r}")
        self.query_one("#table-status", Static).update(" · ".join(parts))

    def _move_to(self, task_id: str) -> None:
        table = self.table
        if task_id in self._shown:
            table.move_cursor(row=table.get_row_index(task_id), animate=False)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        table = self.table
        if (
            not table.has_focus
            or event.cursor_row != table.cursor_row
            or not table.is_valid_coordinate(table.cursor_coordinate)
        ):
            return
        if event.row_key != table.coordinate_to_cell_key(table.cursor_coordinate).row_key:
            return  # stale: rows moved (a sort, a change) since the cursor was there
        task_id = str(event.row_key.value)
        if task_id != self.selected:
            self.selected = task_id
            self.app.post_message(TaskSelected(task_id))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.post_message(ActionRequested("open", str(event.row_key.value)))

    def focus(self, scroll_visible: bool = True) -> TableView:
        self.table.focus(scroll_visible)
        return self

    # -- keys -----------------------------------------------------------------------------------------

    def action_sort_next(self) -> None:
        self.sort_column = COLUMNS[(COLUMNS.index(self.sort_column) + 1) % len(COLUMNS)]
        self._resort()

    def action_sort_reverse(self) -> None:
        self.reverse = not self.reverse
        self._resort()

    def _resort(self) -> None:
        self._sort()
        self._status_line()
        if self.selected is not None:
            self._move_to(self.selected)
        self.post_message(self.SortChanged(self.sort_column, self.reverse))

    def action_failures(self) -> None:
        self.failures_only = not self.failures_only
        if self.project is not None:
            self.show_project(self.project, None)

    def focus_rows(self) -> None:
        self.table.focus()
