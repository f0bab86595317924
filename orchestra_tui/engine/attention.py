"""When a person is needed (issue 14 item 20): which of the engine's events call for one, and the line saying so.

A run reaching review, a run failing (not one a person cancelled) and a run handed to a person (an
``interactive`` task waiting) each need someone; the faces decide how to call them (the TUI: a toast, and
the bell or a desktop notification as the user's config says). The line is built here from the task id and
the run's own one-line error, and every face passes it through ``display.printable`` before showing it.
"""

from __future__ import annotations

from ..models import TaskStatus
from .bus import Event, RunEnded
from .runner import CANCELLED


def needs_person(event: Event) -> str | None:
    """The line calling a person for ``event``, or None when it needs nobody."""
    if not isinstance(event, RunEnded):
        return None
    if event.handoff:
        return f"{event.task_id} is waiting for you: it was handed to a person"
    if event.status == TaskStatus.CANCELLED or event.error == CANCELLED:
        return None  # a person asked for it
    if event.error is not None:
        return f"{event.task_id} failed: {event.error}"
    if event.status == TaskStatus.REVIEW:
        return f"{event.task_id} is ready for review"
    return None
