"""Changes between task records, the unit a history entry stores.

A change is a JSON-ready dict ``{"task": id, "op": "add"|"update"|"remove", "before": {...}, "after": {...}}``;
an update holds only the fields that changed, so an entry costs O(size of the change). Project-wide values
(``meta``) change through ``{"op": "meta", ...}``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal, TypedDict, overload

Record = dict[str, Any]


class TaskAdd(TypedDict):
    task: str
    op: Literal["add"]
    before: None
    after: Record


class TaskUpdate(TypedDict):
    """Only the fields that changed, before and after (a field absent on one side is None there)."""

    task: str
    op: Literal["update"]
    before: Record
    after: Record


class TaskRemove(TypedDict):
    task: str
    op: Literal["remove"]
    before: Record
    after: None


class MetaChange(TypedDict):
    """Project-wide values: only the keys that changed, before and after."""

    task: None
    op: Literal["meta"]
    before: Record
    after: Record


TaskChange = TaskAdd | TaskUpdate | TaskRemove
Change = TaskChange | MetaChange
"""One change of a history entry, as it is stored; ``op`` tells which."""


class Figures(TypedDict):
    """The progress figures every history entry carries (``Progress.figures()``)."""

    total_tasks: int
    completed_tasks: int
    completion_percentage: float
    by_status: dict[str, int]
    hours_total: float
    hours_done: float


@overload
def diff_record(task_id: str, old: None, new: Record) -> TaskAdd: ...
@overload
def diff_record(task_id: str, old: Record, new: None) -> TaskRemove: ...
@overload
def diff_record(task_id: str, old: Record, new: Record) -> TaskUpdate | None: ...
@overload
def diff_record(task_id: str, old: Record | None, new: Record | None) -> TaskChange | None: ...
def diff_record(task_id: str, old: Record | None, new: Record | None) -> TaskChange | None:
    """The change that turns ``old`` into ``new``: None when they are equal (or both absent)."""
    if old is None:
        return None if new is None else {"task": task_id, "op": "add", "before": None, "after": new}
    if new is None:
        return {"task": task_id, "op": "remove", "before": old, "after": None}
    keys = old.keys() | new.keys()
    changed = sorted(k for k in keys if old.get(k) != new.get(k))
    if not changed:
        return None
    return {
        "task": task_id,
        "op": "update",
        "before": {k: old.get(k) for k in changed},
        "after": {k: new.get(k) for k in changed},
    }


def diff_update(task_id: str, old: Record, new: Record) -> TaskUpdate:
    """The update from ``old`` to ``new``, which differ by construction (a transition always changes the status)."""
    change = diff_record(task_id, old, new)
    assert change is not None, f"{task_id}: a transition that changes nothing"
    return change


def diff_tasks(old: Mapping[str, Record], new: Mapping[str, Record]) -> list[Change]:
    """Changes that turn ``old`` into ``new``, in task id order."""
    changes: list[Change] = []
    for task_id in sorted(old.keys() | new.keys()):
        change = diff_record(task_id, old.get(task_id), new.get(task_id))
        if change is not None:
            changes.append(change)
    return changes


def diff_meta(old: Mapping[str, Any], new: Mapping[str, Any]) -> MetaChange | None:
    changed = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
    if not changed:
        return None
    return {
        "task": None,
        "op": "meta",
        "before": {k: old.get(k) for k in changed},
        "after": {k: new.get(k) for k in changed},
    }


def apply(
    tasks: dict[str, Record], meta: dict[str, Any], changes: Iterable[Change], progress: Progress | None = None
) -> None:
    """Apply ``changes`` in place (and keep ``progress`` in step)."""
    for change in changes:
        if change["op"] == "meta":
            _merge(meta, change["after"])
            continue
        task_id = change["task"]
        old = tasks.get(task_id)
        if progress is not None and old is not None:
            progress.remove(old)
        if change["op"] == "remove":
            tasks.pop(task_id, None)
            continue
        if change["op"] == "add":
            new = dict(change["after"])
        else:
            new = dict(old or {})
            _merge(new, change["after"])
        tasks[task_id] = new
        if progress is not None:
            progress.add(new)


def _merge(target: dict[str, Any], fields: Mapping[str, Any]) -> None:
    for key, value in fields.items():
        if value is None and key not in target:
            continue
        target[key] = value


def invert(changes: Iterable[Change]) -> list[Change]:
    """The changes that undo ``changes``: each one swapped (an add becomes a remove), in reverse order."""
    return [_inverse(change) for change in reversed(list(changes))]


def _inverse(change: Change) -> Change:
    if change["op"] == "add":
        return {"task": change["task"], "op": "remove", "before": change["after"], "after": None}
    if change["op"] == "remove":
        return {"task": change["task"], "op": "add", "before": None, "after": change["before"]}
    if change["op"] == "update":
        return {"task": change["task"], "op": "update", "before": change["after"], "after": change["before"]}
    return {"task": None, "op": "meta", "before": change["after"], "after": change["before"]}


class Progress:
    """The progress figures every history entry carries, maintained as records come and go."""

    __slots__ = ("by_status", "hours_done", "hours_total", "total")

    def __init__(self, records: Iterable[Record] = ()) -> None:
        self.total = 0
        self.by_status: dict[str, int] = {}
        self.hours_total = 0.0
        self.hours_done = 0.0
        for record in records:
            self.add(record)

    def copy(self) -> Progress:
        clone = Progress()
        clone.total, clone.by_status = self.total, dict(self.by_status)
        clone.hours_total, clone.hours_done = self.hours_total, self.hours_done
        return clone

    def add(self, record: Record) -> None:
        self._count(record, 1)

    def remove(self, record: Record) -> None:
        self._count(record, -1)

    def _count(self, record: Record, sign: int) -> None:
        status = record.get("status", "pending")
        hours = float(record.get("estimated_hours") or 0.0)
        self.total += sign
        self.by_status[status] = self.by_status.get(status, 0) + sign
        self.hours_total += sign * hours
        if status == "completed":
            self.hours_done += sign * hours

    def figures(self) -> Figures:
        completed = self.by_status.get("completed", 0)
        return {
            "total_tasks": self.total,
            "completed_tasks": completed,
            "completion_percentage": round(100.0 * completed / self.total, 1) if self.total else 0.0,
            "by_status": {k: v for k, v in sorted(self.by_status.items()) if v},
            "hours_total": round(self.hours_total, 2),
            "hours_done": round(self.hours_done, 2),
        }
