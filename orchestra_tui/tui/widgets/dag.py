"""The DAG view: the dependency graph in layers (``dag_layout``), status-coloured, the critical path
highlighted, navigated along its edges, with a line telling what finishing the selected task unblocks.

``DagView`` is the view the app mounts (the view contract: ``show_project``, ``select_task``, posts
``TaskSelected``). It holds ``DagCanvas``, a line-API ``ScrollView`` that asks the drawing for the visible
part of each row only (``Drawing.line``), so a 2,000-task graph scrolls as fast as the demo, and ``#dag-info``.

Focus (``space``): only the selected task's neighbourhood is drawn, its dependencies and dependants up to
``FOCUS_DEPTH`` levels each way (``+``/``-`` change it), laid out afresh around each task selected; on a
500-task plan a task's dependants are then beside it rather than screens away. Boxes are widened to show
the start of each title whenever the graph, so widened, still fits the width (the demo at 120 columns, a
neighbourhood nearly always).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Self

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events, work
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.geometry import Region, Size, Spacing
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Static
from textual.worker import Worker, WorkerState

from ...dag_layout import STATUS_STYLES, DagLayout, Drawing, draw, layout_dag
from ...display import one_line
from ..messages import TaskSelected

if TYPE_CHECKING:
    from textual.app import ComposeResult

    from ...engine.project import Project

_LIST_MAX = 6  # ids named in the info line before "and N more"
FOCUS_DEPTH = 1  # levels of dependencies and of dependants a focus shows at first
MAX_FOCUS_DEPTH = 9
MIN_TITLE_CELLS = 6  # cells a box must gain to show the start of its title
MAX_TITLE_CELLS = 24  # and at most what it gains
BACKGROUND_LAYOUT_TASKS = 800  # above this, a new layout is computed in a thread (800 tasks take ~0.08 s)
Structure = tuple[tuple[str, ...], frozenset[tuple[str, str]]]  # task ids and edges: what a layout depends on


Fit = tuple[int, int, int]  # a layout's width with boxes as wide as the ids, its layers, the cells added per box


def fit_boxes(width: int, layers: int, available: int) -> int:
    """Cells to add to each box: -1 when that makes the whole graph fit (the demo on 80 columns), room for
    titles when the graph fits with it, else 0."""
    if width > available >= width - layers:
        return -1
    extra = min((available - width) // max(layers, 1), MAX_TITLE_CELLS)
    return extra if extra >= MIN_TITLE_CELLS else 0


def _lay_out(
    structure: Structure, statuses: dict[str, str], path: list[str], available: int, titles: dict[str, str]
) -> tuple[DagLayout, Drawing, Fit]:
    """Layout and drawing (pure, so it may run in a thread), boxes fitted to the width (``fit_boxes``)."""
    ids, edges = structure
    layout = layout_dag(ids, edges)
    fit = (layout.width, len(layout.layers), fit_boxes(layout.width, len(layout.layers), available))
    if fit[2]:
        layout = layout_dag(ids, edges, layout.box_width + fit[2])
    return layout, draw(layout, statuses, path, titles), fit


def neighbourhood(project: Project, task_id: str, depth: int) -> set[str]:
    """``task_id``, its dependencies and its dependants, each up to ``depth`` levels away."""
    graph = project.graph
    found = {task_id}
    for step in (graph.dependencies, graph.dependents):
        frontier = [task_id]
        for _ in range(depth):
            frontier = [other for current in frontier for other in step(current) if other not in found]
            found.update(frontier)
    return found


class DagCanvas(ScrollView, can_focus=True):
    """The drawing. Arrow keys move the selection along edges: right to a dependant, left to a dependency
    (the one nearest by row), up and down to the neighbour in the same layer."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("right,l", "follow('right')", "Dependant", show=False, id="dag.dependant"),
        Binding("left,h", "follow('left')", "Dependency", show=False, id="dag.dependency"),
        Binding("up,k", "follow('up')", "Above", show=False, id="dag.above"),
        Binding("down,j", "follow('down')", "Below", show=False, id="dag.below"),
        Binding("home,g", "jump('first')", "First task", show=False, id="dag.first"),
        Binding("end,G", "jump('last')", "Last task", show=False, id="dag.last"),
        Binding("ctrl+d", "half_page(1)", "Half a page down the layer", show=False, id="dag.half_down"),
        Binding("ctrl+u", "half_page(-1)", "Half a page up the layer", show=False, id="dag.half_up"),
        Binding("space", "toggle_focus", "Focus", id="dag.focus"),
        Binding("plus,equals_sign", "focus_depth(1)", "Focus a level wider", show=False, id="dag.focus_wider"),
        Binding("minus", "focus_depth(-1)", "Focus a level narrower", show=False, id="dag.focus_narrower"),
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "dag--edge",
        "dag--critical",
        "dag--link",
        "dag--selected",
        *(f"dag--{key}" for key in set(STATUS_STYLES.values())),
    }
    DEFAULT_CSS = """
    DagCanvas {
        background: $surface;
        & > .dag--edge { color: $foreground 45%; }
        & > .dag--critical { color: $text-accent; text-style: bold; }
        & > .dag--link { color: $foreground; text-style: bold; }
        & > .dag--selected { text-style: bold reverse; }
        & > .dag--ready { color: $text-success; text-style: bold; }
        & > .dag--blocked { color: $foreground; }
        & > .dag--running { color: $text-primary; text-style: bold; }
        & > .dag--review { color: $text-secondary; text-style: bold; }
        & > .dag--done { color: $text-success; text-style: dim; }
        & > .dag--failed { color: $text-error; text-style: bold; }
        & > .dag--cancelled { color: $text-muted; text-style: strike; }
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.project: Project | None = None
        self.dag_layout: DagLayout | None = None
        self.drawing: Drawing | None = None
        self.selected: str | None = None
        self._structure: Structure | None = None
        self._pending: Structure | None = None  # being laid out in a thread
        self._fit: Fit = (0, 0, 0)
        self.focus_depth = 0  # 0: the whole graph; else the levels each way around the selection
        self._depth = FOCUS_DEPTH  # the depth the next focus starts with
        self._overlay: dict[int, dict[int, str]] = {}
        self._styles: dict[str, Style] = {}

    # -- data -----------------------------------------------------------------------------------------

    class Changed(Message):
        """The drawing or the selection changed (the view updates its info line)."""

    def show_project(self, project: Project) -> None:
        """Lay the graph out again only when its tasks or edges changed; otherwise repaint the tasks whose
        status changed (a diff by task id: completing one task also changes its dependants' statuses).

        A big graph is laid out in a thread (about 0.4 s for 2,000 tasks); the old drawing stays up meanwhile.
        """
        self.project = project
        graph = project.graph
        if self.selected not in project.tasks:
            self.selected = graph.next_task() or next(iter(graph.ids()), None)
        ids = tuple(graph.ids())
        if self.focus_depth and self.selected is not None:
            shown = neighbourhood(project, self.selected, self.focus_depth)
            ids = tuple(task_id for task_id in ids if task_id in shown)
        structure = (
            ids,
            frozenset((dep, task_id) for task_id in ids for dep in graph.dependencies(task_id) if dep in ids),
        )
        statuses = {task_id: graph.status_of(task_id).value for task_id in ids}
        path = [task_id for task_id in graph.critical_path()[0] if task_id in statuses]
        drawing = self.drawing
        if drawing is not None and structure == self._structure:
            if tuple(path) != drawing.critical:
                drawing.set_critical(path)
            for task_id, status in statuses.items():
                if drawing.statuses[task_id] != status:
                    drawing.paint_node(task_id, status)
        elif structure != self._pending:
            available = self.size.width or self.app.size.width
            titles = {task_id: one_line(project.tasks[task_id].title) for task_id in ids}
            if len(ids) > BACKGROUND_LAYOUT_TASKS:
                self._pending = structure
                self._lay_out_in_background(structure, statuses, path, available, titles)
            else:
                self._install(structure, *_lay_out(structure, statuses, path, available, titles))
        self.refresh()

    @work(thread=True, exclusive=True, group="dag-layout", exit_on_error=False)
    def _lay_out_in_background(
        self, structure: Structure, statuses: dict[str, str], path: list[str], available: int, titles: dict[str, str]
    ) -> tuple[Structure, tuple[DagLayout, Drawing, Fit]]:
        return structure, _lay_out(structure, statuses, path, available, titles)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "dag-layout":
            return
        if event.state is WorkerState.ERROR:
            self._pending = None
            self.notify(f"The dependency graph could not be drawn: {event.worker.error}", severity="error")
        outcome = event.worker.result
        if event.state is not WorkerState.SUCCESS or outcome is None:
            return
        structure, result = outcome
        if structure == self._pending:  # not overtaken by a newer layout
            self._pending = None
            self._install(structure, *result)
            if self.project is not None:
                self.show_project(self.project)  # statuses may have moved on meanwhile

    def _install(self, structure: Structure, layout: DagLayout, drawing: Drawing, fit: Fit) -> None:
        self._structure, self.dag_layout, self.drawing, self._fit = structure, layout, drawing, fit
        self.virtual_size = Size(layout.width, layout.height)
        self._select(self.selected, post=False)

    def on_resize(self, event: events.Resize) -> None:
        if self.dag_layout is None or self.drawing is None:
            return
        width, layers, added = self._fit
        if fit_boxes(width, layers, event.size.width) != added and self.project is not None:
            self._structure = None  # forces a new layout
            self.show_project(self.project)

    # -- focus ----------------------------------------------------------------------------------------

    def action_toggle_focus(self) -> None:
        """Only the selected task's neighbourhood, or the whole graph again."""
        self.focus_depth = 0 if self.focus_depth else self._depth
        self._refocus()

    def action_focus_depth(self, step: int) -> None:
        if not self.focus_depth:
            self.app.bell()
            return
        self.focus_depth = self._depth = max(1, min(MAX_FOCUS_DEPTH, self.focus_depth + step))
        self._refocus()

    def _refocus(self) -> None:
        if self.project is not None:
            self.show_project(self.project)
            self.post_message(self.Changed())

    # -- selection ------------------------------------------------------------------------------------

    def select(self, task_id: str, post: bool) -> None:
        if self.dag_layout is None:
            self.selected = task_id  # applied by the first show_project
        elif self.focus_depth and task_id != self.selected and self.project is not None:
            self.selected = task_id
            self._refocus()  # the neighbourhood of the task selected
        elif task_id in self.dag_layout.nodes and task_id != self.selected:
            self._select(task_id, post)

    def _select(self, task_id: str | None, post: bool) -> None:
        """Select, light up the task's box and edges, keep it in view."""
        self.selected = task_id
        self._overlay = {}
        if task_id is None or self.drawing is None or self.dag_layout is None:
            return
        routes = self.dag_layout.routes
        for edge in routes:
            if task_id in edge:
                for x, y in self.drawing.route_cells(edge):
                    self._overlay.setdefault(y, {})[x] = "link"
        rect = self.dag_layout.nodes[task_id]
        for y in range(rect.y, rect.y + rect.height):
            row = self._overlay.setdefault(y, {})
            for x in range(rect.x, rect.x + rect.width):
                inside = y == rect.port_y and rect.x < x < rect.x + rect.width - 1
                row[x] = "selected" if inside else "link"
        self.refresh()
        self.post_message(self.Changed())
        self.call_after_refresh(self.scroll_to_selected)
        if post:
            self.app.post_message(TaskSelected(task_id))  # straight to the app: see TaskSelected

    def scroll_to_selected(self) -> None:
        if self.selected is None or self.dag_layout is None or self.selected not in self.dag_layout.nodes:
            return
        rect = self.dag_layout.nodes[self.selected]
        self.scroll_to_region(
            Region(rect.x, rect.y, rect.width, rect.height), spacing=Spacing(1, 2, 1, 2), animate=False
        )

    def action_follow(self, direction: str) -> None:
        layout, project, selected = self.dag_layout, self.project, self.selected
        if layout is None or project is None or selected is None:
            return
        if direction in ("left", "right"):
            graph = project.graph
            candidates = graph.dependencies(selected) if direction == "left" else graph.dependents(selected)
            row = layout.nodes[selected].port_y
            target = min(
                candidates, key=lambda t: (abs(layout.nodes[t].port_y - row), layout.nodes[t].port_y), default=None
            )
        else:
            layer = layout.layers[layout.layer_of[selected]]
            index = layer.index(selected) + (-1 if direction == "up" else 1)
            target = layer[index] if 0 <= index < len(layer) else None
        if target is not None:
            self._go(target)

    def _go(self, task_id: str) -> None:
        """Select ``task_id`` as the user asked (told to the app); a focus moves to its neighbourhood."""
        self._select(task_id, post=True)
        if self.focus_depth:
            self._refocus()

    def action_half_page(self, direction: int) -> None:
        """Move the selection in its layer to the task about half a screen below (1) or above (-1)."""
        layout, selected = self.dag_layout, self.selected
        if layout is None or selected is None:
            return
        layer = layout.layers[layout.layer_of[selected]]
        goal = layout.nodes[selected].port_y + direction * max(1, self.size.height // 2)
        ahead = [t for t in layer if (layout.nodes[t].port_y - goal) * direction >= 0]
        target = (ahead[0] if direction > 0 else ahead[-1]) if ahead else (layer[-1] if direction > 0 else layer[0])
        if target != selected:
            self._go(target)

    def action_jump(self, where: str) -> None:
        layers = [layer for layer in (self.dag_layout.layers if self.dag_layout else ()) if layer]
        if layers:
            self._go(layers[0][0] if where == "first" else layers[-1][-1])

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None or self.dag_layout is None:
            return
        task_id = self.dag_layout.node_at(offset.x + self.scroll_offset.x, offset.y + self.scroll_offset.y)
        if task_id is not None:
            self._go(task_id)

    # -- drawing --------------------------------------------------------------------------------------

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles.clear()

    def _style(self, key: str) -> Style:
        style = self._styles.get(key)
        if style is None:
            base, _, modifier = key.partition("|")
            style = self.get_component_rich_style(f"dag--{base}") if base else self.rich_style
            if modifier:
                style += self.get_component_rich_style(f"dag--{modifier}", partial=True)
            self._styles[key] = style
        return style

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.size.width
        row = scroll_y + y
        drawing = self.drawing
        if drawing is None and self._pending is not None and y == 0:
            return Strip([Segment(f" Laying out {len(self._pending[0])} tasks…", self.rich_style)]).extend_cell_length(
                width, self.rich_style
            )
        if drawing is None or row >= drawing.height or scroll_x >= drawing.width:
            return Strip.blank(width, self.rich_style)
        chars, keys = drawing.line(row, scroll_x, scroll_x + width)  # only the visible part is drawn
        for x, modifier in self._overlay.get(row, {}).items():
            i = x - scroll_x
            if 0 <= i < len(keys):
                keys[i] = modifier if modifier == "link" else f"{keys[i]}|{modifier}"
        segments = []
        start = 0
        for i in range(1, len(keys) + 1):
            if i == len(keys) or keys[i] != keys[start]:
                segments.append(Segment(chars[start:i], self._style(keys[start])))
                start = i
        return Strip(segments, len(keys)).extend_cell_length(width, self.rich_style)


class DagView(Vertical, can_focus=False):
    """The DAG view the app mounts as ``DagView(id="dag")``; focusing it focuses the drawing."""

    DEFAULT_CSS = """
    DagView {
        height: 1fr;
        & > DagCanvas { height: 1fr; }
        & > #dag-info {
            dock: bottom; height: 2; padding: 0 1; background: $panel; text-wrap: nowrap; text-overflow: ellipsis;
        }
    }
    """

    def compose(self) -> ComposeResult:
        yield DagCanvas()
        yield Static(id="dag-info")

    @property
    def canvas(self) -> DagCanvas:
        return self.query_one(DagCanvas)

    def focus(self, scroll_visible: bool = True) -> Self:
        self.canvas.focus(scroll_visible)
        return self

    def show_project(self, project: Project, changed: frozenset[str] | None) -> None:
        """Redraw for the project's current state. ``changed`` is not needed: the canvas diffs statuses by
        task id itself, since one task's change also changes its dependants' derived statuses."""
        self.canvas.show_project(project)
        self._update_info()

    def select_task(self, task_id: str) -> None:
        """Follow a selection made elsewhere (no TaskSelected is posted back)."""
        self.canvas.select(task_id, post=False)

    def on_dag_canvas_changed(self, message: DagCanvas.Changed) -> None:
        self._update_info()

    def _update_info(self) -> None:
        canvas = self.canvas
        self.query_one("#dag-info", Static).update(info_text(canvas.project, canvas.selected, canvas.focus_depth))


def info_text(project: Project | None, task_id: str | None, focus: int = 0) -> Text:
    """Two lines about the selected task: what it is, what finishing it unblocks and what it waits on."""
    if project is None:
        return Text("")
    if task_id is None or task_id not in project.tasks:
        return Text("The plan has no tasks." if not project.tasks else "")
    graph = project.graph
    status = graph.status_of(task_id).value
    critical = task_id in graph.critical_path()[0]
    first = Text.assemble(
        (task_id, "bold"), " ", one_line(project.tasks[task_id].title), " · ", status.replace("_", " ")
    )
    if critical:
        first.append(" · on the critical path", "bold")
    if focus:  # first, so a narrow line keeps it
        first = Text.assemble((f"focus ±{focus}", "reverse bold"), " ", first)
    if status == "completed":
        second = Text(f"done; its dependants: {_names(graph.dependents(task_id))}")
    else:
        unblocks, dependants = graph.unblocks(task_id), graph.dependents(task_id)
        if unblocks or not dependants:
            second = Text(f"finishing it unblocks: {_names(unblocks)}")
        else:
            second = Text(f"finishing it unblocks nothing yet (other tasks also hold up {_names(dependants)})")
        second.append(f" · waits on: {_names(graph.waiting_on(task_id))}")
        halted = graph.blockers(task_id)
        if halted:
            second.append(f" · held up by failed or cancelled: {_names(halted)}", "bold")
    text = Text("\n").join([first, second])
    text.no_wrap, text.overflow = True, "ellipsis"
    return text


def _names(ids: list[str]) -> str:
    if not ids:
        return "nothing"
    shown = ", ".join(ids[:_LIST_MAX])
    return shown if len(ids) <= _LIST_MAX else f"{shown} and {len(ids) - _LIST_MAX} more"
