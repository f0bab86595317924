"""What to do next, in one line: the next task (and why it cannot run as it is, if so), or why none is ready.
Both faces show it (``orchestra next``, the TUI's notification when nothing was dispatched)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ..formatting import hours
from .usable import why_not_in_plan

if TYPE_CHECKING:
    from .project import Project


def next_line(project: Project) -> str:
    task = project.next_task()
    if task is not None:
        line = (
            f"next: {task.task_id}  {task.title} ({task.priority.value}, {task.phase.value}, "
            f"{hours(task.estimated_hours)} h, agent {project.agent_of(task)})"
        )
        reason = why_not_in_plan(project, task.task_id, os.environ)
        return line if reason is None else f"{line}; it cannot run as it is: {reason}"
    counts = project.graph.counts()
    total = len(project.tasks)
    if total == 0:
        return "no tasks in the plan yet"
    if counts.get("completed", 0) == total:
        return f"nothing to do: all {total} tasks are completed"
    waiting = [
        f"{counts[s]} {s.replace('_', ' ')}"
        for s in ("in_progress", "review", "blocked", "failed", "cancelled")
        if counts.get(s)
    ]
    return "no task is ready: " + ", ".join(waiting)
