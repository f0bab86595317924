"""``orchestra plan DOC`` and ``orchestra expand ID``: tasks from a document or a task, shown, then written on
confirmation."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from .context import JsonOption, close_clients, confirm, formatting, open_project, plan_dir, render


def plan_(
    ctx: typer.Context,
    document: Annotated[Path, typer.Argument(metavar="DOC", help="The requirements document (Markdown or text).")],
    agent: Annotated[
        str | None,
        typer.Option(
            "--agent",
            "-a",
            metavar="NAME",
            help="The LLM agent that plans.",
            show_default="the project's default_agent",
        ),
    ] = None,
    max_tasks: Annotated[int, typer.Option("--max-tasks", min=1, max=500, metavar="N", help="At most N tasks.")] = 30,
    repair: Annotated[
        int, typer.Option("--repair", min=0, max=10, metavar="N", help="Rounds to fix an invalid answer.")
    ] = 2,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Write without asking.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Ask an agent to turn a requirements document into tasks; they are validated (problems go back to the agent),
    shown, and added to orchestra.toml (comments kept) on confirmation."""
    from ..engine.planning import plan_prompt, read_document
    from ..plan import load_plan

    root = plan_dir(ctx)
    plan = load_plan(root)
    prompt = plan_prompt(read_document(document), document.name, [spec.task_id for spec in plan.tasks], max_tasks)
    _propose(ctx, plan, agent, prompt, max_tasks, repair, yes, as_json, what=f"plan from {document.name}")


def expand(
    ctx: typer.Context,
    task_id: Annotated[str, typer.Argument(metavar="ID", help="The task of orchestra.toml to split.")],
    into: Annotated[int, typer.Option("--into", min=2, max=50, metavar="N", help="At most N subtasks.")] = 5,
    agent: Annotated[
        str | None,
        typer.Option(
            "--agent",
            "-a",
            metavar="NAME",
            help="The LLM agent that splits it.",
            show_default="the project's default_agent",
        ),
    ] = None,
    repair: Annotated[
        int, typer.Option("--repair", min=0, max=10, metavar="N", help="Rounds to fix an invalid answer.")
    ] = 2,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Write without asking.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Ask an agent to split a task into subtasks (ID.1, ID.2, ...); the task then waits for all of them, and what
    depended on it keeps waiting for the whole. Validated, shown, and added to orchestra.toml on confirmation."""
    from ..engine.planning import as_subtasks, expand_prompt
    from ..errors import UnknownTaskError
    from ..plan import load_plan

    root = plan_dir(ctx)
    plan = load_plan(root)
    task = next((spec for spec in plan.tasks if spec.task_id == task_id), None)
    if task is None:
        raise UnknownTaskError(task_id, plan.task_ids)
    _propose(
        ctx,
        plan,
        agent,
        expand_prompt(task, into),
        into,
        repair,
        yes,
        as_json,
        what=f"expand {task_id}",
        shape=lambda tasks: as_subtasks(task_id, tasks),
    )


def _propose(
    ctx: typer.Context,
    plan: Any,
    agent: str | None,
    prompt: str,
    max_tasks: int,
    repair: int,
    yes: bool,
    as_json: bool,
    *,
    what: str,
    shape: Any = None,
) -> None:
    """Draft, record what it cost, show (or print as JSON), confirm and write."""
    import asyncio  # (here: every command's start-up imports this module, and asyncio is ~15 ms of it)

    from ..engine.plan_edit import write_plan
    from ..engine.planning import Spend

    root = plan.root
    name = agent or plan.project.default_agent
    streamed: list[str] = []

    def echo_text(text: str) -> None:
        if not as_json:
            streamed.append(text[-1:])
            sys.stderr.write(text)
            sys.stderr.flush()

    spend = Spend()
    try:
        result = asyncio.run(_draft(plan, name, prompt, max_tasks, repair, echo_text, shape, spend))
    finally:
        if streamed:
            typer.echo("", err=True)
        _record(ctx, what, name, spend)
    summary = _summary(plan, result)
    if as_json:
        write = yes
    else:
        _show(summary)
        write = bool(summary["added"] or summary["changed"])
        if write:
            confirm(yes, f"Write these {len(result.tasks)} tasks into orchestra.toml?")
    if write:
        write_plan(root, result.edit, replace=(root / "orchestra.toml").exists())
    if as_json:
        render.emit_json({**summary, "written": write})
    elif write:
        typer.echo(
            f"wrote {root / 'orchestra.toml'}: {len(summary['added'])} added, {len(summary['changed'])} changed "
            "(`orchestra validate` checks it; `git diff` shows it)"
        )


async def _draft(
    plan: Any, name: str, prompt: str, max_tasks: int, repair: int, on_text: Any, shape: Any, spend: Any
) -> Any:
    from ..engine.planning import draft

    try:
        return await draft(
            plan,
            name,
            prompt,
            max_tasks=max_tasks,
            repair=repair,
            env=os.environ,
            on_text=on_text,
            spend=spend,
            **({"shape": shape} if shape is not None else {}),
        )
    finally:
        await close_clients()


def _record(ctx: typer.Context, what: str, agent: str, spend: Any) -> None:
    """Planning's tokens and cost go into the history like a run's (before the plan file changes, so that `undo`
    after a written plan undoes the tasks, not this record)."""
    if not spend.requests:
        return
    from ..agents.pricing import format_cost

    tokens = formatting.tokens_line(spend.input_tokens, spend.output_tokens)
    cost = format_cost(spend.cost_usd) if spend.cost_usd is not None or spend.unpriced_rounds else "free"
    with open_project(ctx, actor="plan") as project:
        project.record_planning(f"{what} with {agent}: {tokens} tokens, {cost}", spend.figures())


def _summary(plan: Any, result: Any) -> dict[str, Any]:
    """The proposed tasks with the DAG's figures: count, total hours, critical path."""
    from ..graph import TaskGraph
    from ..models import AgentTask

    tasks = [AgentTask.model_validate({**spec.model_dump(), "status": "pending"}) for spec in plan.tasks]
    known = {task.task_id for task in tasks}
    for item in result.tasks:
        data = {key: value for key, value in item.items() if value is not None}
        data["task_id"] = str(data.pop("id", ""))
        if data["task_id"] not in known:
            tasks.append(AgentTask.model_validate(data))
    graph = TaskGraph.build(tasks)
    path, hours = graph.critical_path()
    proposed = {str(item.get("id")) for item in result.tasks}
    return {
        "tasks": [
            {
                "id": task.task_id,
                "title": task.title,
                "dependencies": task.dependencies,
                "hours": task.estimated_hours,
                "phase": task.phase.value,
                "priority": task.priority.value,
            }
            for task in tasks
            if task.task_id in proposed
        ],
        "added": result.edit.added,
        "changed": result.edit.changed,
        "rounds": result.rounds,
        "total_hours": sum(task.estimated_hours for task in tasks if task.task_id in proposed),
        "critical_path": path,
        "critical_path_hours": hours,
        "input_tokens": result.input_tokens,
        "output_tokens": result.output_tokens,
        "cost_usd": result.spend.cost_usd,
        "structured_output": result.spend.structured,
    }


def _show(summary: dict[str, Any]) -> None:
    for task in summary["tasks"]:
        deps = f" <- {', '.join(task['dependencies'])}" if task["dependencies"] else ""
        typer.echo(
            f"  {task['id']:<12} {formatting.hours(task['hours']):>5} h  {task['priority']:<8} {task['title']}{deps}"
        )
    rounds = summary["rounds"]
    typer.echo(
        f"{len(summary['tasks'])} tasks, {formatting.hours(summary['total_hours'])} h; critical path "
        f"{formatting.id_list(summary['critical_path'], 8)} ({formatting.hours(summary['critical_path_hours'])} h); "
        f"{len(summary['added'])} new, {len(summary['changed'])} changed"
        + (f"; valid after {rounds} rounds" if rounds > 1 else "")
    )
