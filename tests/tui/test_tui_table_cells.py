"""The table view's cells, computed without an app."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from orchestra_tui.models import AgentTask, TaskStatus
from orchestra_tui.tui.widgets.table import _elapsed


def test_a_running_tasks_elapsed_time_reads_a_validated_start_time() -> None:
    """A validated task holds its start as a datetime (the old code parsed it as text: a TypeError)."""
    now = datetime(2026, 1, 2, 12, 0, tzinfo=UTC)
    task = AgentTask(task_id="T-1", title="t", status=TaskStatus.IN_PROGRESS, started_at=now - timedelta(minutes=90))
    assert isinstance(task.started_at, datetime)
    assert _elapsed(task, TaskStatus.IN_PROGRESS, now) == 1.5


def test_a_running_tasks_elapsed_time_reads_a_stored_start_time() -> None:
    now = datetime(2026, 1, 2, 12, 0, tzinfo=UTC)
    task = AgentTask.model_construct(task_id="T-1", title="t", started_at="2026-01-02T11:30:00+00:00")
    assert _elapsed(task, TaskStatus.IN_PROGRESS, now) == 0.5
    unreadable = AgentTask.model_construct(task_id="T-2", title="t", started_at="yesterday")
    assert _elapsed(unreadable, TaskStatus.IN_PROGRESS, now) is None
