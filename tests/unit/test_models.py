"""The task model: positional construction (the seed's order) and one validation per record."""

from __future__ import annotations

from typing import Any

import pytest

from orchestra_tui.models import AgentTask, TaskStatus


def test_positional_construction_in_the_seeds_order() -> None:
    task = AgentTask("T-1", "Title", "What to do", "claude", priority="high")
    assert (task.task_id, task.title, task.description, task.agent, task.priority.value) == (
        "T-1",
        "Title",
        "What to do",
        "claude",
        "high",
    )


def test_a_record_is_validated_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Opening a project validates each stored task once: ``model_validate`` does not go through the positional
    ``__init__`` again (which validated the whole record a second time, twice the cost of an open)."""
    calls: list[str] = []
    positional = AgentTask.__init__

    def counting(self: AgentTask, *args: Any, **data: Any) -> None:
        calls.append(data.get("task_id") or args[0])
        positional(self, *args, **data)

    monkeypatch.setattr(AgentTask, "__init__", counting)
    record = AgentTask("T-1", "Title", status="failed").record()
    assert calls == ["T-1"]
    task = AgentTask.model_validate(record)
    assert task.status is TaskStatus.FAILED and task.title == "Title"
    assert calls == ["T-1"]
