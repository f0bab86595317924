"""Writing tasks into ``orchestra.toml``: a new file as tomli-w writes it (``plan.toml_text``, the same text
faster); a person's file edited in place with tomlkit.

A plan file is written by people and kept in git, so adding to it keeps its comments, key order and
formatting: only the ``[[tasks]]`` tables that change are touched (a task with a known id is updated key by
key, keys the import does not set stay; a new one is appended). The text is validated as a plan before it
replaces the file (atomically), so a file that would not load is never written.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import PlanError
from ..plan import PLAN_FILE, SEED_CONFIG_FILE, load_plan, toml_text
from ..plan.cache import _cache_prime
from ..projectfiles import STATE_DIR
from ..store.fsio import atomic_write, describe_os_error

#: Field order of a written ``[[tasks]]`` table (the rest follows in the model's order).
_FIRST = ("id", "title", "parent", "description", "priority", "phase", "dependencies", "estimated_hours")


@dataclass
class PlanEdit:
    """The new text of a plan file and what it changes."""

    text: str
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    data: dict[str, Any] | None = None  # a new file: what tomllib reads back from ``text`` (primes the parse cache)


def task_table(spec: Mapping[str, Any]) -> dict[str, Any]:
    """A TaskSpec-shaped dict as a ``[[tasks]]`` table: ``id`` first, defaults and empty values left out."""
    values = {
        ("id" if key == "task_id" else key): value for key, value in spec.items() if value not in (None, "", [], {})
    }
    ordered = {key: values.pop(key) for key in _FIRST if key in values}
    return {**ordered, **values}


def new_plan(project: Mapping[str, Any], tasks: Iterable[Mapping[str, Any]], header: str = "") -> PlanEdit:
    """The text of a new plan file (tomli-w), ``header`` as leading comment lines."""
    tables = [task_table(spec) for spec in tasks]
    data = {"project": dict(project), "tasks": tables}
    # Multi-line strings read better, but TOML may turn a CR LF inside one into LF: then none at all.
    body = toml_text.dumps(data, multiline_strings=not _has_cr(data))
    comment = "".join(f"# {line}\n".replace("# \n", "#\n") for line in header.splitlines())
    return PlanEdit(text=comment + ("\n" if comment else "") + body, added=[table["id"] for table in tables], data=data)


def merge_tasks(
    text: str, tasks: Iterable[Mapping[str, Any]], file: str = PLAN_FILE, managed: frozenset[str] = frozenset()
) -> PlanEdit:
    """``text`` (a plan file) with ``tasks`` added or updated in place; comments and formatting kept.

    An existing task takes the new values; of its other keys, those in ``managed`` (the fields the source
    owns, e.g. an import's) are removed when the new task leaves them out, the rest (a person's) stay."""
    import tomlkit  # (here and below: writing a new plan, as an import does, needs none of it)
    from tomlkit.exceptions import TOMLKitError

    try:
        doc = tomlkit.parse(text)
    except TOMLKitError as error:
        raise PlanError([f"{file}: invalid TOML: {error}"]) from None
    existing = doc.get("tasks")
    if existing is None:
        existing = tomlkit.aot()
        doc.append("tasks", existing)
    elif not isinstance(existing, tomlkit.items.AoT):
        raise PlanError([f"{file}: 'tasks' is not an array of [[tasks]] tables; nothing was written"])
    by_id = {str(table.get("id", table.get("task_id"))): table for table in existing}
    edit = PlanEdit(text="")
    for spec in tasks:
        wanted = task_table(spec)
        table = by_id.get(wanted["id"])
        if table is None:
            if len(existing):
                existing[-1].add(tomlkit.nl())
            existing.append(_table(wanted))
            edit.added.append(wanted["id"])
            continue
        differs = [key for key, value in wanted.items() if _plain(table.get(key)) != value]
        for key in differs:
            table[key] = _item(wanted[key])
        stale = [key for key in managed - wanted.keys() if key in table]
        for key in stale:
            del table[key]
        differs += stale
        (edit.changed if differs else edit.unchanged).append(wanted["id"])
    edit.text = tomlkit.dumps(doc)
    return edit


def write_plan(root: Path, edit: PlanEdit, *, replace: bool) -> Path:
    """Write ``edit.text`` as the plan of ``root``, atomically.

    ``replace`` True (an edit of the person's file): the text is validated first, so a file that would not
    load never replaces theirs. False: a new file, never over an existing one; it is not validated here (the
    caller opens the project right away, which validates it, and removes the file when that fails)."""
    path = root / PLAN_FILE
    if not replace and (path.exists() or path.is_symlink()):
        raise PlanError([f"{path} already exists; nothing was written"])
    if replace:
        _check(root, edit.text)
    content = edit.text.encode("utf-8")
    try:
        atomic_write(path, content, mode=0o666)  # the person's file: the umask applies
    except OSError as error:
        raise PlanError([describe_os_error(error, path)]) from None
    if (
        edit.data is not None
    ):  # the project is opened next: spare it parsing what was just written (a third of an import)
        _cache_prime(root / STATE_DIR, hashlib.sha256(content).hexdigest(), edit.data)
    return path


def _check(root: Path, text: str) -> None:
    """Load ``text`` as the plan in a scratch copy of the project's plan files (PlanError lists every problem).

    The parse is cached in the project's state directory, keyed by the text's hash, so opening the project
    right after the file is written does not parse it again."""
    with tempfile.TemporaryDirectory(prefix="orchestra-plan-") as scratch:
        scratch_root = Path(scratch)
        seed = root / SEED_CONFIG_FILE
        if seed.is_file() and not seed.is_symlink():
            shutil.copyfile(seed, scratch_root / SEED_CONFIG_FILE)
        (scratch_root / PLAN_FILE).write_text(text, encoding="utf-8")
        try:
            load_plan(scratch_root, cache_dir=root / STATE_DIR)
        except PlanError as error:
            raise PlanError(
                [
                    line.replace(str(scratch_root / PLAN_FILE), PLAN_FILE).replace(scratch, str(root))
                    for line in error.problems
                ]
            ) from None


def _has_cr(value: Any) -> bool:
    if type(value) is str:  # most values: spare them the isinstance of an ABC
        return "\r" in value
    if isinstance(value, str):
        return "\r" in value
    if isinstance(value, Mapping):
        return any(map(_has_cr, value.values()))
    if isinstance(value, list):
        return any(map(_has_cr, value))
    return False


def _plain(value: Any) -> Any:
    return value.unwrap() if hasattr(value, "unwrap") else value


def _item(value: Any) -> Any:
    """A value as tomlkit writes it: multi-line strings as ``\"\"\"`` strings."""
    import tomlkit

    if isinstance(value, str) and "\n" in value and "\r" not in value:  # TOML may normalise a CR LF in one
        return tomlkit.string(value, multiline=True)
    if isinstance(value, Mapping):
        table = tomlkit.table()
        for key, item in value.items():
            table[key] = _item(item)
        return table
    return value


def _table(values: Mapping[str, Any]) -> Any:
    import tomlkit

    table = tomlkit.table()
    for key, value in values.items():
        table[key] = _item(value)
    return table
