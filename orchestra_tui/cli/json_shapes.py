"""The plain JSON shapes of a task that ``--json`` prints (``list``, ``show``, ``next``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..engine.project import Project
    from ..models import AgentTask


def task_json(project: Project, task: AgentTask) -> dict[str, Any]:
    """Every field of the task, plus ``derived_status`` (ready/blocked for pending tasks)."""
    return {**task.model_dump(mode="json"), "derived_status": project.graph.status_of(task.task_id).value}


def task_detail_json(project: Project, task: AgentTask) -> dict[str, Any]:
    from ..engine.integration import workspace_view  # (git and asyncio: `next --json` and `list --json` need neither)

    graph, task_id = project.graph, task.task_id
    return {
        **task_json(project, task),
        "effective_agent": project.agent_of(task),
        "waiting_on": graph.waiting_on(task_id),
        "blockers": graph.blockers(task_id),
        "unblocks": graph.unblocks(task_id),
        "dependants": graph.dependents(task_id),
        "subtasks": graph.children(task_id),
        "workspace": workspace_view(project, task),
    }
