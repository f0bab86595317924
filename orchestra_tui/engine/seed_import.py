"""Importing a state file written by the seed framework (``project_state.json``, format_version 1 or 2).

Liberal in what it accepts: tasks as an object keyed by id or as a list; enum values as ``critical``, ``CRITICAL``
or ``TaskPriority.CRITICAL``; naive datetimes (taken as UTC); missing fields take the model's defaults (a missing
title becomes the id); fields orchestra has no use for are listed in the entry, not kept. Strict about the rest:
every problem is one line naming the file, the task and the field, and nothing is written unless the whole file
and the merged dependency graph are valid.

The import is one history entry (action ``import``). Tasks new to the project are added with the file's definition
and progress; tasks the project already has keep their definition and take the file's progress (status,
started_at, completed_at, actual_hours, last_error, output_files, and attempts when the file records it). A task
the file has ``in_progress`` has no live run here, so it arrives ``failed`` with "interrupted (imported)".
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from ..errors import PlanError, StateError, quoted
from ..graph import dependency_problems
from ..models import AgentTask
from ..store import Entry, Mutation
from ..store.changes import Record, diff_tasks

if TYPE_CHECKING:
    from .project import Project

SUPPORTED_FORMATS = (1, 2)
INTERRUPTED = "interrupted (imported)"
PROGRESS_FIELDS = ("status", "started_at", "completed_at", "actual_hours", "last_error", "output_files")
_ENUM_FIELDS = ("priority", "phase", "status")
_DERIVED_PENDING = {"blocked", "ready"}
# Everything of a task but orchestra's own run bookkeeping, which a seed file cannot meaningfully carry.
_USAGE_FIELDS = {
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cost_usd",
    "unpriced_runs",
}
_IMPORTED_FIELDS = (set(AgentTask.model_fields) - {"origin", "last_run_id", *_USAGE_FIELDS}) | {"id"}


def seed_checksum(tasks: Any) -> str:
    """The seed's checksum: SHA-256 of ``json.dumps(tasks, sort_keys=True)``, first 16 hex digits."""
    return hashlib.sha256(json.dumps(tasks, sort_keys=True).encode("utf-8")).hexdigest()[:16]


def import_seed_state(project: Project, path: Path) -> Entry | None:
    """Merge the seed state file at ``path`` into ``project`` as one history entry (None: nothing differed).

    Raises StateError for a file that is unreadable, not JSON or not a seed state file, and PlanError for bad
    tasks or a dependency graph that would not validate; in both cases nothing is written. A checksum that
    does not match is a warning in the entry (``extra["warnings"]`` and the summary), not an error.
    """
    path = Path(path)
    doc = _read(path)
    version = _format_version(doc, path)
    warnings = _checksum_warnings(doc)
    records, with_attempts, ignored = _records(doc["tasks"], path)

    def compute() -> Mutation | None:
        current = project.store.tasks
        wanted = dict(current)
        added, updated = [], []
        for task_id, record in records.items():
            old = current.get(task_id)
            if old is None:
                wanted[task_id] = record
                added.append(task_id)
                continue
            new = {**old, **{field: record[field] for field in PROGRESS_FIELDS}}
            if task_id in with_attempts:
                new["attempts"] = record["attempts"]
            if new != old:
                wanted[task_id] = new
                updated.append(task_id)
        _check_graph(wanted, path)
        changes = diff_tasks(current, wanted)
        if not changes:
            return None
        summary = f"imported {path.name} (seed format {version}): {len(added)} added, {len(updated)} updated"
        if warnings:
            summary += "; warning: " + "; ".join(warnings)
        extra: dict[str, Any] = {
            "source": str(path.resolve()),
            "format_version": version,
            "tasks": (added + updated)[:20],
        }
        if warnings:
            extra["warnings"] = warnings
        if ignored:
            extra["ignored_fields"] = ignored
        if doc.get("project_id") not in (None, "", project.plan.project.id):
            extra["source_project"] = str(doc["project_id"])
        return Mutation(changes, "import", summary, extra)

    return project.store.commit(compute, actor=project.actor)


# -- reading ------------------------------------------------------------------------------------------


def _read(path: Path) -> dict[str, Any]:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise StateError(f"cannot read {path}: {error.strerror or error}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise StateError(f"{path}:{line}: not JSON: not UTF-8 text (byte 0x{data[error.start]:02x})") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as error:
        raise StateError(f"{path}:{error.lineno}:{error.colno}: not JSON: {error.msg}") from None
    except (ValueError, RecursionError) as error:
        raise StateError(f"{path}: not JSON: {error}") from None
    if not isinstance(doc, dict) or "tasks" not in doc:
        found = "an object without 'tasks'" if isinstance(doc, dict) else f"a JSON {type(doc).__name__}"
        raise StateError(f"{path}: not a seed state file (expected an object with 'tasks', found {found})")
    if not isinstance(doc["tasks"], (dict, list)):
        raise StateError(
            f"{path}: not a seed state file ('tasks' is a {type(doc['tasks']).__name__}, not an object or a list)"
        )
    return doc


def _format_version(doc: Mapping[str, Any], path: Path) -> int:
    """The file's format_version (absent: 1, the seed's original format)."""
    value = doc.get("format_version", 1)
    supported = " or ".join(str(v) for v in SUPPORTED_FORMATS)
    number = value if isinstance(value, int) and not isinstance(value, bool) else None
    if isinstance(value, str) and value.strip().isdigit():
        number = int(value)
    if number not in SUPPORTED_FORMATS:
        hint = "; that is orchestra's own state, not the seed's" if "journal" in doc else ""
        raise StateError(
            f"{path}: format_version {quoted(value)} is not supported: seed state files of format_version "
            f"{supported} can be imported{hint}"
        )
    return number


def _checksum_warnings(doc: Mapping[str, Any]) -> list[str]:
    stored = doc.get("checksum")
    if stored is None:
        return []
    if not isinstance(stored, str) or len(stored) != 16 or any(c not in "0123456789abcdef" for c in stored.lower()):
        return [f"checksum {quoted(stored)} is not the seed's 16 hex digits; not verified"]
    computed = seed_checksum(doc["tasks"])
    if computed != stored.lower():
        return [
            f"checksum mismatch (the file says {stored}, its tasks hash to {computed}); it may have been edited by hand"
        ]
    return []


# -- tasks --------------------------------------------------------------------------------------------


def _records(tasks: dict[str, Any] | list[Any], path: Path) -> tuple[dict[str, Record], set[str], list[str]]:
    """Validated task records keyed by id, the ids whose record gives ``attempts``, and the fields not imported."""
    items: list[tuple[str, Any, str | None]] = []  # (label, raw, key in a dict-shaped file)
    if isinstance(tasks, dict):
        items = [(str(key), raw, str(key)) for key, raw in tasks.items()]
    else:
        for index, raw in enumerate(tasks, start=1):
            task_id = raw.get("task_id", raw.get("id")) if isinstance(raw, dict) else None
            items.append((str(task_id) if isinstance(task_id, str) and task_id else f"#{index}", raw, None))
    records: dict[str, Record] = {}
    with_attempts: set[str] = set()
    ignored: set[str] = set()
    for label, raw, key in items:
        if not isinstance(raw, dict):
            raise PlanError([f"{path}: task {label}: expected an object, found a JSON {type(raw).__name__}"])
        record, unknown = _record(label, raw, key, path)
        if record["task_id"] in records:
            raise PlanError([f"{path}: task {record['task_id']}: duplicate task id"])
        records[record["task_id"]] = record
        if raw.get("attempts") is not None:
            with_attempts.add(record["task_id"])
        ignored |= unknown
    return records, with_attempts, sorted(ignored)


def _record(label: str, raw: dict[str, Any], key: str | None, path: Path) -> tuple[Record, set[str]]:
    where = f"{path}: task {label}"
    fields = {name: value for name, value in raw.items() if name in _IMPORTED_FIELDS}
    unknown = {name for name, value in raw.items() if name not in _IMPORTED_FIELDS and value not in (None, "", [], {})}
    if "id" in fields:
        fields.setdefault("task_id", fields["id"])
        del fields["id"]
    if key is not None:
        if fields.get("task_id") not in (None, key):
            raise PlanError(
                [f"{where}: field 'task_id': {quoted(fields['task_id'])} does not match its key {quoted(key)}"]
            )
        fields["task_id"] = key
    elif fields.get("task_id") is None:
        raise PlanError([f"{where}: field 'task_id': missing"])
    if fields.get("title") is None:
        fields["title"] = fields["task_id"]
    for name in _ENUM_FIELDS:
        if isinstance(fields.get(name), str):
            fields[name] = _enum_value(fields[name])
    status = fields.get("status")
    if isinstance(status, str) and status in _DERIVED_PENDING:
        fields["status"] = "pending"
    elif status == "in_progress":
        fields["status"] = "failed"
        fields["last_error"] = INTERRUPTED
    fields = {name: value for name, value in fields.items() if value is not None}  # null: the default
    try:
        record = AgentTask.model_validate({**fields, "origin": "api"}).record()
    except ValidationError as error:
        item = error.errors(include_url=False)[0]
        loc = item["loc"]
        field = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc).lstrip(".") or "?"
        message = item["msg"].rstrip(".")
        raise PlanError(
            [f"{where}: field {field!r}: {message[:1].lower()}{message[1:]} (found {quoted(item.get('input'))})"]
        ) from None
    return record, unknown


def _enum_value(text: str) -> str:
    """``TaskPriority.CRITICAL`` / ``CRITICAL`` / ``In-Progress`` -> the seed's value spelling."""
    value = text.strip().rsplit(".", 1)[-1]
    return value.lower().replace("-", "_").replace(" ", "_")


def _check_graph(records: Mapping[str, Record], path: Path) -> None:
    parents = {task_id: record["parent"] for task_id, record in records.items() if record.get("parent")}
    problems = dependency_problems(
        ((task_id, record.get("dependencies") or []) for task_id, record in records.items()), parents
    )
    if not problems:
        return
    lines = []
    for problem in problems:
        where = f"{path}: task {problem.task_id}: field 'dependencies'"
        if problem.kind == "unknown":
            lines.append(f"{where}: unknown task {quoted(problem.detail)}")
        elif problem.kind == "self":
            lines.append(f"{where}: a task cannot depend on itself")
        elif problem.kind == "cycle":
            lines.append(f"{where}: dependency cycle {problem.detail}")
        else:
            lines.append(f"{path}: task {problem.task_id}: {problem.kind}: {problem.detail}")
    raise PlanError(lines)
