"""Writing the project's tasks as a Taskmaster ``tasks.json`` (tagged layout), the inverse of ``taskmaster``.

Tasks go back to the tag they came from (``metadata.taskmaster.tag``; others to ``master``), subtasks nested
under their parent, with their original ids when they have them (else a number when the id's last part is
one). ``notes`` -> ``details``, ``success_criteria`` -> ``testStrategy``, keys kept in ``metadata.taskmaster``
come back as they were. Dependencies are written from the current plan in the notation the importer reads
back to the same tasks: a sibling as its number, another subtask as ``"P.S"``, a task from a subtask as a
string id (Taskmaster reads a string on a subtask as a task first).
Statuses: completed -> done, in_progress -> in-progress, failed -> blocked, pending -> the word the task
was imported with (deferred, blocked...) or pending; the imported word is kept when it still means the status.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from ..models import AgentTask
from .taskmaster import DEFAULT_TAG, STATUS_MAP, _clean_id

_TO_TASKMASTER = {
    "pending": "pending",
    "in_progress": "in-progress",
    "review": "review",
    "completed": "done",
    "cancelled": "cancelled",
    "failed": "blocked",
}
_OWN_KEYS = {"id", "tag", "dependencies", "status", "title"}


def export_taskmaster(tasks: Iterable[AgentTask]) -> str:
    """The tasks.json text (UTF-8 JSON, two-space indent, as Taskmaster writes it)."""
    tasks = list(tasks)
    by_id = {task.task_id: task for task in tasks}
    exported_id = {task.task_id: _exported_id(task) for task in tasks}
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    tags: dict[str, list[dict[str, Any]]] = {}
    nodes: dict[str, dict[str, Any]] = {}
    for task in tasks:
        nodes[task.task_id] = _node(task, exported_id[task.task_id])
    for task in tasks:
        nodes[task.task_id]["dependencies"] = _dependencies(task, by_id, exported_id)
        if task.parent in nodes:
            nodes[task.parent].setdefault("subtasks", []).append(nodes[task.task_id])
        else:
            tags.setdefault(_tag(task), []).append(nodes[task.task_id])
    for task in tasks:  # every top-level task has a subtasks list, as Taskmaster writes it
        if task.parent not in nodes:
            nodes[task.task_id].setdefault("subtasks", [])
    doc = {
        name: {"tasks": items, "metadata": {"created": now, "updated": now, "description": f"Tasks for {name} context"}}
        for name, items in (tags or {DEFAULT_TAG: []}).items()
    }
    return json.dumps(doc, ensure_ascii=False, indent=2) + "\n"


def _tag(task: AgentTask) -> str:
    tag = _meta(task).get("tag")
    return tag if isinstance(tag, str) and tag else DEFAULT_TAG


def _meta(task: AgentTask) -> dict[str, Any]:
    meta = task.metadata.get("taskmaster")
    return meta if isinstance(meta, dict) else {}


def _exported_id(task: AgentTask) -> Any:
    original = _meta(task).get("id")
    if isinstance(original, (int, float, str)) and not isinstance(original, bool):
        return original
    local = task.task_id.rsplit(".", 1)[-1] if task.parent else task.task_id
    local = local.rsplit(":", 1)[-1]  # a tag prefix
    return int(local) if local.isdigit() else local


def _status(task: AgentTask) -> str:
    word = _meta(task).get("status")
    status = task.status.value
    if isinstance(word, str) and (STATUS_MAP.get(word.strip().lower()) or "pending") == status:
        return word
    return _TO_TASKMASTER.get(status, "pending")


def _node(task: AgentTask, exported_id: Any) -> dict[str, Any]:
    meta = _meta(task)
    status_word = meta.get("status")
    node: dict[str, Any] = {
        "id": exported_id,
        "title": task.title,
        "description": task.description,
        "status": _status(task),
    }
    node["priority"] = (
        meta.get("priority", task.priority.value) if task.priority.value == "medium" else task.priority.value
    )
    if task.notes:
        node["details"] = task.notes
    if task.success_criteria:
        node["testStrategy"] = "\n".join(task.success_criteria)
    tags = [tag for tag in task.tags if not (isinstance(status_word, str) and tag == _clean_id(status_word))]
    if tags:
        node["tags"] = tags
    if task.estimated_hours != 1.0:
        node["estimatedHours"] = task.estimated_hours
    for key, value in meta.items():
        if key not in _OWN_KEYS and key not in node:
            node[key] = value
    return node


def _dependencies(task: AgentTask, by_id: dict[str, AgentTask], exported_id: dict[str, Any]) -> list[Any]:
    parent = by_id.get(task.parent) if task.parent else None
    result: list[Any] = []
    for dep in task.dependencies:
        target = by_id.get(dep)
        if target is None:
            continue
        if parent is None:
            result.append(exported_id[dep] if target.parent is None else _dotted(target, by_id, exported_id))
        elif target.parent == task.parent:
            local = exported_id[dep]  # a sibling: a number, as a string number would name a task
            result.append(int(local) if isinstance(local, str) and local.isdigit() else local)
        elif target.parent is None:
            result.append(str(exported_id[dep]))  # a task, named by a string so it is not read as a sibling
        else:
            result.append(_dotted(target, by_id, exported_id))
    return result


def _dotted(task: AgentTask, by_id: dict[str, AgentTask], exported_id: dict[str, Any]) -> str:
    parent_id = exported_id.get(task.parent or "", "")
    local = str(exported_id[task.task_id])
    return local if local.startswith(f"{parent_id}.") else f"{parent_id}.{local}"
