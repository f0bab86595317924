"""Which status changes a task allows, and what each one writes. Pure: records in, records out."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..errors import TransitionError
from ..graph import TaskGraph
from ..models import TaskStatus, utcnow

Record = dict[str, Any]


def _now() -> str:
    return utcnow().isoformat(timespec="milliseconds")


def _hours_between(start: str | None, end: str) -> float | None:
    if not start:
        return None
    try:
        delta = datetime.fromisoformat(end) - datetime.fromisoformat(start)
    except ValueError:
        return None
    return round(max(delta.total_seconds(), 0.0) / 3600.0, 4)


def _require_dependencies_completed(task_id: str, graph: TaskGraph, verb: str) -> None:
    waiting = graph.waiting_on(task_id)
    subtasks = [dep for dep in graph.children(task_id) if dep in waiting]
    if subtasks:
        shown = ", ".join(f"{dep} ({graph.status_of(dep).value})" for dep in subtasks[:5])
        more = f" and {len(subtasks) - 5} more" if len(subtasks) > 5 else ""
        raise TransitionError(f"cannot {verb} {task_id}: its subtasks are not completed: {shown}{more}")
    if waiting:
        shown = ", ".join(f"{dep} ({graph.status_of(dep).value})" for dep in waiting[:5])
        more = f" and {len(waiting) - 5} more" if len(waiting) > 5 else ""
        raise TransitionError(f"cannot {verb} {task_id}: it depends on tasks not completed: {shown}{more}")


def start(record: Record, graph: TaskGraph, run_id: str | None = None) -> Record:
    task_id, status = record["task_id"], record["status"]
    if status != TaskStatus.PENDING:
        raise TransitionError(
            f"cannot start {task_id}: it is {status}"
            + ("; `orchestra retry` reopens it" if status in ("failed", "cancelled") else "")
        )
    _require_dependencies_completed(task_id, graph, "start")
    return {
        **record,
        "status": TaskStatus.IN_PROGRESS.value,
        "started_at": _now(),
        "completed_at": None,
        "attempts": int(record.get("attempts") or 0) + 1,
        "last_run_id": run_id if run_id is not None else record.get("last_run_id"),
        "last_error": None,
    }


def complete(
    record: Record, graph: TaskGraph, output_files: list[str] | None = None, notes: str | None = None
) -> Record:
    task_id, status = record["task_id"], record["status"]
    if status == TaskStatus.COMPLETED:
        raise TransitionError(f"{task_id} is already completed")
    if status == TaskStatus.CANCELLED:
        raise TransitionError(f"cannot complete {task_id}: it is cancelled; `orchestra retry {task_id}` reopens it")
    _require_dependencies_completed(task_id, graph, "complete")
    now = _now()
    return {
        **record,
        "status": TaskStatus.COMPLETED.value,
        "completed_at": now,
        "actual_hours": record.get("actual_hours") or _hours_between(record.get("started_at"), now),
        "last_error": None,
        "output_files": list(output_files) if output_files else record.get("output_files", []),
        "notes": notes if notes else record.get("notes", ""),
    }


def review(record: Record) -> Record:
    task_id, status = record["task_id"], record["status"]
    if status != TaskStatus.IN_PROGRESS:
        raise TransitionError(f"cannot put {task_id} in review: it is {status}, not in_progress")
    now = _now()
    return {**record, "status": TaskStatus.REVIEW.value, "actual_hours": _hours_between(record.get("started_at"), now)}


def fail(record: Record, reason: str) -> Record:
    task_id, status = record["task_id"], record["status"]
    if status not in (TaskStatus.PENDING, TaskStatus.IN_PROGRESS, TaskStatus.REVIEW):
        raise TransitionError(f"cannot fail {task_id}: it is {status}")
    reason = reason.strip() or "failed"
    now = _now()
    hours = (
        _hours_between(record.get("started_at"), now)
        if status == TaskStatus.IN_PROGRESS
        else record.get("actual_hours")
    )
    return {
        **record,
        "status": TaskStatus.FAILED.value,
        "last_error": reason,
        "completed_at": now,
        "actual_hours": hours,
    }


def cancel(record: Record) -> Record:
    task_id, status = record["task_id"], record["status"]
    if status in (TaskStatus.COMPLETED, TaskStatus.CANCELLED):
        raise TransitionError(f"cannot cancel {task_id}: it is {status}")
    return {**record, "status": TaskStatus.CANCELLED.value, "completed_at": _now()}


def reopen(record: Record) -> Record:
    """Back to pending for another attempt (``retry``); the run history fields stay."""
    return {**record, "status": TaskStatus.PENDING.value, "last_error": None, "started_at": None, "completed_at": None}


def retry(record: Record) -> Record:
    task_id, status = record["task_id"], record["status"]
    if status not in (TaskStatus.FAILED, TaskStatus.CANCELLED, TaskStatus.REVIEW):
        raise TransitionError(
            f"cannot retry {task_id}: it is {status}; only failed, cancelled or review tasks can be retried"
        )
    return reopen(record)
