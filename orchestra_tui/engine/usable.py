"""Whether a ready task can run at all, found before anything starts (docs/ARCHITECTURE.md C8; issue 14 item 7).

Dispatching a task whose agent cannot run it would start it, fail it at once, and add an attempt and a history
entry for nothing. These checks need no network and write nothing, so every face asks them first: the
scheduler refuses ``d`` with the reason and leaves such tasks out of ``a`` and ``orchestra run``, and ``next``
flags its pick. The same things ``orchestra agents`` reports offline: a key that is not set, and a ``shell``
task with no commands. (Whether an endpoint answers is ``orchestra agents``' business: it takes seconds.)
"""

from __future__ import annotations

import functools
import shutil
from collections.abc import Mapping
from typing import TYPE_CHECKING, Literal, NotRequired, TypedDict

from ..graph import natural_key
from ..models import AgentConfig, AgentType
from ..plan import BUILTIN_AGENTS

if TYPE_CHECKING:
    from ..models import AgentTask
    from ..plan import Plan
    from .project import Project


def why_not(task: AgentTask, config: AgentConfig, env: Mapping[str, str], executor: str = "local") -> str | None:
    """Why ``task`` cannot run with an agent configured as ``config`` in ``env``, or None when nothing says so.
    ``executor``: the project's; an agent run on Ray reads its key on the worker, so a key missing here is none."""
    if config.type == AgentType.SHELL and not task.commands:
        return f"{task.task_id} has no commands for the shell agent to run (add `commands`, or give it another agent)"
    key_env = config.api_key_env
    if key_env and not env.get(key_env) and not on_ray(config, executor):
        return f"its agent needs ${key_env}, which is not set"
    return None


@functools.cache
def _builtins() -> dict[str, AgentConfig]:
    """The built-in agents' default configurations, made once: the scheduler asks about each candidate of each fill
    (read only: ``plan_config`` is for checks, not for building agents). Made when first asked, not on import:
    ``orchestra next --json`` asks nothing, and would build ``AgentConfig``'s validator for them (~3 ms)."""
    return {name: AgentConfig(type=AgentType(name)) for name in BUILTIN_AGENTS}


def plan_config(project: Project, task: AgentTask, agent: str | None = None) -> AgentConfig | None:
    """The configuration of ``agent``, else of the agent the plan gives ``task`` (None: one the plan does not know),
    to read: a built-in one is shared."""
    name = agent or project.agent_of(task)
    return project.plan.agents.get(name) or _builtins().get(name)


def why_not_in_plan(project: Project, task_id: str, env: Mapping[str, str], agent: str | None = None) -> str | None:
    """``why_not`` for a task with ``agent``, else the agent its plan gives it (an unknown agent is the runner's
    to report)."""
    task = project.task(task_id)
    config = plan_config(project, task, agent)
    return None if config is None else why_not(task, config, env, project.plan.project.executor)


def on_ray(config: AgentConfig, executor: str) -> bool:
    """Whether the agent's runs go to Ray (its own ``executor``, else the project's)."""
    return (config.executor or executor) == "ray"


def without_commands(plan: Plan) -> list[str]:
    """The ids of the plan's tasks given a ``shell`` agent and no commands: they cannot run (``validate`` warns)."""
    found = []
    for spec in plan.tasks:
        name = spec.agent or plan.project.default_agent
        config = plan.agents.get(name) or (AgentConfig(type=AgentType(name)) if name in BUILTIN_AGENTS else None)
        if config is not None and config.type == AgentType.SHELL and not spec.commands:
            found.append(spec.task_id)
    return found


_KEYED = frozenset({AgentType.ANTHROPIC, AgentType.GEMINI})  # cloud APIs that always need a key
_REMOTE = frozenset({AgentType.ANTHROPIC, AgentType.OPENAI, AgentType.GEMINI, AgentType.OLLAMA, AgentType.HTTP})


class AgentRow(TypedDict):
    """One line of ``orchestra agents`` (its ``--json`` shape, in this key order)."""

    name: str
    type: str
    model: str | None
    base_url: str | None
    api_key_env: str | None
    key: Literal["set", "missing"] | None  # never the key itself
    missing_env: list[str]
    builtin: bool
    default: bool
    tasks: int
    usable: bool
    problems: list[str]
    endpoint_checked: bool | None  # None: nothing to contact; False: not contacted (offline)
    executor: Literal["local", "ray"]  # where its runs go
    check: NotRequired[str | None]  # what the online check found (absent offline)


def agent_rows(plan: Plan, environ: Mapping[str, str]) -> list[AgentRow]:
    """Each configured agent (and the built-ins) with what can be told offline about whether it can run.

    A key is reported ``set`` or ``missing``, never shown. Endpoints are not contacted (``endpoint_checked``).
    """
    configs = dict(plan.agents)
    for name in sorted(BUILTIN_AGENTS):
        configs.setdefault(name, AgentConfig(type=AgentType(name)))
    used: dict[str, int] = {}
    for spec in plan.tasks:
        agent = spec.agent or plan.project.default_agent
        used[agent] = used.get(agent, 0) + 1
    rows: list[AgentRow] = []
    for name in sorted(configs, key=natural_key):
        config = configs[name]
        problems: list[str] = []
        key: Literal["set", "missing"] | None = None
        if config.api_key_env:
            key = "set" if environ.get(config.api_key_env) else "missing"
            if key == "missing" and not on_ray(config, plan.project.executor):  # on Ray, the workers have it
                problems.append(f"${config.api_key_env} is not set")
        elif config.type in _KEYED or (config.type == AgentType.OPENAI and config.base_url is None):
            problems.append("no api_key_env configured")
        dumped = config.model_dump_json()
        missing_env = sorted(var for var in plan.missing_env if "${" + var in dumped)
        problems += [f"${var} is not set (used in its settings)" for var in missing_env]
        if config.type == AgentType.CLI:
            if not config.command:
                problems.append("no command configured")
            elif shutil.which(config.command[0]) is None:
                problems.append(f"command {config.command[0]!r} not found on PATH")
        rows.append(
            {
                "name": name,
                "type": config.type.value,
                "model": config.model,
                "base_url": config.base_url,
                "api_key_env": config.api_key_env,
                "key": key,
                "missing_env": missing_env,
                "builtin": name not in plan.agents,
                "default": name == plan.project.default_agent,
                "tasks": used.get(name, 0),
                "usable": not problems,
                "problems": problems,
                "endpoint_checked": False if config.type in _REMOTE else None,
                "executor": "ray" if on_ray(config, plan.project.executor) else "local",
            }
        )
    return rows
