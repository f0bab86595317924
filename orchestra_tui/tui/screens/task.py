"""One task in full, on a screen of its own (``enter`` on the board or the DAG); ``escape`` comes back.

It shows what the detail pane shows, with the whole height, and is redrawn by the app when the project
changes, like the pane. The task keys (``c``, ``f``, ``x``, ``r``, ``d``) act on it here too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Static

from ..messages import ActionRequested
from ..widgets.detail import TaskDetail
from .reading import ReadingScreen, reading_bindings

if TYPE_CHECKING:
    from ...engine.project import Project
    from ...engine.runs import RunSummary


class TaskScreen(ReadingScreen):
    DEFAULT_CSS = """
    TaskScreen { layout: vertical; }
    TaskScreen > TaskDetail { height: 1fr; padding: 0 2; }
    TaskScreen > .task-hint { height: 1; padding: 0 1; background: $panel; color: $text-muted; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "back", "Back", id="task.back"),
        *reading_bindings("task"),
        Binding("o", "runs", "Output of a run", id="task.runs"),
    ]

    def __init__(self, task_id: str, project: Project, runs: Sequence[RunSummary]) -> None:
        super().__init__()
        self.task_id = task_id
        self._first = (project, runs)

    def compose(self) -> ComposeResult:
        yield TaskDetail(id="task-detail")
        yield Static(
            "escape: back · j/k, ctrl+d/u, g/G: scroll · o: a run's output · c f x r d act on this task",
            classes="task-hint",
        )

    def on_mount(self) -> None:
        self.show(*self._first)
        self.body.focus()

    def show(self, project: Project, runs: Sequence[RunSummary]) -> None:
        self.query_one(TaskDetail).show(project, self.task_id, runs)

    @property
    def body(self) -> TaskDetail:
        return self.query_one(TaskDetail)

    def action_back(self) -> None:
        self.dismiss(None)

    def action_runs(self) -> None:
        """Choose one of the task's runs (newest first) and show its output in the task's tab."""
        self.post_message(ActionRequested("runs", self.task_id))
