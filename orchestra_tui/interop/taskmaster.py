"""Reading a Taskmaster ``tasks.json`` into orchestra task definitions and statuses, losing nothing.

Layouts read: tagged (``{"master": {"tasks": [...], "metadata": {...}}, ...}``), flat (``{"tasks": [...]}``),
a tag mapped straight to an array (``{"master": [...]}``) and a bare array of tasks. Each tag has its own id
space: one tag is imported (``master``, else the first, as Taskmaster does; or the one named), or all of them,
the other tags' ids then prefixed ``TAG:``.

Every task and subtask (at any depth) becomes an orchestra task. A subtask's id is ``PARENT.LOCAL`` (``"5.2"``,
``3.1``, ``"5-2"`` and ``2`` under task 5 all give ``5.2``) and its ``parent`` is the task it sits in, so the parent
waits for it (graph.family_dependencies). Fields: ``title``, ``description``, ``priority`` and
``estimatedHours`` map to their namesakes, ``details`` to ``notes`` and ``testStrategy`` to
``success_criteria`` (both go into a run's prompt), a list of string ``tags`` to ``tags``; everything else
(the original id, the tag, a status or priority orchestra has no word for, complexity, extra keys, the
original dependency list when one was changed) is kept under ``metadata.taskmaster``. JSON nulls count as absent.

Statuses: pending, to-do and none -> pending; in-progress -> in_progress; review -> review; done and completed ->
completed; cancelled -> cancelled; deferred, blocked and anything else -> pending, the word kept as a tag.

The dependency rule (README "Taskmaster"), one per entry, in the entry's own tag:
  1. ``"P.S"`` (a string with a dot, or a float) names subtask S of task P.
  2. On a task, a bare id names the task with that id.
  3. On a subtask, a bare number names a sibling (Taskmaster's ``expand`` writes them so, and its cycle check
     reads them so), else the task with that id; a bare string names the task, else a sibling (as Taskmaster
     reads them).
  4. Dropped, each with the reason: what names nothing in the tag, a task itself, a subtask's own parent or
     ancestor (the parent waits for the subtask) and a repeat within one list.
  5. Then cycles, counting what subtasks imply: in each, the edge to break is a sibling reading whose id the
     parent task itself depends on, else the latest edge in file order. The first kind is re-interpreted as
     that task (Taskmaster's validator reads it so; files were written both ways), which the subtask waits
     for through its parent anyway; the second is dropped.
Every re-interpreted or dropped entry is reported, and the original list is kept in metadata, so
``export taskmaster`` writes it back.
"""

from __future__ import annotations

import itertools
import json
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import OrchestraError
from ..graph import dependency_problems
from ..models import ProjectPhase, TaskPriority
from ..plan import slug
from ..store import Entry, Mutation
from ..store.changes import diff_record

if TYPE_CHECKING:
    from ..engine.project import Project

DEFAULT_TAG = "master"
#: The [[tasks]] keys an import writes: on a re-import (--merge) one the file no longer gives is removed.
MANAGED_KEYS = frozenset(
    {
        "title",
        "parent",
        "description",
        "priority",
        "phase",
        "dependencies",
        "estimated_hours",
        "notes",
        "success_criteria",
        "tags",
        "metadata",
    }
)
STATUS_MAP = {
    "pending": "pending",
    "to-do": "pending",
    "todo": "pending",
    "in-progress": "in_progress",
    "in_progress": "in_progress",
    "review": "review",
    "done": "completed",
    "completed": "completed",
    "cancelled": "cancelled",
    "canceled": "cancelled",
}
#: Keys mapped to orchestra fields (the rest goes to metadata.taskmaster).
_MAPPED = {
    "id",
    "title",
    "description",
    "details",
    "testStrategy",
    "priority",
    "dependencies",
    "status",
    "estimatedHours",
    "tags",
    "phase",
    "subtasks",
}
_PRIORITIES = frozenset(priority.value for priority in TaskPriority)
_PHASES = frozenset(phase.value for phase in ProjectPhase)
_ID_CHARS = re.compile(r"[^A-Za-z0-9_.:-]+")
_CONFLICT = re.compile(r"^(<{7}|={7}|>{7})( |$)", re.MULTILINE)


class TaskmasterError(OrchestraError):
    """The file is not a Taskmaster tasks.json (or cannot be read); nothing is written."""


@dataclass
class TaskmasterImport:
    """What a tasks.json holds, as orchestra tasks (TaskSpec-shaped dicts, in file order) and statuses."""

    source: Path
    tags: list[str]
    all_tags: list[str]
    tasks: list[dict[str, Any]] = field(default_factory=list)
    statuses: dict[str, str] = field(default_factory=dict)
    top_level: int = 0
    subtasks: int = 0
    dropped: list[dict[str, str]] = field(default_factory=list)
    reinterpreted: list[dict[str, str]] = field(default_factory=list)
    renamed: list[dict[str, str]] = field(default_factory=list)
    raw_dependencies: dict[str, list[Any]] = field(default_factory=dict, repr=False)  # as the file wrote them
    parents: dict[str, str] = field(default_factory=dict, repr=False)  # subtask -> parent
    written: dict[tuple[str, str], Any] = field(
        default_factory=dict, repr=False
    )  # (task, kept dependency) -> as written
    alternatives: dict[tuple[str, str], str] = field(
        default_factory=dict, repr=False
    )  # (task, sibling) -> task (rule 5)

    @property
    def dependencies(self) -> int:
        return sum(len(task.get("dependencies", ())) for task in self.tasks)

    def summary(self) -> dict[str, Any]:
        return {
            "source": str(self.source),
            "tags": self.tags,
            "tasks": self.top_level,
            "subtasks": self.subtasks,
            "dependencies": self.dependencies,
            "dropped": self.dropped,
            "reinterpreted": self.reinterpreted,
            "renamed": self.renamed,
            "statuses": dict(sorted(Counter(self.statuses.values()).items())),
        }

    def report_lines(self) -> list[str]:
        """One line per renamed id, re-interpreted or dropped dependency."""
        lines = [f"renamed: task {item['task']}: {item['why']}" for item in self.renamed]
        lines += [
            f"re-interpreted: task {item['task']}: dependency {item['dependency']} read as task {item['as']}: "
            f"{item['why']}"
            for item in self.reinterpreted
        ]
        lines += [
            f"dropped: task {item['task']}: dependency {item['dependency']}: {item['why']}" for item in self.dropped
        ]
        return lines


# -- reading the file ---------------------------------------------------------------------------------


def read_taskmaster(path: Path, tag: str | None = None, all_tags: bool = False) -> TaskmasterImport:
    """Read and convert ``path``; raises TaskmasterError with one specific line for a file that is not Taskmaster's."""
    path = Path(path)
    layout = _layout(_load(path), path)
    names = [name for name, _ in layout]
    if tag is not None and tag not in names:
        raise TaskmasterError(f"{path}: no tag {tag!r}; its tags: {', '.join(names) or 'none'}")
    default = tag or (DEFAULT_TAG if DEFAULT_TAG in names else names[0] if names else DEFAULT_TAG)
    chosen = [(name, tasks) for name, tasks in layout if all_tags or name == default]
    result = TaskmasterImport(source=path, tags=[name for name, _ in chosen], all_tags=names)
    for name, tasks in chosen:
        _Tag(result, name, "" if name == default else f"{_clean_id(name)}:").convert(tasks)
    _break_cycles(result)
    return result


def _load(path: Path) -> Any:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise TaskmasterError(f"cannot read {path}: {error.strerror or error}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise TaskmasterError(
            f"{path}: not a Taskmaster tasks.json: not UTF-8 text (byte 0x{data[error.start]:02x} at offset "
            f"{error.start})"
        ) from None
    if not text.strip():
        raise TaskmasterError(f"{path}: empty file, not a Taskmaster tasks.json")
    conflict = _CONFLICT.search(text)
    if conflict:
        line = text.count("\n", 0, conflict.start()) + 1
        raise TaskmasterError(
            f"{path}:{line}: git merge-conflict markers ({conflict.group(1)}): resolve the conflict, then import"
        )
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        if error.msg == "Extra data":
            raise TaskmasterError(
                f"{path}:{error.lineno}:{error.colno}: a second JSON document starts here; a tasks.json holds one"
            ) from None
        raise TaskmasterError(f"{path}:{error.lineno}:{error.colno}: not JSON: {error.msg}") from None
    except (ValueError, RecursionError) as error:
        raise TaskmasterError(f"{path}: not JSON: {error}") from None


def _is_task_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, dict) and "id" in item for item in value)


def _layout(doc: Any, path: Path) -> list[tuple[str, list[dict[str, Any]]]]:
    """The file's tags and their task lists (one unnamed ``master`` for the flat and bare-array layouts)."""
    expected = 'expected {"master": {"tasks": [...]}}, {"tasks": [...]} or an array of tasks'
    if isinstance(doc, list):
        if doc and _is_task_list(doc):
            return [(DEFAULT_TAG, doc)]
        raise TaskmasterError(f"{path}: not a Taskmaster tasks.json: an array, but not of tasks with ids ({expected})")
    if not isinstance(doc, dict):
        raise TaskmasterError(f"{path}: not a Taskmaster tasks.json: a JSON {type(doc).__name__} ({expected})")
    if "tasks" in doc:
        if _is_task_list(doc["tasks"]):
            return [(DEFAULT_TAG, doc["tasks"])]
        what = (
            "a list of objects without ids"
            if isinstance(doc["tasks"], list)
            else f"a JSON {type(doc['tasks']).__name__}"
        )
        raise TaskmasterError(f"{path}: not a Taskmaster tasks.json: 'tasks' is {what} ({expected})")
    tags = [
        (name, value["tasks"])
        for name, value in doc.items()
        if isinstance(value, dict) and _is_task_list(value.get("tasks"))
    ]
    if not tags:
        tags = [(name, value) for name, value in doc.items() if _is_task_list(value) and value]
    if not tags:
        keys = ", ".join(list(map(str, doc))[:6]) or "none"
        raise TaskmasterError(
            f"{path}: not a Taskmaster tasks.json: no tag holds a 'tasks' list (top-level keys: {keys}; {expected})"
        )
    return tags


# -- converting one tag -------------------------------------------------------------------------------


def _norm(value: Any) -> str:
    """An id value as text: 3 and "3" are the same id; a float keeps its digits (3.1 -> "3.1")."""
    if isinstance(value, float):
        return repr(value)
    return str(value).strip() if value is not None else ""


def _clean_id(text: str) -> str:
    cleaned = _ID_CHARS.sub("-", text).strip("-.:_")
    return cleaned or "task"


def _meta_value(value: Any) -> Any:
    """``value`` without JSON nulls (TOML has none)."""
    if isinstance(value, dict):
        return {str(key): _meta_value(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_meta_value(item) for item in value if item is not None]
    return value


class _Tag:
    """One tag's tasks: ids assigned, fields mapped, then dependencies resolved by the module's rule."""

    def __init__(self, result: TaskmasterImport, name: str, prefix: str) -> None:
        self.result = result
        self.name = name
        self.prefix = prefix
        self.top: dict[str, str] = {}  # normalised top-level id -> orchestra id
        self.dotted: dict[str, str] = {}  # "P.S" -> orchestra id of subtask S of top-level task P
        self.siblings: dict[str, dict[str, str]] = {}  # parent orchestra id -> local id -> orchestra id
        self.key_of: dict[str, str] = {}  # top-level orchestra id -> its normalised id in the file
        self.specs: list[dict[str, Any]] = []
        self.taken: set[str] = {task["task_id"] for task in result.tasks}

    def convert(self, tasks: list[dict[str, Any]]) -> None:
        for raw in tasks:
            self._task(raw, None, depth=0)
        for spec in self.specs:
            self._resolve(spec, self.result.raw_dependencies[spec["task_id"]], spec.get("parent"))

    def _unique(self, wanted: str, raw_id: Any) -> str:
        task_id, n = wanted, 1
        while task_id in self.taken:
            n += 1
            task_id = f"{wanted}-{n}"
        if task_id != wanted:
            self.result.renamed.append(
                {
                    "task": task_id,
                    "id": _norm(raw_id),
                    "why": f"id {wanted} is used by an earlier task of tag {self.name}",
                }
            )
        self.taken.add(task_id)
        return task_id

    def _task(self, raw: dict[str, Any], parent: str | None, depth: int) -> None:
        raw_id = raw.get("id")
        if parent is None:
            key = _norm(raw_id)
            task_id = self._unique(self.prefix + _clean_id(key), raw_id)
            self.top.setdefault(key, task_id)
            self.key_of[task_id] = key
            self.result.top_level += 1
        else:
            parent_key = self.key_of[parent] if depth == 1 else parent.rsplit(".", 1)[-1]
            local = _local_id(_norm(raw_id), parent_key) or str(len(self.siblings.get(parent, {})) + 1)
            task_id = self._unique(f"{parent}.{_clean_id(local)}", raw_id)
            self.siblings.setdefault(parent, {}).setdefault(local, task_id)
            if depth == 1:
                self.dotted.setdefault(f"{parent_key}.{local}", task_id)
            self.result.subtasks += 1
            self.result.parents[task_id] = parent
        spec, status = _spec(raw, task_id, parent, self.name)
        self.result.tasks.append(spec)
        self.specs.append(spec)
        self.result.statuses[task_id] = status
        deps = raw.get("dependencies")
        self.result.raw_dependencies[task_id] = deps if isinstance(deps, list) else ([] if deps is None else [deps])
        subtasks = raw.get("subtasks")
        for sub in subtasks if isinstance(subtasks, list) else ():
            if isinstance(sub, dict):
                self._task(sub, task_id, depth + 1)

    def _resolve(self, spec: dict[str, Any], raw_deps: list[Any], parent: str | None) -> None:
        task_id = spec["task_id"]
        kept: list[str] = []
        changed = False
        parent_task_deps = self._parent_task_deps(parent)
        for raw in raw_deps:
            target, why, reinterpreted = self._target(raw, task_id, parent, parent_task_deps)
            if target is not None and target in kept:
                target, why = None, "listed twice"
            if target is not None and _is_ancestor(target, task_id, self.result.parents):
                target, why = (
                    None,
                    f"{target} is this subtask's parent: the parent waits for its subtasks, not the other way",
                )
            if target is None:
                self.result.dropped.append({"task": task_id, "dependency": _shown(raw), "why": why})
                changed = True
                continue
            if reinterpreted:
                self.result.alternatives[(task_id, target)] = why
            kept.append(target)
            self.result.written[(task_id, target)] = raw
        if kept:
            spec["dependencies"] = kept
        if changed:
            spec["metadata"]["taskmaster"]["dependencies"] = _meta_value(raw_deps)

    def _parent_task_deps(self, parent: str | None) -> set[str]:
        """The bare ids the parent task itself depends on (rule 3)."""
        if parent is None:
            return set()
        return {_norm(dep) for dep in self.result.raw_dependencies[parent] if "." not in _norm(dep)}

    def _sibling(self, parent: str, key: str) -> str | None:
        """The subtask of ``parent`` that ``key`` names, written as its local id or its full one ("11-1")."""
        siblings = self.siblings.get(parent, {})
        parent_key = self.key_of.get(parent) or parent.rsplit(".", 1)[-1]
        return siblings.get(key) or siblings.get(_local_id(key, parent_key))

    def _target(
        self, raw: Any, task_id: str, parent: str | None, parent_task_deps: set[str]
    ) -> tuple[str | None, str, bool]:
        """(orchestra id or None, why it is None, or with True: the task the parent depends on that it may mean)."""
        key = _norm(raw)
        if not key or isinstance(raw, (dict, list, bool)):
            return None, "not a task id", False
        target = None
        if "." in key or isinstance(raw, float):
            target = self.dotted.get(key)
            if target is None and parent is not None:
                target = self._sibling(parent, key)  # a slug with a dot naming a sibling
            if target is None:
                target = self.top.get(key)
            if target is None:
                return None, f"no subtask {key} in tag {self.name}", False
        elif parent is None:
            target = self.top.get(key)
            if target is None:
                return None, f"no task {key} in tag {self.name}", False
        else:
            sibling = self._sibling(parent, key)
            task = self.top.get(key)
            if isinstance(raw, str):
                target = task or sibling
            elif sibling is not None and task is not None and key in parent_task_deps and sibling != task_id:
                return sibling, task, True
            else:
                target = sibling or task
            if target is None:
                return None, f"no sibling or task {key} in tag {self.name}", False
        if target == task_id:
            return None, "a task cannot depend on itself", False
        return target, "", False


def _hours(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0 else None


#: Taskmaster key, orchestra field, and the value when it fits the field (None: it is kept in metadata instead).
_FIELDS: tuple[tuple[str, str, Callable[[Any], Any]], ...] = (
    ("description", "description", lambda value: value if isinstance(value, str) else None),
    ("details", "notes", lambda value: value if isinstance(value, str) and value.strip() else None),
    ("testStrategy", "success_criteria", lambda value: [value] if isinstance(value, str) and value.strip() else None),
    ("priority", "priority", lambda value: value if isinstance(value, str) and value in _PRIORITIES else None),
    ("estimatedHours", "estimated_hours", _hours),
    (
        "tags",
        "tags",
        lambda value: list(value) if isinstance(value, list) and all(isinstance(item, str) for item in value) else None,
    ),
    ("phase", "phase", lambda value: value if isinstance(value, str) and value in _PHASES else None),
)


def _spec(raw: dict[str, Any], task_id: str, parent: str | None, tag: str) -> tuple[dict[str, Any], str]:
    """One Taskmaster task or subtask as a TaskSpec-shaped dict, and its orchestra status."""
    spec: dict[str, Any] = {"task_id": task_id}
    meta: dict[str, Any] = {"id": raw.get("id"), "tag": tag}
    if parent is not None:
        spec["parent"] = parent
    for key, target, fit in _FIELDS:
        value = raw.get(key)
        if value is None or value == "":
            continue
        fitted = fit(value)
        if fitted is None:
            meta[key] = value
        else:
            spec[target] = fitted
    title = raw.get("title")
    if isinstance(title, str) and title.strip():
        spec["title"] = title
    else:  # a subtask without a title (file 20): the first line of its description, else its id
        spec["title"] = (spec.get("description", "").strip().splitlines() or [task_id])[0][:200]
        meta["title"] = title
    status = _status(raw.get("status"), spec, meta)
    meta.update((key, value) for key, value in raw.items() if key not in _MAPPED and value is not None)
    if raw.get("subtasks") is not None and not isinstance(raw["subtasks"], list):
        meta["subtasks"] = raw["subtasks"]
    spec["metadata"] = {"taskmaster": _meta_value(meta)}
    return spec, status


def _status(word: Any, spec: dict[str, Any], meta: dict[str, Any]) -> str:
    """The orchestra status for Taskmaster's word; a word orchestra has no status for is kept as a tag and in
    metadata."""
    if word is None:
        return "pending"
    status = STATUS_MAP.get(str(word).strip().lower())
    if status is None or str(word) not in STATUS_MAP:
        meta["status"] = word
    if status is None:
        spec.setdefault("tags", []).append(_clean_id(str(word)))
        return "pending"
    return status


def _local_id(key: str, parent_key: str) -> str:
    """A subtask's id inside its parent: "5.2", "5-2" and "2" under 5 are all "2"."""
    for separator in (".", "-"):
        if parent_key and key.startswith(parent_key + separator) and len(key) > len(parent_key) + 1:
            return key[len(parent_key) + 1 :]
    return key


def _shown(raw: Any) -> str:
    return json.dumps(raw, ensure_ascii=False)


def _is_ancestor(candidate: str, task_id: str, parents: dict[str, str]) -> bool:
    node = parents.get(task_id)
    while node is not None:
        if node == candidate:
            return True
        node = parents.get(node)
    return False


# -- cycles -------------------------------------------------------------------------------------------


def _break_cycles(result: TaskmasterImport) -> None:
    """Drop, for each dependency cycle (counting what subtasks imply), its latest explicit edge in file order."""
    order = {task["task_id"]: index for index, task in enumerate(result.tasks)}
    by_id = {task["task_id"]: task for task in result.tasks}
    for _ in range(len(result.tasks) + 1):
        cycles = [
            p
            for p in dependency_problems(
                ((t["task_id"], t.get("dependencies", [])) for t in result.tasks), result.parents
            )
            if p.kind == "cycle"
        ]
        if not cycles:
            return
        path = cycles[0].detail.split(" -> ")
        edges = [(a, b) for a, b in itertools.pairwise(path) if b in by_id[a].get("dependencies", ())]
        if not edges:
            raise TaskmasterError(f"{result.source}: tasks {cycles[0].detail} form a cycle through their subtasks")
        task_id, dep = max(
            edges,
            key=lambda edge: (
                (edge in result.alternatives),
                order[edge[0]],
                by_id[edge[0]]["dependencies"].index(edge[1]),
            ),
        )
        spec = by_id[task_id]
        deps = spec["dependencies"]
        written = result.written.pop((task_id, dep), dep)
        shown = _shown(written)
        spec["metadata"]["taskmaster"]["dependencies"] = _meta_value(result.raw_dependencies[task_id])
        instead = result.alternatives.pop((task_id, dep), None)
        if instead is not None and instead not in deps:
            deps[deps.index(dep)] = instead
            result.written[(task_id, instead)] = written
            result.reinterpreted.append(
                {
                    "task": task_id,
                    "dependency": shown,
                    "as": instead,
                    "why": (
                        f"as sibling {dep} it closes the cycle {cycles[0].detail}; the parent depends on task {instead}"
                    ),
                }
            )
            continue
        deps.remove(dep)
        if not deps:
            del spec["dependencies"]
        result.dropped.append(
            {"task": task_id, "dependency": shown, "why": f"it closes the dependency cycle {cycles[0].detail}"}
        )


# -- into a project -----------------------------------------------------------------------------------


def project_settings(root: Path, source: Path) -> dict[str, Any]:
    """``[project]`` of a plan written from a Taskmaster file: tasks go to a person until agents are configured."""
    name = root.resolve().name or "project"
    return {
        "id": slug(name),
        "name": name,
        "description": f"Imported from Taskmaster ({source.name})",
        "default_agent": "interactive",
    }


def import_statuses(project: Project, imported: TaskmasterImport) -> Entry | None:
    """Set the imported tasks' statuses as one history entry (action ``import``; ``orchestra undo`` reverts it).

    Only the status changes: the file records no times, runs or errors. None when every status already matches.
    """

    def compute() -> Mutation | None:
        current = project.store.tasks
        changes = []
        for task_id, status in imported.statuses.items():
            old = current.get(task_id)
            if old is not None and old.get("status") != status:
                change = diff_record(task_id, old, {**old, "status": status})
                if change is not None:
                    changes.append(change)
        if not changes:
            return None
        counts = Counter(change["after"]["status"] for change in changes)
        shown = ", ".join(f"{count} {status.replace('_', ' ')}" for status, count in sorted(counts.items()))
        summary = f"imported Taskmaster statuses from {imported.source.name}: {shown}"
        return Mutation(
            changes, "import", summary, {"source": str(imported.source), "tasks": [c["task"] for c in changes[:20]]}
        )

    return project.store.commit(compute, actor=project.actor)
