"""The :class:`Plan` and :func:`load_plan`: read the files, parse the TOML, validate, build the Plan."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic.version import VERSION as PYDANTIC_VERSION

from ..bulk import paused_gc
from ..errors import PlanError
from ..models import AgentConfig, PlanFile, Price, ProjectSettings, TaskSpec, WebhookConfig
from ..projectfiles import PLAN_READS
from ..redaction import register_env
from ..version import __version__
from .cache import _cache_mark, _cache_read, _cache_write
from .env import _ENV_RE
from .files import PLAN_FILE, SEED_CONFIG_FILE, slug
from .locate import _TASK_HEADER_RE, _json_key_line, _LineIndex
from .problems import _display, _Problems
from .seed_config import _read_seed, _seed_project
from .validate import BUILTIN_AGENTS, _unknown_agent, _validate_plan_data, tasks_use_env

#: What validated a cached plan's tasks: the same tasks are valid again under the same versions.
CHECKED_BY = f"orchestra {__version__}, pydantic {PYDANTIC_VERSION}"


@dataclass(frozen=True)
class Plan:
    """A validated plan.

    ``project``, ``agents`` and ``webhooks`` are env-expanded; ``tasks`` are exactly as written (see the
    package docstring: the engine expands task strings with :func:`expand_env` when it uses them).
    ``root`` is the project directory made absolute; ``path`` the file read (``orchestra.toml`` when it
    exists, else the seed JSON, else None); ``sha256`` is of that file's bytes. ``tasks`` are given validated
    (``_task_specs``) or, when the signed parse cache says these tables were validated before, as what gives the
    tables (``_task_tables``: they are decoded and validated into tasks when first asked for): opening a project
    whose plan is unchanged needs none of them.
    """

    root: Path
    path: Path | None
    project: ProjectSettings
    agents: dict[str, AgentConfig]
    webhooks: list[WebhookConfig]
    sha256: str
    missing_env: frozenset[str]
    pricing: dict[str, Price] = field(default_factory=dict)
    _text: str = field(default="", repr=False, compare=False)
    _task_specs: list[TaskSpec] | None = field(default=None, repr=False, compare=False)
    _task_tables: Callable[[], Any] = field(default=list, repr=False, compare=False)

    @cached_property
    def tasks(self) -> list[TaskSpec]:
        if self._task_specs is not None:
            return self._task_specs
        tables = self._task_tables()
        return [TaskSpec.model_validate(table) for table in tables] if isinstance(tables, list) else []

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
    import tomllib  # (here: an open whose plan is in the signed parse cache parses nothing)

    import tomli

    try:
        # tomli is the parser tomllib was taken from, compiled (mypyc): the same TOML 1.0 and the same result,
        # ~2x faster on a big plan (tomli 2.4 reads TOML 1.1: pinned below it, so that it accepts no file that
        # tomllib refuses). A file it refuses is read again by tomllib, whose error a person has always seen.
        return tomli.loads(text), text
    except (tomli.TOMLDecodeError, RecursionError, ValueError):
        pass
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


def _register_secrets(
    text: str, agents: Mapping[str, AgentConfig], webhooks: list[WebhookConfig], environ: Mapping[str, str]
) -> None:
    """Register as secrets the values of every variable the plan refers to (``${VAR}`` anywhere, tasks
    included, though they are expanded only when they run), every ``api_key_env`` and ``secret_env``."""
    names = {match.group(1) for match in _ENV_RE.finditer(text)}
    names |= {agent.api_key_env for agent in agents.values() if agent.api_key_env}
    names |= {hook.secret_env for hook in webhooks if hook.secret_env}
    register_env(sorted(names), environ)


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
            return Plan(
                root=root,
                path=None,
                project=ProjectSettings(id=slug(root.name), name=root.name),
                agents={},
                webhooks=[],
                sha256="",
                missing_env=frozenset(),
                _task_specs=[],
            )
        project = None
        if seed_data is not None:
            project = _seed_project(seed_data, root, _display(seed_path), missing, environ, problems, seed_path)
            if project is not None:
                known = set(seed_agents) | BUILTIN_AGENTS
                if project.default_agent not in known:
                    problems.add(
                        _display(seed_path),
                        _json_key_line(seed_bytes.decode("utf-8", "replace"), "default_agent"),
                        f"field 'default_agent': {_unknown_agent(project.default_agent, known)}",
                    )
        if problems or project is None:
            raise PlanError(problems.lines())
        _register_secrets(seed_bytes.decode("utf-8", "replace"), seed_agents, [], environ)
        return Plan(
            root=root,
            path=seed_path,
            project=project,
            agents=dict(seed_agents),
            webhooks=[],
            sha256=hashlib.sha256(seed_bytes).hexdigest(),
            missing_env=frozenset(missing),
            _task_specs=[],
        )

    file = _display(toml_path)
    try:
        content = toml_path.read_bytes()
    except OSError as error:
        problems.add(file, None, f"cannot read: {error.strerror or error}")
        raise PlanError(problems.lines()) from None
    PLAN_READS[str(toml_path)] = content
    sha256 = hashlib.sha256(content).hexdigest()
    hit = _cache_read(cache_dir, sha256)
    # Tasks marked valid under these versions (so free of ${VAR} agents: see below) are not read at all now.
    trusted = hit is not None and hit.checked == CHECKED_BY and cache_dir is not None and not has_seed
    data = None if hit is None else hit.data if trusted else hit.full()
    text = ""
    if data is None:
        data, text = _parse_toml(content, file, problems)
        if data is None:
            raise PlanError(problems.lines())
    else:
        text = content.decode("utf-8", "replace").removeprefix("\ufeff")

    # The tasks' checks depend on the file alone unless a seed config adds agents or a task's agent is ${VAR}.
    checkable = cache_dir is not None and not has_seed and not tasks_use_env(data)
    tasks_checked = checkable and hit is not None and hit.checked == CHECKED_BY
    plan_file, toml_missing, _ = _validate_plan_data(
        data, text, file, environ, seed_agents, problems, tasks_checked=tasks_checked
    )
    missing |= toml_missing
    if problems or plan_file is None:
        raise PlanError(problems.lines() or [f"{file}: invalid plan"])
    if cache_dir is not None and (hit is None or hit.payload is None):  # not on disk yet
        _cache_write(cache_dir, sha256, data, CHECKED_BY if checkable else None)
    elif cache_dir is not None and hit is not None and checkable and not tasks_checked:
        _cache_mark(cache_dir, sha256, hit, CHECKED_BY)
    agents = dict(plan_file.agents)
    for name, config in seed_agents.items():
        agents.setdefault(name, config)
    _register_secrets(text, agents, plan_file.webhooks, environ)
    return Plan(
        root=root,
        path=toml_path,
        project=plan_file.project,
        agents=agents,
        webhooks=list(plan_file.webhooks),
        sha256=sha256,
        missing_env=frozenset(missing),
        pricing=dict(plan_file.pricing),
        _text=text,
        _task_specs=list(plan_file.tasks) if isinstance(plan_file, PlanFile) else None,  # (PlanSections: checked)
        _task_tables=hit.tasks if tasks_checked and hit is not None else list,
    )
