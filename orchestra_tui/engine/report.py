"""The progress report: the seed's keys, plus readiness, review, the critical path, blockers, time and cost.

Token counts and costs are sums of what is known: ``null`` when no task knows it (never a made-up 0), and
``unpriced_runs`` says how many runs spent something at an unknown cost.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol, TypedDict

from ..graph import TaskGraph
from ..models import AgentTask, utcnow
from ..plan import Plan
from ..store import Store


class UsageTotals(TypedDict):
    """Tokens and cost summed over some tasks: None when none of them knows it."""

    input_tokens: int | None
    output_tokens: int | None
    cache_read_tokens: int | None
    cache_write_tokens: int | None
    cost_usd: float | None
    unpriced_runs: int


class AgentUsage(UsageTotals):
    """One agent's line of ``by_agent`` (``tasks`` comes first in the JSON)."""

    tasks: int


class PhaseCounts(TypedDict):
    total: int
    completed: int


class Report(TypedDict):
    """``orchestra report --json`` and ``Project.report()``, in this key order (the seed's keys come first)."""

    project_id: str
    project_name: str
    total_tasks: int
    completed_tasks: int
    in_progress_tasks: int
    pending_tasks: int
    ready_tasks: int
    blocked_tasks: int
    review_tasks: int
    failed_tasks: int
    cancelled_tasks: int
    completion_percentage: float
    estimated_total_hours: float
    estimated_remaining_hours: float
    actual_hours: float
    next_task: str | None
    critical_path: list[str]
    critical_path_hours: float
    blocked_by: dict[str, list[str]]
    by_phase: dict[str, PhaseCounts]
    by_agent: dict[str, AgentUsage]
    input_tokens: int | None
    output_tokens: int | None
    cache_read_tokens: int | None
    cache_write_tokens: int | None
    cost_usd: float | None
    unpriced_runs: int
    planning: dict[str, Any] | None
    history_entries: int
    integration_branch: str | None
    timestamp: str


class Reported(Protocol):
    """What the report reads of a project (``Project`` is one; no import of it, so no cycle)."""

    @property
    def graph(self) -> TaskGraph: ...
    @property
    def tasks(self) -> Mapping[str, AgentTask]: ...
    @property
    def plan(self) -> Plan: ...
    @property
    def store(self) -> Store: ...
    def agent_of(self, task: AgentTask) -> str: ...
    def planning_totals(self) -> dict[str, Any] | None: ...


def build_report(project: Reported) -> Report:
    from .integration import integration_branch

    graph, tasks = project.graph, project.tasks
    counts = graph.counts()
    total = len(tasks)
    completed = counts.get("completed", 0)
    estimated_total = sum(task.estimated_hours for task in tasks.values())
    remaining = sum(task.estimated_hours for task in tasks.values() if task.status != "completed")
    path, path_hours = graph.critical_path()
    next_id = graph.next_task()
    by_phase: dict[str, PhaseCounts] = {}
    by_agent: dict[str, list[AgentTask]] = {}
    for task in tasks.values():
        phase = by_phase.setdefault(task.phase.value, {"total": 0, "completed": 0})
        phase["total"] += 1
        phase["completed"] += task.status == "completed"
        by_agent.setdefault(project.agent_of(task), []).append(task)
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
        "blocked_by": graph.all_blockers(),
        "by_phase": by_phase,
        "by_agent": {name: {"tasks": len(group), **usage_totals(group)} for name, group in sorted(by_agent.items())},
        **usage_totals(tasks.values(), digits=4),
        "planning": project.planning_totals(),
        "history_entries": project.store.seq,
        "integration_branch": integration_branch(project.plan, project.store.meta),
        "timestamp": utcnow().isoformat(timespec="seconds"),
    }


def _known_sum(values: Iterable[float | int | None]) -> Any:
    known = [value for value in values if value is not None]
    return sum(known) if known else None


def usage_totals(tasks: Iterable[AgentTask], digits: int = 6) -> UsageTotals:
    """Tokens, cost and unpriced runs summed over ``tasks`` (each None when no task knows it)."""
    tasks = list(tasks)
    cost = _known_sum(task.cost_usd for task in tasks)
    return {
        "input_tokens": _known_sum(task.input_tokens for task in tasks),
        "output_tokens": _known_sum(task.output_tokens for task in tasks),
        "cache_read_tokens": _known_sum(task.cache_read_tokens for task in tasks),
        "cache_write_tokens": _known_sum(task.cache_write_tokens for task in tasks),
        "cost_usd": None if cost is None else round(cost, digits),
        "unpriced_runs": sum(task.unpriced_runs for task in tasks),
    }
