"""Collecting one-line problems (``FILE:LINE: task ID: field 'F': message``) and placing them in the file."""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..errors import quoted
from ..models import AgentConfig, PlanFile, ProjectSettings, TaskSpec, WebhookConfig
from .locate import _LineIndex
from .messages import _field_label, _lookup, _message, _show, _suggest, _type_name


def _display(path: Path) -> str:
    """The path relative to the cwd when it is inside it, else as given."""
    try:
        absolute = os.path.abspath(path)
        cwd = os.getcwd()
        relative = os.path.relpath(absolute, cwd)
    except (OSError, ValueError):
        return str(path)
    if relative == os.pardir or relative.startswith(os.pardir + os.sep):
        return str(path)
    return relative


class _Problems:
    def __init__(self) -> None:
        self._items: list[tuple[int, int, int, str]] = []
        self._files: dict[str, int] = {}

    def add(self, file: str, line: int | None, text: str, column: int | None = None) -> None:
        order = self._files.setdefault(file, len(self._files))
        where = file
        if line is not None:
            where += f":{line}"
            if column is not None:
                where += f":{column}"
        self._items.append((order, line or 0, len(self._items), f"{where}: {text}"))

    def __bool__(self) -> bool:
        return bool(self._items)

    def lines(self) -> list[str]:
        return [text for *_, text in sorted(self._items)]


_TASK_KEYS = tuple(["id", *(name for name in TaskSpec.model_fields if name != "task_id"), "task_id"])
_ALLOWED_KEYS: dict[str, tuple[str, ...]] = {
    "top": tuple(PlanFile.model_fields),
    "project": tuple(ProjectSettings.model_fields),
    "agent": tuple(AgentConfig.model_fields),
    "webhook": tuple(WebhookConfig.model_fields),
    "task": _TASK_KEYS,
}


class _Context:
    """What one validation run needs to phrase its problems."""

    def __init__(self, file: str, raw: dict[str, Any], text: str, problems: _Problems) -> None:
        self.file = file
        self.raw = raw
        self.text = text
        self.problems = problems

    @cached_property
    def lines(self) -> _LineIndex:
        return _LineIndex(self.text)

    def task_label(self, index: int) -> str:
        ok, task = _lookup(self.raw, ("tasks", index))
        if ok and isinstance(task, dict):
            task_id = task.get("id", task.get("task_id"))
            if isinstance(task_id, str) and task_id.strip():
                return f"task {task_id}"
        return f"task #{index + 1}"

    def locate(self, loc: tuple[Any, ...]) -> tuple[str | None, int | None, tuple[Any, ...], str]:
        """(context label, line, loc inside the section item, kind of section) for a PlanFile error location."""
        head = loc[0] if loc else None
        if head == "project" and len(loc) >= 1:
            rest = loc[1:]
            block = self.lines.project
            line = block.key_line(str(rest[0])) if rest else (block.line or self.lines.top.get("project"))
            return "project", line, rest, "project"
        if head == "agents" and len(loc) >= 2:
            name = str(loc[1])
            rest = loc[2:]
            block = self.lines.agent_block(name)
            line = block.key_line(str(rest[0])) if rest else block.line
            return f"agent {name}", line, rest, "agent"
        if head == "webhooks" and len(loc) >= 2 and isinstance(loc[1], int):
            block = self.lines.webhook_block(loc[1])
            rest = loc[2:]
            line = block.key_line(str(rest[0])) if rest else block.line
            return f"webhook #{loc[1] + 1}", line, rest, "webhook"
        if head == "tasks" and len(loc) >= 2 and isinstance(loc[1], int):
            block = self.lines.task_block(loc[1])
            rest = loc[2:]
            line = None
            if rest:
                names: tuple[str, ...] = (str(rest[0]),)
                if rest[0] == "id":
                    names = ("id", "task_id")
                elif rest[0] == "task_id":
                    names = ("task_id", "id")
                line = block.key_line(*names)
            else:
                line = block.line
            return self.task_label(loc[1]), line, rest, "task"
        return None, self.lines.top.get(str(head)) if head is not None else None, loc, "top"

    def add(self, label: str | None, line: int | None, text: str, field_label: str | None = None) -> None:
        parts = []
        if label:
            parts.append(label)
        if field_label:
            parts.append(f"field {field_label!r}")
        parts.append(text)
        self.problems.add(self.file, line, ": ".join(parts))

    def pydantic_errors(self, error: ValidationError, prefix: tuple[Any, ...] = ()) -> None:
        for item in error.errors(include_url=False):
            loc = prefix + tuple(item["loc"])
            label, line, rest, section = self.locate(loc)
            found, value = _lookup(self.raw, loc)
            kind = item["type"]
            if kind == "extra_forbidden" and rest:
                key = str(rest[-1])
                if section == "task" and key in ("id", "task_id"):
                    self.add(label, line, "both 'id' and 'task_id' are given; keep only 'id'")
                    continue
                allowed = _ALLOWED_KEYS[section]
                if len(rest) > 1:  # inside a nested model (not expected with the current models)
                    allowed = ()
                self.add(label, line, f"unknown key {quoted(key)}{_suggest(key, allowed)}")
                continue
            if loc == ("project",) and kind == "missing":
                self.add(None, None, 'missing [project] table (it needs at least: id = "...")')
                continue
            if not rest:
                what = {
                    "project": "[project]",
                    "agent": "an [agents.NAME] entry",
                    "webhook": "a [[webhooks]] entry",
                    "task": "a [[tasks]] entry",
                }.get(section, "this")
                got = f", got {_type_name(value)} {_show(value)}" if found else ""
                self.add(label, line, f"{what} must be a table{got}")
                continue
            field_name = str(rest[0])
            if section == "task" and field_name == "task_id":
                field_name = "id"
            field_label = _field_label((field_name, *rest[1:]))
            self.add(label, line, _message(item, found, value, field_name), field_label)
