"""``orchestra plan DOC`` and ``orchestra expand ID``: an LLM agent turns a requirements document into tasks, or
one task into subtasks, validated before a person sees them.

The agent is asked for JSON shaped like the plan file's tasks (``{"tasks": [{"id", "title", "dependencies", ...}]}``,
the ``[[tasks]]`` field names, its JSON Schema taken from the same pydantic model as ``orchestra schema``) in a
fenced block, so every agent type can answer (HTTP models and coding-agent CLIs alike). The answer is checked
as the plan file would be (the candidate ``orchestra.toml`` is validated whole: ids, dependencies, cycles,
enums, agents); the problems go back to the agent for at most ``repair`` more rounds. Nothing is written here:
the face shows the result and writes it (``plan_edit``) on confirmation.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import OrchestraError, PlanError
from ..models import AgentTask, TaskSpec
from ..plan import PLAN_FILE, Plan
from .plan_edit import PlanEdit, merge_tasks, new_plan

_FENCE = re.compile(r"```(?:json)?\s*\n(.*?)\n```", re.DOTALL)
MAX_DOCUMENT_CHARS = 200_000


@dataclass
class Spend:
    """What the planning requests cost, summed like a task's runs: token counts None until a round
    reports them, ``cost_usd`` over the rounds whose cost is known, ``unpriced_rounds`` the others."""

    requests: int = 0
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_write_tokens: int | None = None
    cost_usd: float | None = None
    unpriced_rounds: int = 0
    structured: bool = True  # the agent's native structured output was used (False: the fenced block only)

    def add(self, usage: Any, cost: float | None, spent: bool) -> None:
        """One round's usage (an ``agents.events.UsageUpdate`` of its totals) and cost (None: unknown)."""
        self.requests += 1
        for name in ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens"):
            value = getattr(usage, name)
            if value is not None:
                setattr(self, name, (getattr(self, name) or 0) + value)
        if cost is not None:
            self.cost_usd = round((self.cost_usd or 0.0) + cost, 6)
        elif spent:
            self.unpriced_rounds += 1

    def figures(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "cache_write_tokens": self.cache_write_tokens,
            "cost_usd": self.cost_usd,
            "unpriced_rounds": self.unpriced_rounds,
        }


@dataclass
class Draft:
    """The tasks an agent proposed, the plan text they make, and what the rounds cost."""

    tasks: list[dict[str, Any]]
    edit: PlanEdit
    rounds: int
    spend: Spend = field(default_factory=Spend)
    problems: list[str] = field(default_factory=list)  # of the last round, when it still had some

    @property
    def input_tokens(self) -> int | None:
        return self.spend.input_tokens

    @property
    def output_tokens(self) -> int | None:
        return self.spend.output_tokens


def task_schema() -> dict[str, Any]:
    """The JSON Schema of the answer: ``{"tasks": [TaskSpec...]}`` with the plan file's field names. The task
    model's ``$defs`` (its enums) sit at the root, where its ``#/$defs/...`` references resolve."""
    spec = TaskSpec.model_json_schema(by_alias=False)
    definitions = spec.pop("$defs", {})
    properties = {("id" if name == "task_id" else name): value for name, value in spec["properties"].items()}
    item = {**spec, "properties": properties, "required": ["id", "title"]}
    schema = {"type": "object", "properties": {"tasks": {"type": "array", "items": item}}, "required": ["tasks"]}
    return {**schema, "$defs": definitions} if definitions else schema


def plan_prompt(document: str, name: str, existing: list[str], max_tasks: int) -> str:
    """The request: the document, the schema, the zero-ambiguity form, and the ids already taken."""
    taken = (
        f"These task ids already exist and may be depended on, not redefined: {', '.join(existing)}.\n"
        if existing
        else ""
    )
    return (
        f"Turn the requirements document `{name}` below into at most {max_tasks} tasks for a project plan.\n"
        "Each task must be unambiguous: exact inputs, requirements, output, success criteria and deliverables; "
        "a phase, a priority, estimated hours and the ids of the tasks it depends on (no cycles).\n"
        f"{taken}"
        "Answer with one JSON object in a ```json fenced block and nothing else, following this JSON Schema:\n"
        f"```json\n{json.dumps(task_schema(), separators=(',', ':'))}\n```\n\n"
        f"# {name}\n\n{document}\n"
    )


def expand_prompt(task: TaskSpec, into: int) -> str:
    """The request to split ``task`` into at most ``into`` subtasks that together do the whole of it."""
    brief = [f"# Task {task.task_id}: {task.title}"]
    for label, value in (("Description", task.description), ("Notes", task.notes)):
        if value.strip():
            brief.append(f"## {label}\n\n{value.strip()}")
    for label, items in (("Success criteria", task.success_criteria), ("Deliverables", task.deliverables)):
        if items:
            brief.append(f"## {label}\n\n" + "\n".join(f"- {item}" for item in items))
    return (
        f"Split task {task.task_id} below into at most {into} subtasks that together do the whole of it, each "
        "unambiguous (exact inputs, requirements, output, success criteria, deliverables, estimated hours), with ids "
        f"{task.task_id}.1, {task.task_id}.2, ... and the ids of the subtasks each depends on (no cycles).\n"
        "Answer with one JSON object in a ```json fenced block and nothing else, following this JSON Schema:\n"
        f"```json\n{json.dumps(task_schema(), separators=(',', ':'))}\n```\n\n" + "\n\n".join(brief) + "\n"
    )


def as_subtasks(parent: str, tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``tasks`` made subtasks of ``parent``: ``parent`` set, ids outside ``PARENT.`` renumbered (dependencies
    follow)."""
    renamed: dict[str, str] = {}
    for index, task in enumerate(tasks, start=1):
        task_id = str(task.get("id", ""))
        if not task_id.startswith(f"{parent}."):
            renamed[task_id] = f"{parent}.{index}"
    result = []
    for task in tasks:
        deps = [renamed.get(str(dep), str(dep)) for dep in task.get("dependencies") or [] if str(dep) != parent]
        task_id = str(task.get("id", ""))
        result.append({**task, "id": renamed.get(task_id, task_id), "parent": parent, "dependencies": deps})
    return result


def repair_prompt(problems: list[str]) -> str:
    listed = "\n".join(f"- {problem}" for problem in problems[:30])
    return (
        "Your last answer was not a valid plan:\n"
        f"{listed}\n"
        "Answer again with the whole corrected JSON object in a ```json fenced block."
    )


def extract_tasks(text: str) -> list[dict[str, Any]]:
    """The ``tasks`` of the JSON in ``text`` (the last fenced block, else the outermost braces); OrchestraError
    otherwise."""
    blocks = _FENCE.findall(text)
    candidates = list(reversed(blocks)) or (
        [text[text.index("{") : text.rindex("}") + 1]] if "{" in text and "}" in text else []
    )
    if not candidates:
        raise OrchestraError("the answer holds no JSON object")
    error = "no JSON object"
    for candidate in candidates:
        try:
            data = json.loads(candidate)
        except json.JSONDecodeError as problem:
            error = f"not JSON: {problem.msg} (line {problem.lineno})"
            continue
        tasks = data.get("tasks") if isinstance(data, dict) else None
        if isinstance(tasks, list) and all(isinstance(task, dict) for task in tasks):
            return tasks
        error = "the JSON has no 'tasks' list of objects"
    raise OrchestraError(f"the answer's JSON is unusable: {error}")


def candidate_plan(plan: Plan, tasks: list[dict[str, Any]]) -> PlanEdit:
    """The plan file with ``tasks`` added (validated whole: PlanError lists the problems)."""
    from .plan_edit import _check

    specs = []
    for task in tasks:
        data = {key: value for key, value in task.items() if value is not None}
        data["task_id"] = str(data.pop("id", data.get("task_id", "")))
        specs.append(data)
    if plan.path is not None and plan.path.name == PLAN_FILE:
        edit = merge_tasks(plan.path.read_text(encoding="utf-8-sig"), specs)
    else:
        edit = new_plan({"id": plan.project.id, "name": plan.project.name or plan.project.id}, specs)
    _check(plan.root, edit.text)
    return edit


def read_document(document: Path) -> str:
    try:
        return document.read_text(encoding="utf-8-sig")[:MAX_DOCUMENT_CHARS]
    except (OSError, UnicodeDecodeError) as error:
        raise OrchestraError(f"cannot read {document}: {getattr(error, 'strerror', None) or error}") from None


async def draft(
    plan: Plan,
    agent_name: str,
    prompt: str,
    *,
    max_tasks: int,
    repair: int,
    env: Mapping[str, str],
    on_text: Callable[[str], None] = lambda _text: None,
    shape: Callable[[list[dict[str, Any]]], list[dict[str, Any]]] = lambda tasks: tasks,
    spend: Spend | None = None,
) -> Draft:
    """Ask ``agent_name`` (``prompt``) for tasks until they validate, at most ``1 + repair`` rounds; raise with the
    last problems. ``shape`` adjusts the extracted tasks first (``as_subtasks``). ``spend`` (the caller's, so that
    it is known even when no valid plan came) accumulates the rounds' tokens and cost.

    The answer's schema goes with the request, so an HTTP agent constrains the answer natively; a server that
    refuses the request with it (a client error before any text) is asked again without it, in the same round."""
    from ..agents.registry import agent_configs, build_agent

    configs = agent_configs(plan)
    if agent_name not in configs:
        raise OrchestraError(f"unknown agent {agent_name!r}; configured agents: {', '.join(sorted(configs))}")
    agent = build_agent(agent_name, configs[agent_name])
    spend = spend if spend is not None else Spend()
    problems: list[str] = []
    for round_number in range(1, repair + 2):
        answer = await _round(agent, plan, prompt, env, on_text, spend)
        try:
            tasks = shape(extract_tasks(answer)[:max_tasks])
            return Draft(tasks, candidate_plan(plan, tasks), round_number, spend)
        except PlanError as error:
            problems = error.problems
        except OrchestraError as error:
            problems = [str(error)]
        prompt = f"{prompt}\n\n# Your answer\n\n{answer}\n\n{repair_prompt(problems)}"
    raise OrchestraError(
        f"no valid plan after {repair + 1} round{'s' * (repair > 0)}: {problems[0]}"
        + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else "")
    )


class _Refused(Exception):
    """The server refused the request with the schema (a client error, nothing streamed)."""


async def _round(
    agent: Any, plan: Plan, prompt: str, env: Mapping[str, str], on_text: Callable[[str], None], spend: Spend
) -> str:
    if spend.structured:
        try:
            return await _ask(agent, plan, prompt, env, on_text, spend, task_schema())
        except _Refused:
            spend.structured = False
    return await _ask(agent, plan, prompt, env, on_text, spend, None)


async def _ask(
    agent: Any,
    plan: Plan,
    prompt: str,
    env: Mapping[str, str],
    on_text: Callable[[str], None],
    spend: Spend,
    schema: dict[str, Any] | None,
) -> str:
    """One request; its usage and cost go into ``spend`` however it ends."""
    from dataclasses import replace

    from ..agents.base import AgentRequest
    from ..agents.events import Failed, Finished, TextDelta, UsageUpdate
    from ..agents.pricing import FREE_TYPES, run_cost

    request = AgentRequest(
        run_id="plan",
        task=AgentTask(task_id="plan", title="Plan from a document"),
        prompt=prompt,
        cwd=plan.root,
        env=env,
        response_schema=schema,
    )
    parts: list[str] = []
    final: str | None = None
    usage = UsageUpdate()
    try:
        async for event in agent.run(request):
            if isinstance(event, TextDelta):
                parts.append(event.text)
                on_text(event.text)
            elif isinstance(event, UsageUpdate):
                usage = replace(
                    usage, **{name: value for name in _USAGE if (value := getattr(event, name)) is not None}
                )
            elif isinstance(event, Failed):
                if schema is not None and event.kind == "error" and not parts and "HTTP 4" in event.message:
                    raise _Refused(event.message)
                raise OrchestraError(f"agent {agent.name} failed: {event.message}")
            elif isinstance(event, Finished):
                final = event.text
    finally:
        config = agent.config
        spent = bool(parts) or any(getattr(usage, name) is not None for name in ("input_tokens", "output_tokens"))
        cost = run_cost(config.model, usage, config, plan.pricing) if spent else None
        spend.add(usage, cost, spent and config.type not in FREE_TYPES)
    return final if final is not None else "".join(parts)


_USAGE = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "cost_usd")
