"""Validating the parsed TOML: the PlanFile model, then agent names and dependencies across tasks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from ..errors import quoted
from ..models import AgentConfig, PlanFile, PlanSections
from ..userconfig import CONFIG_FILE, allowed_env, config_home
from .env import _ENV_RE, _expand_tree, expand_env
from .locate import _Block
from .messages import _suggest
from .outputs import output_problem
from .problems import _Context, _Problems

#: Agents that exist without an ``[agents.NAME]`` table (one may still configure them).
BUILTIN_AGENTS: frozenset[str] = frozenset({"shell", "interactive"})
#: Agent types that send nothing over the network themselves (their strings may use any variable).
LOCAL_AGENT_TYPES: frozenset[str] = frozenset({"shell", "cli", "interactive"})
#: The fields of an agent's table that go over the network (in the URL, the headers or the body).
SENT_AGENT_FIELDS: frozenset[str] = frozenset({"base_url", "headers", "request", "model", "system"})

_MAX_DEPENDENCY_SUGGESTIONS = 25


def _validate_plan_data(
    raw: dict[str, Any],
    text: str,
    file: str,
    environ: Mapping[str, str],
    seed_agents: dict[str, AgentConfig],
    problems: _Problems,
    tasks_checked: bool = False,
) -> tuple[PlanSections | None, set[str], _Context]:
    """Validate the parsed TOML; return the PlanFile (None when invalid) and the missing env names.

    ``tasks_checked``: these very tasks were validated without a problem before (the signed parse cache says so, see
    ``cache.py``), so only the sections that depend on the environment are: they come back as ``PlanSections``."""
    ctx = _Context(file, raw, text, problems)
    missing: set[str] = set()
    data = dict(raw)
    _check_sent_env(ctx, raw, environ)
    for section in ("project", "agents", "webhooks"):
        if section in data:
            data[section] = _expand_tree(data[section], environ, missing)
    plan_file: PlanSections | None = None
    try:
        if tasks_checked:
            plan_file = PlanSections.model_validate({key: value for key, value in data.items() if key != "tasks"})
        else:
            plan_file = PlanFile.model_validate(data)
    except ValidationError as error:
        ctx.pydantic_errors(error)

    # Cross-task and cross-section checks work on the raw data so they run even when some tasks are invalid.
    raw_tasks = raw.get("tasks")
    tasks: list[tuple[int, dict[str, Any]]] = []
    if isinstance(raw_tasks, list) and not tasks_checked:
        tasks = [(index, task) for index, task in enumerate(raw_tasks) if isinstance(task, dict)]
    agents = data.get("agents")
    agent_names = set(agents) if isinstance(agents, dict) else set()
    agent_names |= set(seed_agents) | BUILTIN_AGENTS
    project = data.get("project")
    if isinstance(project, dict):
        default_agent = project.get("default_agent")
        if isinstance(default_agent, str) and default_agent and default_agent not in agent_names:
            ctx.add(
                "project",
                ctx.lines.project.key_line("default_agent"),
                _unknown_agent(default_agent, agent_names),
                "default_agent",
            )
    for index, task in tasks:
        agent = task.get("agent")
        if isinstance(agent, str) and agent:
            check = expand_env(agent, environ)[0] if "${" in agent else agent
            if check not in agent_names:
                ctx.add(
                    ctx.task_label(index),
                    ctx.lines.task_block(index).key_line("agent"),
                    _unknown_agent(agent, agent_names),
                    "agent",
                )
    for index, task in tasks:
        output = task.get("output")
        problem = output_problem(output) if isinstance(output, str) and output else None
        if problem is not None:
            ctx.add(
                ctx.task_label(index),
                ctx.lines.task_block(index).key_line("output"),
                f"{quoted(output)} {problem}",
                "output",
            )
    if not tasks_checked:
        _dependency_checks(ctx, tasks)
    return plan_file, missing, ctx


def tasks_use_env(raw: dict[str, Any]) -> bool:
    """Whether a task's ``agent`` names a variable (then its check depends on the environment)."""
    tasks = raw.get("tasks")
    return isinstance(tasks, list) and any(
        isinstance(task, dict) and isinstance(task.get("agent"), str) and "${" in task["agent"] for task in tasks
    )


def _sent_refs(value: Any, field: str, url: bool) -> list[tuple[str, str]]:
    """(field, variable) for each ``${VAR}`` in ``value`` whose value would be sent; in a URL, a reference at
    the very start picks the server itself and sends nothing to anyone else."""
    if isinstance(value, str):
        return [(field, match.group(1)) for match in _ENV_RE.finditer(value) if not (url and match.start() == 0)]
    if isinstance(value, dict):
        return [ref for key, item in value.items() for ref in _sent_refs(item, f"{field}.{key}", False)]
    if isinstance(value, list):
        return [ref for item in value for ref in _sent_refs(item, field, False)]
    return []


def _check_sent_env(ctx: _Context, raw: dict[str, Any], environ: Mapping[str, str]) -> None:
    """Refuse ``${VAR}`` where its value would go over the network (an HTTP agent's table, a webhook's URL)
    unless the person allowed VAR: it is the agent's own ``api_key_env`` or in ``allow_env`` of the user's
    config (read only when a reference needs it). A plan from someone else cannot name where a secret goes
    (docs/ARCHITECTURE.md C13)."""
    refs: list[tuple[str, int | None, str, str, str]] = []  # (label, line, field, variable, whose server)
    agents = raw.get("agents")
    for name, agent in agents.items() if isinstance(agents, dict) else ():
        if not isinstance(agent, dict) or agent.get("type") in LOCAL_AGENT_TYPES:
            continue
        for key, value in agent.items():
            if key in SENT_AGENT_FIELDS:
                refs += [
                    (f"agent {name}", ctx.lines.agent_block(name).key_line(key), field, var, "agent")
                    for field, var in _sent_refs(value, key, key == "base_url")
                    if var != agent.get("api_key_env")
                ]
    hooks = raw.get("webhooks")
    for index, hook in enumerate(hooks if isinstance(hooks, list) else ()):
        if isinstance(hook, dict):
            refs += [
                (f"webhook #{index + 1}", ctx.lines.webhook_block(index).key_line("url"), field, var, "webhook")
                for field, var in _sent_refs(hook.get("url"), "url", True)
            ]
    if not refs:
        return
    allowed = allowed_env(environ)
    config = config_home(environ=environ) / CONFIG_FILE
    for label, line, field, var, whose in refs:
        if var not in allowed:
            ctx.add(
                label,
                line,
                f'${{{var}}} would be sent to the {whose}\'s server; allow it with allow_env = ["{var}"] in {config}',
                field,
            )


def _unknown_agent(name: str, known: set[str]) -> str:
    configured = sorted(known - BUILTIN_AGENTS)
    hint = _suggest(name, known)
    listing = ", ".join(configured) if configured else "none"
    return f"unknown agent {quoted(name)}{hint}; configured agents: {listing} (built in: interactive, shell)"


def _dependency_checks(ctx: _Context, tasks: list[tuple[int, dict[str, Any]]]) -> None:
    from ..graph import dependency_problems

    entries: list[tuple[str, list[str]]] = []
    parents: dict[str, str] = {}
    positions: dict[str, list[int]] = {}
    deps_at: dict[int, list[str]] = {}
    for index, task in tasks:
        task_id = task.get("id", task.get("task_id"))
        if not isinstance(task_id, str) or not task_id:
            continue
        deps = task.get("dependencies", [])
        deps = [dep for dep in deps if isinstance(dep, str)] if isinstance(deps, list) else []
        entries.append((task_id, deps))
        if isinstance(task.get("parent"), str) and task["parent"]:
            parents[task_id] = task["parent"]
        positions.setdefault(task_id, []).append(index)
        deps_at[index] = deps
    if not entries:
        return
    known = list(positions)
    suggestions = _MAX_DEPENDENCY_SUGGESTIONS
    reported_duplicates: set[str] = set()
    for problem in dependency_problems(entries, parents):
        task_id = str(problem.task_id)
        where = positions.get(task_id, [])
        first = where[0] if where else None
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
                note = (
                    f" (first defined at line {first_line})" if first_line else f" (first is task #{(first or 0) + 1})"
                )
                ctx.add(
                    f"task {task_id}", later_block.key_line("id", "task_id"), f"duplicate id {quoted(task_id)}{note}"
                )
            continue
        if problem.kind == "parent":
            what = (
                "a task cannot be its own subtask"
                if problem.detail == task_id
                else f"unknown task {problem.detail!r}{_suggest(problem.detail, known)}"
            )
            ctx.add(label, block.key_line("parent"), what, "parent")
            continue
        line = block.key_line("dependencies")
        if problem.kind == "unknown":
            dep = str(problem.detail)
            # difflib over 10,000 ids costs ~13 ms: suggest for the first few only (a renamed id can
            # leave thousands of unknown references).
            suggestions -= 1
            hint = _suggest(dep, (other for other in known if other != task_id)) if suggestions >= 0 else ""
            ctx.add(label, line, f"unknown task {quoted(dep)}{hint}", "dependencies")
        elif problem.kind == "self":
            ctx.add(label, line, "a task cannot depend on itself", "dependencies")
        elif problem.kind == "cycle":
            ctx.add(label, line, f"dependency cycle {problem.detail}", "dependencies")
        else:  # a kind added to graph.py later: still report it, one line
            ctx.add(label, line, f"{problem.kind}: {problem.detail}", "dependencies")
