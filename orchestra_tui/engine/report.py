"""The progress report: the seed's keys, plus readiness, review, the critical path, blockers, time and cost."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..models import utcnow

if TYPE_CHECKING:
    from .project import Project


def build_report(project: Project) -> dict[str, Any]:
    graph, tasks = project.graph, project.tasks
    counts = graph.counts()
    total = len(tasks)
    completed = counts.get("completed", 0)
    estimated_total = sum(task.estimated_hours for task in tasks.values())
    remaining = sum(task.estimated_hours for task in tasks.values() if task.status != "completed")
    path, path_hours = graph.critical_path()
    next_id = graph.next_task()
    blocked_by = {task_id: graph.blockers(task_id) for task_id in graph.blocked()}
    by_phase: dict[str, dict[str, int]] = {}
    by_agent: dict[str, dict[str, Any]] = {}
    for task in tasks.values():
        phase = by_phase.setdefault(task.phase.value, {"total": 0, "completed": 0})
        phase["total"] += 1
        phase["completed"] += task.status == "completed"
        agent = by_agent.setdefault(project.agent_of(task), {"tasks": 0, "input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0})
        agent["tasks"] += 1
        agent["input_tokens"] += task.input_tokens
        agent["output_tokens"] += task.output_tokens
        agent["cost_usd"] = round(agent["cost_usd"] + task.cost_usd, 6)
    return {
        "project_id": project.plan.project.id,
        "project_name": project.plan.project.name or project.plan.project.id,
        "total_tasks": total,
        "completed_tasks": completed,
        "in_progress_tasks": counts.get("in_progress", 0),
        "pending_tasks": counts.get("ready", 0) + counts.get("blocked", 0),
        "ready_tasks": counts.get("ready", 0),
        "blocked_tasks": counts.get("blocked", 0),
        "review_tasks": counts.get("review", 0),
        "failed_tasks": counts.get("failed", 0),
        "cancelled_tasks": counts.get("cancelled", 0),
        "completion_percentage": round(100.0 * completed / total, 1) if total else 0.0,
        "estimated_total_hours": round(estimated_total, 2),
        "estimated_remaining_hours": round(remaining, 2),
        "actual_hours": round(sum(task.actual_hours or 0.0 for task in tasks.values()), 2),
        "next_task": next_id,
        "critical_path": path,
        "critical_path_hours": round(path_hours, 2),
        "blocked_by": {task_id: blockers for task_id, blockers in blocked_by.items() if blockers},
        "by_phase": by_phase,
        "by_agent": dict(sorted(by_agent.items())),
        "input_tokens": sum(task.input_tokens for task in tasks.values()),
        "output_tokens": sum(task.output_tokens for task in tasks.values()),
        "cost_usd": round(sum(task.cost_usd for task in tasks.values()), 4),
        "history_entries": project.store.seq,
        "timestamp": utcnow().isoformat(timespec="seconds"),
    }
