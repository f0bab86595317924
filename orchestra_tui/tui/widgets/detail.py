"""The selected task in full: definition, where it stands in the graph, and its runs."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import TYPE_CHECKING

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.measure import Measurement
from rich.padding import Padding
from rich.segment import Segment
from rich.style import Style
from rich.table import Table
from rich.text import Text
from textual.cache import LRUCache
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.style import Style as VisualStyle
from textual.visual import Visual, visualize

from ...agents.pricing import format_cost, format_total
from ...display import one_line, printable
from ...formatting import hours, local_time, spent, tokens_line
from ..status_text import Palette, ThemePalette, status_text
from ..textual_compat import set_virtual_size
from .output import run_outcome

if TYPE_CHECKING:
    from ...engine.project import Project
    from ...engine.runs import RunSummary


NO_TASK = Text("no task selected")
DRAWN = 64  # tasks' drawn lines kept by the detail pane (a few screens of a board column)
_MARKED = frozenset({"in_progress", "review", "completed", "failed", "cancelled"})  # run outcomes with a status mark


def _ids(project: Project, task_ids: Sequence[str], colours: Palette) -> Text:
    """Ids each with its status mark: ``✓ DES-001, ◌ DES-002``."""
    text = Text()
    for index, task_id in enumerate(task_ids):
        if index:
            text.append(", ")
        text.append_text(status_text(project.graph.status_of(task_id), colours)[:1])
        text.append(f" {task_id}")
    return text


def run_line(run: RunSummary, colours: Palette) -> Text:
    """A run in one line: id, agent, outcome, seconds, tokens and cost (so far, while it runs), error."""
    status, error = run_outcome(run.status, run.error)
    line = Text.assemble(
        run.run_id, " · ", run.agent, " · ", status_text(status, colours) if status in _MARKED else status
    )
    if run.seconds is not None:
        line.append(f" · {run.seconds:.1f} s")
    if run.input_tokens is not None or run.output_tokens is not None:
        line.append(f" · {tokens_line(run.input_tokens, run.output_tokens)} · {format_cost(run.cost_usd)}")
    if error:
        line.append(f": {printable(error)}", style=_error(colours))
    return line


def _error(colours: Palette) -> Style:
    """An error's text: the failed status's colour, not bold."""
    return Style(color=colours["failed"].color) if "failed" in colours else Style()


class LabelGrid:
    """Labelled rows, drawn segment for segment as ``table()`` draws them (a Rich grid: a bold label column that
    never wraps, one space, then the values), at about half the cost.

    A Rich ``Table`` measures every cell and renders each one through padding, alignment and shaping; on a key press
    that was most of the detail pane's drawing, on the event loop. Here the label column is as wide as the longest
    label and one space, the value column the rest of the width or its longest line, whichever is less, and each
    cell is rendered once. When the labels leave no room for a value the grid hands the drawing to its table.
    tests/tui/test_tui_detail_grid.py holds the two to the same segments at many widths.
    """

    def __init__(self) -> None:
        self.rows: list[tuple[str, Text]] = []

    def add_row(self, label: str, value: Text) -> None:
        self.rows.append((label, value))

    def table(self) -> Table:
        """The Rich table this grid draws as."""
        table = Table.grid(padding=(0, 1))
        table.add_column(style="bold", no_wrap=True)
        table.add_column(ratio=1)
        for label, value in self.rows:
            table.add_row(label, value)
        return table

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if not self.rows:
            return
        width = options.max_width
        label_width = max(cell_len(label) for label, _ in self.rows) + 1
        if width < label_width + 1:
            yield self.table()
            return
        value_width = min(
            width - label_width, max(Measurement.get(console, options, value).maximum for _, value in self.rows) or 1
        )
        cell = options.update(justify="left", overflow="ellipsis", height=None, highlight=False)
        label_options = cell.update(width=label_width, no_wrap=True)
        value_options = cell.update(width=value_width, no_wrap=False)
        label_style, value_style = console.get_style("bold"), Style.null()  # the columns' styles
        for label, value in self.rows:
            labels = console.render_lines(Padding(label, (0, 1, 0, 0)), label_options, style=label_style)
            values = console.render_lines(value, value_options, style=value_style)
            height = max(len(labels), len(values))
            labels = Segment.set_shape(Segment.align_top(labels, label_width, height, label_style), label_width, height)
            values = Segment.set_shape(Segment.align_top(values, value_width, height, value_style), value_width, height)
            for label_line, value_line in zip(labels, values, strict=True):
                yield from label_line
                yield from value_line
                yield Segment.line()


def content_key(renderable: RenderableType) -> Hashable:
    """What ``renderable`` (text, a label grid, a group of them: what the detail pane shows) draws, as a key: two
    renderables with equal keys draw the same lines at the same width and style."""
    if isinstance(renderable, Text):
        return (
            renderable.plain,
            tuple(renderable.spans),
            renderable.style,
            renderable.justify,
            renderable.overflow,
            renderable.no_wrap,
            renderable.end,
        )
    if isinstance(renderable, LabelGrid):
        return tuple((label, content_key(value)) for label, value in renderable.rows)
    if isinstance(renderable, Group):
        return tuple(content_key(part) for part in renderable.renderables)
    raise TypeError(f"no content key for {type(renderable).__name__}")


def task_detail(project: Project, task_id: str, runs: Sequence[RunSummary], colours: Palette) -> RenderableType:
    task = project.task(task_id)
    graph = project.graph
    table = LabelGrid()

    def row(label: str, value: Text | str | list[str] | None) -> None:
        if value in (None, "", []):
            return
        if isinstance(value, list):
            value = "\n".join(f"- {item}" for item in value)
        table.add_row(label, Text(printable(value)) if isinstance(value, str) else value)

    row("status", status_text(graph.status_of(task_id), colours))
    row("priority", f"{task.priority.value} · {task.phase.value} · agent {project.agent_of(task)}")
    row(
        "hours",
        f"{hours(task.estimated_hours)} estimated"
        + (f", {spent(task.actual_hours)} actual" if task.actual_hours is not None else ""),
    )
    if task.started_at:
        row("started", local_time(task.started_at))
    if task.completed_at:
        row("finished", local_time(task.completed_at))
    if task.last_error:
        row("last error", Text(printable(task.last_error), style=_error(colours)))
    if task.worktree is not None:
        row("branch", f"{task.worktree.branch} (from {task.worktree.base[:12]}; v shows the diff)")
        if task.worktree.conflict_files:
            conflict = Text(
                printable(", ".join(task.worktree.conflict_files)), style=_error(colours) + Style(bold=True)
            )
            row("conflict", conflict)
    if task.input_tokens is not None or task.output_tokens is not None or task.unpriced_runs:
        row(
            "tokens",
            f"{tokens_line(task.input_tokens, task.output_tokens)} · {format_total(task.cost_usd, task.unpriced_runs)}",
        )
    row("runs", Text("\n").join(run_line(run, colours) for run in runs) if runs else None)
    row("description", task.description.strip())
    row("subtask of", _ids(project, [task.parent], colours) if task.parent else None)
    row("subtasks", _ids(project, graph.children(task_id), colours) or None)
    row("depends on", _ids(project, graph.dependencies(task_id), colours) if task.dependencies else None)
    row("blocked by", _ids(project, graph.blockers(task_id), colours) or None)
    unblocks = graph.unblocks(task_id)
    row("unblocks", _ids(project, unblocks, colours) or None)
    row("needed by", _ids(project, [d for d in graph.dependents(task_id) if d not in set(unblocks)], colours) or None)
    row("deliverables", task.deliverables)
    row("success", task.success_criteria)
    row("commands", task.commands)
    row("verify", task.verify)
    row("output", task.output)
    row("tags", ", ".join(task.tags))
    row("notes", task.notes.strip())
    title = Text.assemble((task_id, "bold"), "  ", one_line(task.title))
    return Group(title, table)


class TaskDetail(ScrollView):
    """Scrollable; redrawn by the app when the selection or the project changes.

    It draws its own lines (Textual's line API) rather than holding a ``Static``: a ``Static`` whose height changes
    in a scrolling container lays out the whole screen twice (once for its new height, once more for the
    container's new virtual size), on every key press that selects another task. Here a new task changes the
    lines and the scrollable height, not the widget's size: a repaint of the pane, no layout.

    Its vertical scrollbar is always there (``overflow-y: scroll``), drawn in the pane's own background while the
    task's lines fit (the class ``-fits``): a scrollbar that comes and goes (``overflow-y: auto``) laid out the
    whole screen each time, on about one key press in ten. So the text is always as wide as the space beside the
    scrollbar, and a key press only repaints the pane and its scrollbar.

    Turning the detail into lines (Textual's ``Visual.to_strips``) was most of a key press's own work on the event
    loop (~3 ms of ~4). The lines of the last ``DRAWN`` details drawn are kept, keyed by what they show
    (``content_key``), the width and the pane's styles: going back to a task whose detail has not changed draws
    nothing, and a change in anything shown, or in the theme, is a new key.
    """

    ALLOW_MAXIMIZE = False
    DEFAULT_CSS = """
    TaskDetail { padding: 0 1; overflow-x: hidden; overflow-y: scroll; }
    TaskDetail.-fits {
        scrollbar-background: transparent;
        scrollbar-background-hover: transparent;
        scrollbar-background-active: transparent;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.palette = ThemePalette(self, self._recolour)  # the running theme's status styles
        self._shown: tuple[Project, str | None, Sequence[RunSummary]] | None = None
        self.renderable: RenderableType = NO_TASK  # what the pane shows, whatever its width
        self._lines: list[Strip] = []
        self._drawn: LRUCache[Hashable, list[Strip]] = LRUCache(DRAWN)

    def on_mount(self) -> None:
        self.palette.follow()

    def show(self, project: Project, task_id: str | None, runs: Sequence[RunSummary]) -> None:
        self._shown = (project, task_id, runs)
        if task_id is None or task_id not in project.tasks:
            self.renderable = NO_TASK
        else:
            self.renderable = task_detail(project, task_id, runs, self.palette.styles)
        self._draw()

    def on_resize(self) -> None:
        self._draw()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._draw()  # the lines carry the widget's colours

    def render_line(self, y: int) -> Strip:
        index = self.scroll_offset.y + y
        if index < len(self._lines):
            return self._lines[index]
        return Strip.blank(self.scrollable_content_region.width, self.visual_style.rich_style)

    def _draw(self) -> None:
        """Draw the lines at the width there is, set the scrollable height, show the scrollbar's track only when
        there is something to scroll, keep the scroll position within it and repaint."""
        region = self.scrollable_content_region
        if region.width <= 0 or not self.is_mounted:
            return
        style = self.visual_style
        # what Visual.to_strips draws with; a text selection is drawn into the lines, so none are kept then
        key = (content_key(self.renderable), region.width, style, self.link_style, self.styles.content_align)
        lines = None if self.text_selection is not None else self._drawn.get(key)
        if lines is None:
            pad = (style + VisualStyle(reverse=False)).rich_style
            strips = Visual.to_strips(self, visualize(self, self.renderable), region.width, None, style)
            lines = [strip.extend_cell_length(region.width, pad) for strip in strips]
            if self.text_selection is None:
                self._drawn[key] = lines
        self._lines = lines
        set_virtual_size(self, Size(region.width, len(self._lines)))
        self.set_class(len(self._lines) <= region.height, "-fits")
        if self.scroll_y > self.max_scroll_y:
            self.scroll_to(y=self.max_scroll_y, animate=False)
        self.refresh()

    def _recolour(self) -> None:
        if self._shown is not None:
            self.show(*self._shown)
