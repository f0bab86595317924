"""Changes between task records, the unit a history entry stores.

A change is a JSON-ready dict ``{"task": id, "op": "add"|"update"|"remove", "before": {...}, "after": {...}}``;
an update holds only the fields that changed, so an entry costs O(size of the change). Project-wide values
(``meta``) change through ``{"op": "meta", ...}``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

Record = dict[str, Any]
Change = dict[str, Any]


def diff_record(task_id: str, old: Record | None, new: Record | None) -> Change | None:
    if old is None and new is None:
        return None
    if old is None:
        return {"task": task_id, "op": "add", "before": None, "after": new}
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


def diff_tasks(old: Mapping[str, Record], new: Mapping[str, Record]) -> list[Change]:
    """Changes that turn ``old`` into ``new``, in task id order."""
    changes = []
    for task_id in sorted(old.keys() | new.keys()):
        change = diff_record(task_id, old.get(task_id), new.get(task_id))
        if change is not None:
            changes.append(change)
    return changes


def diff_meta(old: Mapping[str, Any], new: Mapping[str, Any]) -> Change | None:
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
        op, task_id = change["op"], change["task"]
        if op == "meta":
            _merge(meta, change["after"])
            continue
        old = tasks.get(task_id)
        if progress is not None and old is not None:
            progress.remove(old)
        if op == "remove":
            tasks.pop(task_id, None)
            continue
        if op == "add":
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
    swapped = {"add": "remove", "remove": "add", "update": "update", "meta": "meta"}
    return [
        {"task": c["task"], "op": swapped[c["op"]], "before": c["after"], "after": c["before"]}
        for c in reversed(list(changes))
    ]


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

    def figures(self) -> dict[str, Any]:
        completed = self.by_status.get("completed", 0)
        return {
            "total_tasks": self.total,
            "completed_tasks": completed,
            "completion_percentage": round(100.0 * completed / self.total, 1) if self.total else 0.0,
            "by_status": {k: v for k, v in sorted(self.by_status.items()) if v},
            "hours_total": round(self.hours_total, 2),
            "hours_done": round(self.hours_done, 2),
        }
