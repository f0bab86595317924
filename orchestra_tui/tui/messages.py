"""Every Textual message the app's widgets exchange, declared in one place (harlequin's practice).

Views post requests (``ActionRequested``, ``TaskSelected``); the app turns them into engine calls through
the session and tells views what changed with ``ProjectChanged``.
"""

from __future__ import annotations

from textual.message import Message


class ProjectChanged(Message):
    """The project's state changed. ``tasks`` is the set of task ids touched, or None for "everything"."""

    def __init__(self, tasks: frozenset[str] | None) -> None:
        super().__init__()
        self.tasks = tasks


class TaskSelected(Message):
    """The selected task changed in a view; the other views follow it.

    Views post it to the app itself, not to their own queue: bubbling goes through every container on the
    way, one turn of the event loop each, and while runs stream each turn can wait for a frame to be drawn.
    """

    def __init__(self, task_id: str) -> None:
        super().__init__()
        self.task_id = task_id


class ActionRequested(Message):
    """A view asks for an engine action on a task or an entry (the app confirms, runs it, reports errors).

    ``action`` is one of: dispatch, complete, fail, cancel, retry, rollback, undo.
    """

    def __init__(self, action: str, target: str | None = None) -> None:
        super().__init__()
        self.action, self.target = action, target


class RunOutputArrived(Message):
    """Streamed text for a run, already batched per frame by the app (one message per run per frame)."""

    def __init__(self, run_id: str, task_id: str, text: str) -> None:
        super().__init__()
        self.run_id, self.task_id, self.text = run_id, task_id, text


class EngineEvent(Message):
    """An engine event other than text and state changes, as the engine published it (``engine/bus.py``):
    ``RunStarted``, ``RunUsage``, ``RunRetry``, ``RunEnded`` or ``EngineError``. Added by the app shell: the
    output panes need the start and end of runs, and errors become notifications."""

    def __init__(self, event: object) -> None:
        super().__init__()
        self.event = event
