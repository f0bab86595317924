"""Reading the plan: ``orchestra.toml`` (or the seed's ``orchestration.config.json``) -> a validated :class:`Plan`.

DESIGN.md sections 2, 3 and 5. Pure apart from reading the plan files and the optional parse cache:
no textual, typer or rich here.

Every problem the user can cause is reported as one line in a :class:`~orchestra_tui.errors.PlanError`,
all problems at once, in the form ``FILE:LINE: task TASK-ID: field 'FIELD': message`` (parts that do not
apply are left out). Nothing here ever lets a traceback escape for bad input.

Environment references
    ``${VAR}`` and ``${VAR:-default}`` are expanded at load time in every string of ``[project]``,
    ``[agents.*]`` and ``[[webhooks]]`` (and of the seed JSON). An unset variable without a default stays
    literally ``${VAR}`` and its name is listed in :attr:`Plan.missing_env`.

    Task strings are deliberately **not** expanded here. Task definitions are copied into orchestra's
    permanent state and history; an expanded secret would be written there forever. The engine expands a
    task's strings with :func:`expand_env` at the moment it uses them (prompt, commands, verify), and
    never stores the result.

Seed config (``orchestration.config.json``)
    Read when there is no ``orchestra.toml``; when both exist its ``llm_providers`` only add agents whose
    names the TOML does not define (its other keys are then ignored). ``state_file`` and ``backups_dir``
    are ignored (the state importer handles the seed's state). Each provider becomes an
    :class:`AgentConfig`: type from the provider name when it is anthropic/openai/gemini/ollama, else from
    its ``type`` key, else ``openai``; ``"api_key": "${X}"`` becomes ``api_key_env = "X"``. A literal key
    in that file is dropped on the floor: it is never copied into the Plan, so it cannot reach any file
    orchestra writes (the agent then has no key until ``api_key_env`` is configured in orchestra.toml).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import re
import tempfile
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import tomli_w
from pydantic import ValidationError

from orchestra_tui.bulk import paused_gc
from orchestra_tui.errors import PlanError, closest
from orchestra_tui.models import (
    AgentConfig,
    PlanFile,
    ProjectSettings,
    TaskSpec,
    WebhookConfig,
)

__all__ = [
    "PLAN_FILE",
    "SEED_CONFIG_FILE",
    "CACHE_FILE",
    "BUILTIN_AGENTS",
    "Plan",
    "find_plan",
    "load_plan",
    "expand_env",
    "starter_plan",
    "plan_schema",
]

PLAN_FILE = "orchestra.toml"
SEED_CONFIG_FILE = "orchestration.config.json"
CACHE_FILE = "plan-cache.json"
#: Agents that exist without an ``[agents.NAME]`` table (one may still configure them).
BUILTIN_AGENTS: frozenset[str] = frozenset({"shell", "interactive"})

_MAX_DEPENDENCY_SUGGESTIONS = 25
_SEED_NAMED_TYPES = frozenset({"anthropic", "openai", "gemini", "ollama"})
_SEED_PROVIDER_KEYS = ("model", "base_url", "max_tokens", "temperature", "capabilities", "system", "api_key_env")


# --------------------------------------------------------------------------------------------- env


_ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand_env(value: str, environ: Mapping[str, str]) -> tuple[str, set[str]]:
    """Expand ``${VAR}`` and ``${VAR:-default}`` in ``value``; return ``(expanded, names missing)``.

    ``${VAR:-default}`` uses the default when VAR is unset or empty (as in the shell). ``${VAR}`` with VAR
    unset is left as written and VAR is reported missing. Use this for task strings at run time; never
    store its result.
    """
    missing: set[str] = set()
    if "${" not in value:
        return value, missing

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        current = environ.get(name)
        if default is not None:
            return current if current else default
        if current is None:
            missing.add(name)
            return match.group(0)
        return current

    return _ENV_RE.sub(substitute, value), missing


def _expand_tree(value: Any, environ: Mapping[str, str], missing: set[str]) -> Any:
    if isinstance(value, str):
        expanded, names = expand_env(value, environ)
        missing |= names
        return expanded
    if isinstance(value, dict):
        return {key: _expand_tree(item, environ, missing) for key, item in value.items()}
    if isinstance(value, list):
        return [_expand_tree(item, environ, missing) for item in value]
    return value


# -------------------------------------------------------------------------------------- line index


_HEADER_RE = re.compile(r"^\s*(\[\[?)\s*([^\[\]#]+?)\s*\]\]?\s*(?:#.*)?$")
_KEY_RE = re.compile(r"""^\s*("(?:[^"\\]|\\.)*"|'[^']*'|[A-Za-z0-9_-]+)\s*[.=]""")
_TASK_HEADER_RE = re.compile(r"^[ \t]*\[\[[ \t]*tasks[ \t]*\]\][ \t]*(?:#[^\n]*)?\r?$", re.MULTILINE)
_KEY_PART_RE = re.compile(r""""((?:[^"\\]|\\.)*)"|'([^']*)'|([A-Za-z0-9_-]+)""")


def _unquote(token: str) -> str:
    if len(token) >= 2 and token[0] == token[-1] and token[0] in "\"'":
        return token[1:-1]
    return token


def _dotted(name: str) -> list[str]:
    return [a or b or c for a, b, c in _KEY_PART_RE.findall(name)]


class _Block:
    __slots__ = ("line", "keys")

    def __init__(self, line: int | None) -> None:
        self.line = line
        self.keys: dict[str, int] = {}

    def key_line(self, *names: str) -> int | None:
        for name in names:
            if name in self.keys:
                return self.keys[name]
        return self.line


class _LineIndex:
    """Where things are in the TOML text: a light line scan, not a parser (tomllib already accepted the text).

    Tracks multi-line strings so that a ``[x]`` line inside a docstring is not taken for a header.
    """

    def __init__(self, text: str) -> None:
        self.top: dict[str, int] = {}
        self.project = _Block(None)
        self.agents: dict[str, _Block] = {}
        self.agents_table: int | None = None
        self.webhooks: list[_Block] = []
        self.tasks: list[_Block] = []
        current: _Block | None = None  # block whose keys we are recording
        agent_keys_context = False  # inside [agents]: keys are agent names
        in_string: str | None = None
        top_level = True
        # Split on "\n" only: TOML (and tomllib's messages) count lines that way, unlike str.splitlines.
        for number, line in enumerate(text.split("\n"), start=1):
            if in_string is not None:
                if line.count(in_string) % 2 == 1:
                    in_string = None
                continue
            stripped = line.lstrip()
            if not stripped or stripped[0] == "#":
                continue
            if stripped[0] == "[":
                match = _HEADER_RE.match(line)
                if match:
                    top_level = False
                    agent_keys_context = False
                    is_array = match.group(1) == "[["
                    parts = _dotted(match.group(2))
                    current = self._header(parts, is_array, number)
                    if parts == ["agents"] and not is_array:
                        self.agents_table = number
                        agent_keys_context = True
                    continue
            key_match = _KEY_RE.match(line)
            if key_match:
                key = _unquote(key_match.group(1))
                if top_level:
                    self.top.setdefault(key, number)
                    if key == "project":
                        self.project.line = self.project.line or number
                elif agent_keys_context:
                    self.agents.setdefault(key, _Block(number))
                elif current is not None:
                    current.keys.setdefault(key, number)
            for delimiter in ('"""', "'''"):
                if delimiter in line and line.count(delimiter) % 2 == 1:
                    in_string = delimiter
                    break

    def _header(self, parts: list[str], is_array: bool, number: int) -> _Block | None:
        if not parts:
            return None
        self.top.setdefault(parts[0], number)
        head, rest = parts[0], parts[1:]
        if head == "tasks":
            if not rest and is_array:
                self.tasks.append(_Block(number))
                return self.tasks[-1]
            if rest and self.tasks:
                self.tasks[-1].keys.setdefault(rest[0], number)
            return None
        if head == "webhooks":
            if not rest and is_array:
                self.webhooks.append(_Block(number))
                return self.webhooks[-1]
            if rest and self.webhooks:
                self.webhooks[-1].keys.setdefault(rest[0], number)
            return None
        if head == "project":
            if not rest:
                self.project.line = self.project.line or number
                return self.project
            self.project.keys.setdefault(rest[0], number)
            return None
        if head == "agents" and rest:
            block = self.agents.setdefault(rest[0], _Block(number))
            if len(rest) == 1:
                return block
            block.keys.setdefault(rest[1], number)
            return None
        return None

    def task_block(self, index: int) -> _Block:
        return self.tasks[index] if 0 <= index < len(self.tasks) else _Block(self.top.get("tasks"))

    def webhook_block(self, index: int) -> _Block:
        return self.webhooks[index] if 0 <= index < len(self.webhooks) else _Block(self.top.get("webhooks"))

    def agent_block(self, name: str) -> _Block:
        return self.agents.get(name) or _Block(self.agents_table or self.top.get("agents"))


def _json_key_line(text: str, key: str) -> int | None:
    """First line of a JSON text where ``"key":`` appears (light scan for error messages)."""
    pattern = re.compile(r'"' + re.escape(key) + r'"\s*:')
    for number, line in enumerate(text.split("\n"), start=1):
        if pattern.search(line):
            return number
    return None


# ------------------------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class Plan:
    """A validated plan.

    ``project``, ``agents`` and ``webhooks`` are env-expanded; ``tasks`` are exactly as written (see the
    module docstring: the engine expands task strings with :func:`expand_env` when it uses them).
    ``root`` is the project directory made absolute; ``path`` the file read (``orchestra.toml`` when it
    exists, else the seed JSON, else None); ``sha256`` is of that file's bytes.
    """

    root: Path
    path: Path | None
    project: ProjectSettings
    agents: dict[str, AgentConfig]
    webhooks: list[WebhookConfig]
    tasks: list[TaskSpec]
    sha256: str
    missing_env: frozenset[str]
    _text: str = field(default="", repr=False, compare=False)

    @cached_property
    def _lines(self) -> _LineIndex | None:
        if not self._text or self.path is None or self.path.name != PLAN_FILE:
            return None
        return _LineIndex(self._text)

    @cached_property
    def _task_positions(self) -> dict[str, int]:
        positions: dict[str, int] = {}
        for index, task in enumerate(self.tasks):
            positions.setdefault(task.task_id, index)
        return positions

    @cached_property
    def _task_header_lines(self) -> list[int | None]:
        if not self._text or self.path is None or self.path.name != PLAN_FILE:
            return []
        # Fast path: when the plain ``[[tasks]]`` header lines are exactly as many as the tasks, none of
        # them sits inside a multi-line string. Otherwise scan properly.
        offsets = [match.start() for match in _TASK_HEADER_RE.finditer(self._text)]
        if len(offsets) == len(self.tasks):
            numbers: list[int | None] = []
            line, last = 1, 0
            for offset in offsets:
                line += self._text.count("\n", last, offset)
                last = offset
                numbers.append(line)
            return numbers
        lines = self._lines
        return [block.line for block in lines.tasks] if lines is not None else []

    def line_of_task(self, task_id: str) -> int | None:
        """Line of the ``[[tasks]]`` header of that task in ``path`` (None if unknown or not locatable)."""
        index = self._task_positions.get(task_id)
        headers = self._task_header_lines
        if index is None or index >= len(headers):
            return None
        return headers[index]

    @property
    def task_ids(self) -> list[str]:
        return [task.task_id for task in self.tasks]


def find_plan(root: Path) -> Path | None:
    """``orchestra.toml`` in ``root``, else the seed's ``orchestration.config.json``, else None."""
    root = Path(root)
    for name in (PLAN_FILE, SEED_CONFIG_FILE):
        candidate = root / name
        if candidate.is_file():
            return candidate
    return None


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


def slug(name: str) -> str:
    """A project id made from a directory name."""
    slug = re.sub(r"[^a-z0-9_.-]+", "-", name.lower()).strip("-._")
    return slug or "project"


# --------------------------------------------------------------------------------------- problems


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


_TYPE_NAMES = {
    str: "string",
    int: "integer",
    float: "float",
    bool: "boolean",
    list: "array",
    dict: "table",
}

_EXPECTED = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "an array",
    "dict_type": "a table",
    "model_type": "a table",
    "model_attributes_type": "a table",
}


def _type_name(value: Any) -> str:
    for kind, name in _TYPE_NAMES.items():
        if type(value) is kind:
            return name
    return type(value).__name__


def _show(value: Any) -> str:
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, (dict, list)):
        try:
            text = json.dumps(value, ensure_ascii=False, default=str)
        except (TypeError, ValueError):
            text = repr(value)
    elif isinstance(value, (datetime.date, datetime.time)):
        text = value.isoformat()
    else:
        text = repr(value)
    text = text.replace("\n", "\\n")
    return text if len(text) <= 60 else text[:57] + "..."


def _suggest(word: str, choices: Iterable[str]) -> str:
    close = closest(word, choices)
    return f" (did you mean {close!r}?)" if close else ""


def _lookup(data: Any, path: tuple[Any, ...]) -> tuple[bool, Any]:
    for part in path:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return False, None
    return True, data


def _field_label(rest: tuple[Any, ...]) -> str:
    label = str(rest[0])
    for part in rest[1:]:
        label += f"[{part}]" if isinstance(part, int) else f".{part}"
    return label


_TASK_KEYS = tuple(["id", *(name for name in TaskSpec.model_fields if name != "task_id"), "task_id"])
_ALLOWED_KEYS: dict[str, tuple[str, ...]] = {
    "top": tuple(PlanFile.model_fields),
    "project": tuple(ProjectSettings.model_fields),
    "agent": tuple(AgentConfig.model_fields),
    "webhook": tuple(WebhookConfig.model_fields),
    "task": _TASK_KEYS,
}


def _message(error: dict[str, Any], found: bool, value: Any, field_name: str) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    got = f"{_type_name(value)} {_show(value)}" if found else None
    if kind == "missing":
        return "required field missing"
    if kind in ("enum", "literal_error"):
        allowed = ", ".join(re.findall(r"'([^']*)'", str(ctx.get("expected", ""))))
        shown = _show(value) if found else "this value"
        return f"invalid value {shown} (allowed: {allowed})"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        words = {
            "greater_than": ("greater than", "gt"),
            "greater_than_equal": ("at least", "ge"),
            "less_than": ("less than", "lt"),
            "less_than_equal": ("at most", "le"),
        }[kind]
        bound = ctx.get(words[1])
        if isinstance(bound, float) and bound.is_integer():
            bound = int(bound)
        return f"must be {words[0]} {bound}" + (f" (got {_show(value)})" if found else "")
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "string_pattern_mismatch":
        if field_name in ("id", "task_id"):
            return (
                f"invalid id {_show(value)}: use letters, digits and _ . : - "
                "(starting with a letter or digit)"
            )
        return f"{_show(value)} does not match the pattern {ctx.get('pattern')}"
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}" + (f", got {got}" if got else "")
    message = str(error.get("msg", "invalid value")).replace("\n", " ")
    return message + (f" (got {got})" if got else "")


# ------------------------------------------------------------------------------------- validation


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
                names = (str(rest[0]),)
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
                self.add(label, line, f"unknown key {key!r}{_suggest(key, allowed)}")
                continue
            if loc == ("project",) and kind == "missing":
                self.add(None, None, 'missing [project] table (it needs at least: id = "...")')
                continue
            if not rest:
                what = {"project": "[project]", "agent": "an [agents.NAME] entry", "webhook": "a [[webhooks]] entry",
                        "task": "a [[tasks]] entry"}.get(section, "this")
                got = f", got {_type_name(value)} {_show(value)}" if found else ""
                self.add(label, line, f"{what} must be a table{got}")
                continue
            field_name = str(rest[0])
            if section == "task" and field_name == "task_id":
                field_name = "id"
            field_label = _field_label((field_name, *rest[1:]))
            self.add(label, line, _message(item, found, value, field_name), field_label)


def _validate_plan_data(
    raw: dict[str, Any],
    text: str,
    file: str,
    environ: Mapping[str, str],
    seed_agents: dict[str, AgentConfig],
    problems: _Problems,
) -> tuple[PlanFile | None, set[str], _Context]:
    """Validate the parsed TOML; return the PlanFile (None when invalid) and the missing env names."""
    ctx = _Context(file, raw, text, problems)
    missing: set[str] = set()
    data = dict(raw)
    for section in ("project", "agents", "webhooks"):
        if section in data:
            data[section] = _expand_tree(data[section], environ, missing)
    plan_file: PlanFile | None = None
    try:
        plan_file = PlanFile.model_validate(data)
    except ValidationError as error:
        ctx.pydantic_errors(error)

    # Cross-task and cross-section checks work on the raw data so they run even when some tasks are invalid.
    raw_tasks = raw.get("tasks")
    tasks: list[tuple[int, dict[str, Any]]] = []
    if isinstance(raw_tasks, list):
        tasks = [(index, task) for index, task in enumerate(raw_tasks) if isinstance(task, dict)]
    agents = data.get("agents")
    agent_names = set(agents) if isinstance(agents, dict) else set()
    agent_names |= set(seed_agents) | BUILTIN_AGENTS
    project = data.get("project")
    if isinstance(project, dict):
        default_agent = project.get("default_agent")
        if isinstance(default_agent, str) and default_agent and default_agent not in agent_names:
            ctx.add("project", ctx.lines.project.key_line("default_agent"),
                    _unknown_agent(default_agent, agent_names), "default_agent")
    for index, task in tasks:
        agent = task.get("agent")
        if isinstance(agent, str) and agent:
            check = expand_env(agent, environ)[0] if "${" in agent else agent
            if check not in agent_names:
                ctx.add(ctx.task_label(index), ctx.lines.task_block(index).key_line("agent"),
                        _unknown_agent(agent, agent_names), "agent")
    _dependency_checks(ctx, tasks)
    return plan_file, missing, ctx


def _unknown_agent(name: str, known: set[str]) -> str:
    configured = sorted(known - BUILTIN_AGENTS)
    hint = _suggest(name, known)
    listing = ", ".join(configured) if configured else "none"
    return f"unknown agent {name!r}{hint}; configured agents: {listing} (built in: interactive, shell)"


def _dependency_checks(ctx: _Context, tasks: list[tuple[int, dict[str, Any]]]) -> None:
    from orchestra_tui.graph import dependency_problems

    entries: list[tuple[str, list[str]]] = []
    positions: dict[str, list[int]] = {}
    deps_at: dict[int, list[str]] = {}
    for index, task in tasks:
        task_id = task.get("id", task.get("task_id"))
        if not isinstance(task_id, str) or not task_id:
            continue
        deps = task.get("dependencies", [])
        deps = [dep for dep in deps if isinstance(dep, str)] if isinstance(deps, list) else []
        entries.append((task_id, deps))
        positions.setdefault(task_id, []).append(index)
        deps_at[index] = deps
    if not entries:
        return
    known = list(positions)
    suggestions = _MAX_DEPENDENCY_SUGGESTIONS
    reported_duplicates: set[str] = set()
    for problem in dependency_problems(entries):
        task_id = str(problem.task_id)
        where = positions.get(task_id, [None])
        first = where[0]
        if problem.kind in ("unknown", "self") and len(where) > 1:
            # A duplicated id: point at the entry that actually lists the dependency.
            first = next((index for index in where if problem.detail in deps_at.get(index, ())), first)
        label = ctx.task_label(first) if first is not None else f"task {task_id}"
        block = ctx.lines.task_block(first) if first is not None else _Block(None)
        if problem.kind == "duplicate":
            if task_id in reported_duplicates:
                continue
            reported_duplicates.add(task_id)
            first_line = block.key_line("id", "task_id")
            for later in where[1:]:
                later_block = ctx.lines.task_block(later)
                note = f" (first defined at line {first_line})" if first_line else f" (first is task #{first + 1})"
                ctx.add(f"task {task_id}", later_block.key_line("id", "task_id"),
                        f"duplicate id {task_id!r}{note}")
            continue
        line = block.key_line("dependencies")
        if problem.kind == "unknown":
            dep = str(problem.detail)
            # difflib over 10,000 ids costs ~13 ms: suggest for the first few only (a renamed id can
            # leave thousands of unknown references).
            suggestions -= 1
            hint = _suggest(dep, known) if suggestions >= 0 else ""
            ctx.add(label, line, f"unknown task {dep!r}{hint}", "dependencies")
        elif problem.kind == "self":
            ctx.add(label, line, "a task cannot depend on itself", "dependencies")
        elif problem.kind == "cycle":
            ctx.add(label, line, f"dependency cycle {problem.detail}", "dependencies")
        else:  # a kind added to graph.py later: still report it, one line
            ctx.add(label, line, f"{problem.kind}: {problem.detail}", "dependencies")


# ------------------------------------------------------------------------------------------ seed


def _read_seed(
    path: Path, environ: Mapping[str, str], problems: _Problems
) -> tuple[dict[str, Any] | None, dict[str, AgentConfig], set[str], bytes]:
    """Parse and validate the seed JSON: (top-level dict or None, agents, missing env names, bytes)."""
    file = _display(path)
    missing: set[str] = set()
    try:
        content = path.read_bytes()
    except OSError as error:
        problems.add(file, None, f"cannot read: {error.strerror or error}")
        return None, {}, missing, b""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = content[: error.start].count(b"\n") + 1
        problems.add(file, line, f"invalid JSON: not UTF-8 (byte 0x{content[error.start]:02x})")
        return None, {}, missing, content
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        problems.add(file, error.lineno, f"invalid JSON: {error.msg}", error.colno)
        return None, {}, missing, content
    except (ValueError, RecursionError) as error:
        problems.add(file, None, f"invalid JSON: {error}")
        return None, {}, missing, content
    if not isinstance(data, dict):
        problems.add(file, 1, f"invalid config: expected a JSON object, got {_type_name(data)}")
        return None, {}, missing, content

    agents: dict[str, AgentConfig] = {}
    providers = data.get("llm_providers", {})
    if providers is None:
        providers = {}
    if not isinstance(providers, dict):
        problems.add(file, _json_key_line(text, "llm_providers"),
                     f"field 'llm_providers': expected an object, got {_type_name(providers)}")
        providers = {}
    for name, provider in providers.items():
        name = str(name)
        line = _json_key_line(text, name)
        if not isinstance(provider, dict):
            problems.add(file, line, f"agent {name}: expected an object, got {_type_name(provider)}")
            continue
        config: dict[str, Any] = {}
        if name in _SEED_NAMED_TYPES:
            config["type"] = name
        elif isinstance(provider.get("type"), str) and provider["type"]:
            config["type"] = provider["type"]
        else:
            config["type"] = "openai"
        for key in _SEED_PROVIDER_KEYS:
            if key in provider and provider[key] is not None:
                config[key] = provider[key]
        api_key = provider.get("api_key")
        if isinstance(api_key, str):
            reference = _ENV_RE.fullmatch(api_key.strip())
            if reference:
                config["api_key_env"] = reference.group(1)
            # A literal key is dropped: it must never be copied anywhere.
        config = _expand_tree(config, environ, missing)
        try:
            agents[name] = AgentConfig.model_validate(config)
        except ValidationError as error:
            for item in error.errors(include_url=False):
                rest = tuple(item["loc"])
                field_name = str(rest[0]) if rest else ""
                found, value = _lookup(provider, rest)
                if field_name == "type" and name in _SEED_NAMED_TYPES:
                    found, value = True, name
                text_line = _message(item, found, value, field_name)
                label = f"agent {name}: field {_field_label(rest)!r}: " if rest else f"agent {name}: "
                problems.add(file, line, label + text_line)
    return data, agents, missing, content


def _seed_project(data: dict[str, Any], root: Path, file: str, text_missing: set[str],
                  environ: Mapping[str, str], problems: _Problems, path: Path) -> ProjectSettings | None:
    settings: dict[str, Any] = {"id": slug(root.name), "name": root.name}
    for source, target in (("project_id", "id"), ("project_name", "name"), ("parallel_max", "parallel_max"),
                           ("default_agent", "default_agent")):
        if source in data and data[source] is not None:
            settings[target] = data[source]
    settings = _expand_tree(settings, environ, text_missing)
    try:
        return ProjectSettings.model_validate(settings)
    except ValidationError as error:
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError):
            text = ""
        reverse = {"id": "project_id", "name": "project_name"}
        for item in error.errors(include_url=False):
            rest = tuple(item["loc"])
            key = reverse.get(str(rest[0]), str(rest[0])) if rest else ""
            found, value = _lookup(data, (key,)) if key else (False, None)
            problems.add(file, _json_key_line(text, key) if key else None,
                         f"field {key!r}: {_message(item, found, value, key)}")
        return None


# ------------------------------------------------------------------------------------------- load


def _parse_toml(content: bytes, file: str, problems: _Problems) -> tuple[dict[str, Any] | None, str]:
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as error:
        line = content[: error.start].count(b"\n") + 1
        column = error.start - (content.rfind(b"\n", 0, error.start) + 1) + 1
        problems.add(file, line, f"invalid TOML: not UTF-8 (byte 0x{content[error.start]:02x})", column)
        return None, ""
    if text.startswith("\ufeff"):
        text = text[1:]
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as error:
        message = str(error)
        match = re.search(r"\s*\(at line (\d+), column (\d+)\)\s*$", message)
        if match:
            problems.add(file, int(match.group(1)), f"invalid TOML: {message[: match.start()]}", int(match.group(2)))
        else:
            end = re.search(r"\s*\(at end of document\)\s*$", message)
            if end:
                message = message[: end.start()] + " at end of file"
                problems.add(file, text.count("\n") + 1, f"invalid TOML: {message}")
            else:
                problems.add(file, None, f"invalid TOML: {message}")
        return None, text
    except (RecursionError, ValueError) as error:
        problems.add(file, None, f"invalid TOML: {error}")
        return None, text


def _cache_read(cache_dir: Path | None, sha256: str) -> dict[str, Any] | None:
    if cache_dir is None:
        return None
    try:
        cached = json.loads((Path(cache_dir) / CACHE_FILE).read_bytes())
    except Exception:  # noqa: BLE001 - a damaged or missing cache is simply ignored
        return None
    if isinstance(cached, dict) and cached.get("sha256") == sha256 and isinstance(cached.get("data"), dict):
        return cached["data"]
    return None


def _cache_write(cache_dir: Path, sha256: str, data: dict[str, Any]) -> None:
    """Best effort: atomically replace the cache; any failure (unwritable dir, dates in the TOML) is ignored."""
    temp: str | None = None
    try:
        payload = json.dumps({"sha256": sha256, "data": data}, ensure_ascii=False, separators=(",", ":"))
        directory = Path(cache_dir)
        directory.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=".plan-cache-", suffix=".tmp", dir=directory)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(payload)
        os.replace(temp, directory / CACHE_FILE)
        temp = None
    except Exception:  # noqa: BLE001 - never let the cache fail a load
        pass
    finally:
        if temp is not None:
            try:
                os.unlink(temp)
            except OSError:
                pass


def load_plan(root: Path, *, cache_dir: Path | None = None, environ: Mapping[str, str] | None = None) -> Plan:
    """Read and validate the plan of the project in ``root``; raise :class:`PlanError` listing every problem.

    ``cache_dir`` (usually ``ROOT/.orchestra``) keeps ``plan-cache.json``, the parsed TOML keyed by the
    file's sha256, to skip TOML parsing when the file has not changed; validation runs every time.
    ``environ`` defaults to ``os.environ``.
    """
    try:
        with paused_gc():
            return _load_plan(root, cache_dir, environ)
    except RecursionError:
        raise PlanError([f"{_display(Path(root) / PLAN_FILE)}: too deeply nested to read"]) from None


def _load_plan(root: Path, cache_dir: Path | None, environ: Mapping[str, str] | None) -> Plan:
    environ = os.environ if environ is None else environ
    root = Path(os.path.abspath(root))
    problems = _Problems()
    if not root.is_dir():
        raise PlanError([f"{_display(root)}: not a directory"])
    toml_path = root / PLAN_FILE
    seed_path = root / SEED_CONFIG_FILE
    has_toml = toml_path.is_file()
    has_seed = seed_path.is_file()

    seed_data: dict[str, Any] | None = None
    seed_agents: dict[str, AgentConfig] = {}
    missing: set[str] = set()
    seed_bytes = b""
    if has_seed:
        seed_data, seed_agents, seed_missing, seed_bytes = _read_seed(seed_path, environ, problems)
        missing |= seed_missing

    if not has_toml:
        if not has_seed:
            return Plan(root=root, path=None, project=ProjectSettings(id=slug(root.name), name=root.name),
                        agents={}, webhooks=[], tasks=[], sha256="", missing_env=frozenset())
        project = None
        if seed_data is not None:
            project = _seed_project(seed_data, root, _display(seed_path), missing, environ, problems, seed_path)
            if project is not None:
                known = set(seed_agents) | BUILTIN_AGENTS
                if project.default_agent not in known:
                    problems.add(_display(seed_path), _json_key_line(seed_bytes.decode("utf-8", "replace"), "default_agent"),
                                 f"field 'default_agent': {_unknown_agent(project.default_agent, known)}")
        if problems or project is None:
            raise PlanError(problems.lines())
        return Plan(root=root, path=seed_path, project=project, agents=dict(seed_agents), webhooks=[], tasks=[],
                    sha256=hashlib.sha256(seed_bytes).hexdigest(), missing_env=frozenset(missing))

    file = _display(toml_path)
    try:
        content = toml_path.read_bytes()
    except OSError as error:
        problems.add(file, None, f"cannot read: {error.strerror or error}")
        raise PlanError(problems.lines()) from None
    sha256 = hashlib.sha256(content).hexdigest()
    data = _cache_read(cache_dir, sha256)
    cache_hit = data is not None
    text = ""
    if data is None:
        data, text = _parse_toml(content, file, problems)
        if data is None:
            raise PlanError(problems.lines())
    else:
        text = content.decode("utf-8", "replace").removeprefix("\ufeff")

    plan_file, toml_missing, _ = _validate_plan_data(data, text, file, environ, seed_agents, problems)
    missing |= toml_missing
    if problems or plan_file is None:
        raise PlanError(problems.lines() or [f"{file}: invalid plan"])
    if cache_dir is not None and not cache_hit:
        _cache_write(cache_dir, sha256, data)
    agents = dict(plan_file.agents)
    for name, config in seed_agents.items():
        agents.setdefault(name, config)
    return Plan(
        root=root,
        path=toml_path,
        project=plan_file.project,
        agents=agents,
        webhooks=list(plan_file.webhooks),
        tasks=list(plan_file.tasks),
        sha256=sha256,
        missing_env=frozenset(missing),
        _text=text,
    )


# ------------------------------------------------------------------------------------ starter plan


def _toml_string(value: str) -> str:
    return tomli_w.dumps({"v": value}).split("=", 1)[1].strip()


_STARTER = """\
# orchestra.toml - the plan of this project. Edit it by hand and keep it in git.
#   orchestra validate     checks it and lists every problem
#   orchestra              opens the live board;  orchestra run  runs ready tasks headless
#
# Strings in [project], [agents.*] and [[webhooks]] may use ${{VAR}} or ${{VAR:-default}};
# they are read from the environment when the plan is loaded. Strings in tasks are expanded only
# when a task runs, so a secret never ends up in orchestra's history.

[project]
id = {project_id}          # short identifier used in state, reports and webhooks
name = {name}         # display name
description = ""           # what the project is about, in a sentence or two
parallel_max = 4           # how many tasks may run at once (1-256)
default_agent = "shell"    # agent for tasks that do not name one
auto_complete = false      # false: a task whose run and verify succeed waits in "review" for you
                           # true: it is completed right away

# ----------------------------------------------------------------------------------------- agents
# An agent turns a task into work. Two exist without any table:
#   shell        runs the task's `commands` in the project directory (exit codes decide success)
#   interactive  shows you the prompt and copies it to the clipboard; you complete the task
# API keys are read from the environment variable named by api_key_env; the key itself is never
# written to any file. Uncomment and adapt the agents you want, then set `agent = "NAME"` on tasks.

[agents.shell]
type = "shell"

# [agents.claude]
# type = "anthropic"
# model = "claude-sonnet-4-5"
# api_key_env = "ANTHROPIC_API_KEY"
# capabilities = ["code", "design"]
# max_tokens = 8192

# [agents.gpt]
# type = "openai"                          # also any OpenAI-compatible server: vLLM, llama.cpp,
# model = "gpt-4o"                         # LM Studio, OpenRouter, LiteLLM...
# base_url = "https://api.openai.com/v1"   # includes /v1
# api_key_env = "OPENAI_API_KEY"

# [agents.gemini]
# type = "gemini"
# model = "gemini-2.5-pro"
# api_key_env = "GEMINI_API_KEY"

# [agents.llama]
# type = "ollama"                          # a local model through Ollama; no key needed
# model = "llama3.1"
# base_url = "http://localhost:11434"

# [agents.coder]
# type = "cli"                             # a coding-agent CLI; the prompt goes to its stdin
# command = ["claude", "-p", "--output-format", "stream-json"]
# output_format = "stream-json"
# prompt_via = "stdin"

# --------------------------------------------------------------------------------------- webhooks
# [[webhooks]]
# url = "https://example.com/hooks/orchestra"
# events = ["task_completed", "task_failed", "run_finished"]
# secret_env = "ORCHESTRA_WEBHOOK_SECRET"  # signs each body (header X-Orchestra-Signature)

# ------------------------------------------------------------------------------------------ tasks
# One [[tasks]] per piece of work. Only id and title are required. Other keys:
#   description, agent, priority (critical | high | medium | low, default medium),
#   phase (planning | design | development | testing | deployment | maintenance, default development),
#   dependencies (task ids), estimated_hours (> 0, default 1), deliverables, success_criteria,
#   commands (for the shell agent), verify (commands that must all exit 0 after a successful run),
#   inputs (files put into an AI agent's prompt), output (file an AI agent's answer is written to),
#   tags, notes, metadata.

[[tasks]]
id = "HELLO-1"
title = "Write a greeting"
description = "Create out/hello.txt containing a greeting."
priority = "high"
phase = "development"
estimated_hours = 0.1
commands = ["mkdir -p out", "echo 'Hello from orchestra' > out/hello.txt"]
deliverables = ["out/hello.txt"]
success_criteria = ["out/hello.txt exists and is not empty"]
verify = ["test -s out/hello.txt"]
tags = ["example"]

[[tasks]]
id = "HELLO-2"
title = "Count the words of the greeting"
description = "Write the number of words in out/hello.txt to out/words.txt."
dependencies = ["HELLO-1"]
estimated_hours = 0.1
commands = ["wc -w < out/hello.txt > out/words.txt"]
deliverables = ["out/words.txt"]
verify = ["test -s out/words.txt"]
tags = ["example"]

[[tasks]]
id = "HELLO-3"
title = "Write a small report"
description = "Combine the greeting and its word count into out/report.txt."
agent = "shell"
priority = "low"
phase = "testing"
dependencies = ["HELLO-1", "HELLO-2"]
estimated_hours = 0.2
commands = [
  "echo 'Greeting:' > out/report.txt",
  "cat out/hello.txt >> out/report.txt",
  "echo 'Words:' >> out/report.txt",
  "cat out/words.txt >> out/report.txt",
]
deliverables = ["out/report.txt"]
success_criteria = ["out/report.txt holds the greeting and its word count"]
verify = ["grep -q 'Hello from orchestra' out/report.txt"]
tags = ["example"]
notes = "Run `orchestra run` to execute all three in dependency order, or `orchestra next` to see what is ready."
"""


def starter_plan(project_id: str, name: str) -> str:
    """A commented, valid ``orchestra.toml`` for ``orchestra init``: learn-by-reading, runs offline."""
    return _STARTER.format(project_id=_toml_string(project_id), name=_toml_string(name))


# ----------------------------------------------------------------------------------------- schema


def plan_schema() -> dict[str, Any]:
    """The JSON Schema of ``orchestra.toml`` (for editors and ``orchestra schema``); tasks are keyed by ``id``."""
    schema = PlanFile.model_json_schema(by_alias=True)
    task = schema.get("$defs", {}).get("TaskSpec", {})
    properties = task.get("properties", {})
    if "task_id" in properties and "id" not in properties:
        rebuilt = {}
        for key, value in properties.items():
            rebuilt["id" if key == "task_id" else key] = value
        task["properties"] = rebuilt
    if "required" in task:
        task["required"] = ["id" if key == "task_id" else key for key in task["required"]]
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}
