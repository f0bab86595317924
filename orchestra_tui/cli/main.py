"""The ``orchestra`` command (docs/ARCHITECTURE.md C5): every action scriptable, ``--json`` on the reads.

Exit codes: 0 success; 1 a user error, as one ``error: ...`` line on stderr (every ``OrchestraError`` is
caught in :class:`_Group`, so no traceback); 2 usage (typer/click); 130 interrupted. ``--json`` writes
exactly ``json.dumps(..., indent=2)`` to stdout and nothing else; notes go to stderr.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from collections.abc import Iterable
from contextlib import AbstractContextManager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

from ..enums import ProjectPhase, TaskPriority, TaskStatus
from ..errors import OrchestraError, PlanError
from ..version import __version__
from . import direct, handoff, help_text, interop, planning, safe, workspace
from .context import (
    JsonOption,
    close_clients,
    formatting,
    given_root,
    graph_export,
    json_shapes,
    open_project,
    plan_dir,
    progress,
    render,
)
from .opening import lock_timeout, note_waiting

if TYPE_CHECKING:  # the engine's runs import the agents (and httpx): only the commands that run things load them
    from ..agents.base import Usability
    from ..engine.driver import Driver
    from ..engine.project import Project
    from ..engine.runner import RunResult
    from ..engine.scheduler import Summary
    from ..engine.usable import AgentRow
    from ..models import AgentConfig
    from ..plan import Plan
    from .live import RunView


class _Group(TyperGroup):
    """Turns every user error into one line on stderr and exit code 1 (click handles usage errors: 2); labels
    options and arguments in ``--help`` the plain way (``help_text.py``)."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        help_text.plain(self)
        return super().main(*args, **kwargs)

    def invoke(self, ctx: Any) -> Any:  # typer's own (vendored) click Context
        try:
            return super().invoke(ctx)
        except OrchestraError as error:
            typer.echo(direct.error_line(error), err=True)
            raise typer.Exit(error.exit_code) from None


app = typer.Typer(
    cls=_Group,
    name="orchestra",
    help="Drive a multi-week, AI-assisted project: a plan of tasks with dependencies and a history you can roll back. "
    "`orchestra DIR` opens the live board on a project (piped: prints an overview); `orchestra init DIR` starts one.",
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class GraphFormat(StrEnum):
    MERMAID = "mermaid"
    DOT = "dot"


TaskId = Annotated[str, typer.Argument(help="Task id, e.g. DES-001.", show_default=False)]


# --------------------------------------------------------------------------------------- plumbing


def _ready(project: Project) -> set[str]:
    return set(project.graph.ready())


def _done(project: Project, message: str, ready_before: set[str]) -> None:
    from ..graph import natural_key

    newly = sorted(_ready(project) - ready_before, key=natural_key)
    typer.echo(message + (f"; now ready: {formatting.id_list(newly, 12)}" if newly else ""))


def _version(value: bool) -> None:
    if value:
        typer.echo(f"orchestra {__version__}")
        raise typer.Exit()


# --------------------------------------------------------------------------------------- commands


@app.callback(invoke_without_command=True)
def _main(
    ctx: typer.Context,
    project: Annotated[
        str,
        typer.Option(
            "--project",
            "-p",
            envvar="ORCHESTRA_PROJECT",
            metavar="DIR",
            help="Project directory (holding orchestra.toml).",
            show_default="current directory",
        ),
    ] = ".",
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
    theme: Annotated[
        str | None,
        typer.Option(
            "--theme", metavar="NAME", help="The app's theme (dark, light, nord, ...); remembered for next time."
        ),
    ] = None,
) -> None:
    """Without a command: open the app on the project (`orchestra DIR` works too); piped, print an overview."""
    safe.install()
    ctx.obj = project
    ctx.meta["orchestra.theme"] = theme
    if ctx.invoked_subcommand is None:
        _open(ctx)


def _open(ctx: typer.Context) -> None:
    """Open the app on the project (piped: print its overview)."""
    root = plan_dir(ctx)
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        with open_project(ctx, reading=True) as opened:
            render.print_overview(opened)
        return
    options = handoff.AppOptions(
        root, theme=ctx.find_root().meta.get("orchestra.theme"), lock_timeout=lock_timeout(), on_lock_wait=note_waiting
    )
    code = handoff.FACES.app()(options)
    if code:
        raise typer.Exit(code)
    _still_going(root)


def _still_going(root: Path) -> None:
    """Say, once the app is gone, that the runs it started (or saw) go on without it."""
    from ..engine.liveruns import live_runs

    going = len(live_runs(root))
    if going:
        typer.echo(
            f"{going} run{'s' * (going != 1)} still going in the background: `orchestra ps` lists them, "
            "`orchestra logs ID --follow` follows one, `orchestra cancel ID` stops one"
        )


def demo_source() -> Path:
    """The demo project shipped in the package (hatch ``force-include``), else a source checkout's
    ``sample_projects/demo``."""
    package = Path(__file__).resolve().parent.parent
    packaged = package / "demo"
    return packaged if packaged.is_dir() else package.parent / "sample_projects" / "demo"


@app.command()
def demo(
    ctx: typer.Context,
    directory: Annotated[
        str, typer.Argument(metavar="[DIR]", help="Where to put the demo (created; an existing one must be empty).")
    ] = "orchestra-demo",
) -> None:
    """Copy the demo project (ten tasks the offline shell agent runs, no API key needed) to DIR and open it."""
    from ..projectfiles import STATE_DIR

    target = Path(directory)
    if target.is_symlink() or (target.exists() and (not target.is_dir() or any(target.iterdir()))):
        raise OrchestraError(
            f"{directory} exists and is not an empty directory: name another, e.g. `orchestra demo my-demo`"
        )
    try:
        shutil.copytree(demo_source(), target, dirs_exist_ok=True, ignore=shutil.ignore_patterns(STATE_DIR, "build"))
    except OSError as error:
        raise OrchestraError(f"cannot copy the demo to {directory}: {error.strerror or error}") from None
    typer.echo(f"the demo is in {directory}; open it again with `orchestra {shlex.quote(directory)}`", err=True)
    ctx.find_root().obj = directory
    _open(ctx)


@app.command()
def init(
    ctx: typer.Context,
    directory: Annotated[
        str | None,
        typer.Argument(
            metavar="[DIR]",
            help="Where to write orchestra.toml (created if missing).",
            show_default="the project directory",
        ),
    ] = None,
) -> None:
    """Write a commented starter orchestra.toml (never over an existing one)."""
    from ..plan import PLAN_FILE, slug, starter_plan

    given = directory if directory is not None else given_root(ctx)
    target = Path(given)
    path = target / PLAN_FILE
    name = target.resolve().name
    project_id = slug(name)
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OrchestraError(f"cannot create {target}: {error.strerror or error}") from None
    try:
        with open(path, "x", encoding="utf-8") as handle:
            handle.write(starter_plan(project_id, name or project_id))
    except FileExistsError:
        raise OrchestraError(f"{path} already exists; nothing was written (`orchestra validate` checks it)") from None
    except OSError as error:
        raise OrchestraError(f"cannot write {path}: {error.strerror or error}") from None
    where = "" if given == "." else f"-p {shlex.quote(given)} "
    typer.echo(f"wrote {path} (project {project_id!r}); add your [[tasks]], then run `orchestra {where}validate`")


@app.command()
def validate(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Check the plan: exit 1 listing every problem, one per line."""
    from ..engine import usable
    from ..graph import TaskGraph
    from ..models import AgentTask
    from ..plan import load_plan

    root = plan_dir(ctx)
    try:
        plan = load_plan(root)
    except PlanError as error:
        if as_json:
            render.emit_json({"valid": False, "problems": error.problems})
        else:
            for problem in error.problems:
                typer.echo(problem, err=True)
        raise typer.Exit(1) from None
    graph = TaskGraph.build(AgentTask.model_validate(spec.model_dump()) for spec in plan.tasks)
    _, path_hours = graph.critical_path()
    phases = len({spec.phase for spec in plan.tasks})
    idle = usable.without_commands(plan)
    if as_json:
        render.emit_json(
            {
                "valid": True,
                "problems": [],
                "file": str(plan.path) if plan.path else None,
                "tasks": len(plan.tasks),
                "phases": phases,
                "agents": len(plan.agents),
                "critical_path_hours": path_hours,
                "missing_env": sorted(plan.missing_env),
                "shell_tasks_without_commands": idle,
            }
        )
        return
    for var in sorted(plan.missing_env):
        typer.echo(f"warning: ${{{var}}} is not set (used in {plan.path.name if plan.path else 'the plan'})", err=True)
    if idle:
        typer.echo(
            f"warning: {len(idle)} task{'s' * (len(idle) != 1)} run by the shell agent without commands cannot run: "
            f"{formatting.id_list(idle, 8)} (add `commands`, or give them another agent)",
            err=True,
        )
    counts = [
        f"{len(plan.tasks)} task{'s' * (len(plan.tasks) != 1)}",
        f"{phases} phase{'s' * (phases != 1)}",
        f"{len(plan.agents)} agent{'s' * (len(plan.agents) != 1)}",
        f"critical path {formatting.hours(path_hours)} h",
    ]
    typer.echo(f"OK {plan.path.name if plan.path else root}: {', '.join(counts)}")


@app.command("list")
def list_(
    ctx: typer.Context,
    status: Annotated[
        TaskStatus | None,
        typer.Option("--status", "-s", case_sensitive=False, help="Only this status; ready and blocked are derived."),
    ] = None,
    priority: Annotated[TaskPriority | None, typer.Option("--priority", case_sensitive=False)] = None,
    phase: Annotated[ProjectPhase | None, typer.Option("--phase", case_sensitive=False)] = None,
    as_json: JsonOption = False,
) -> None:
    """Tasks in dependency order, with their derived status."""
    with open_project(ctx, reading=True) as project:
        tasks = project.list_tasks(status=status, priority=priority, phase=phase)
        if as_json:
            render.emit_json([json_shapes.task_json(project, task) for task in tasks])
        elif tasks:
            render.print_tasks(project, tasks)
        else:
            typer.echo("no tasks" + (" match" if status or priority or phase else " in the plan"), err=True)


@app.command()
def show(ctx: typer.Context, task_id: TaskId, as_json: JsonOption = False) -> None:
    """One task in full: definition, status, what it waits on and what it unblocks."""
    with open_project(ctx, reading=True) as project:
        task = project.task(task_id)
        if as_json:
            render.emit_json(json_shapes.task_detail_json(project, task))
        else:
            render.print_task(project, task)


@app.command("next")
def next_(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """The recommended task to do next (JSON null when none is ready)."""
    with open_project(ctx, reading=True) as project:
        direct.show_next(project, as_json)


@app.command()
def start(ctx: typer.Context, task_id: TaskId) -> None:
    """Mark a ready task in progress (work done outside orchestra)."""
    with open_project(ctx) as project:
        entry = project.start(task_id)
        typer.echo(f"{task_id} started (entry {entry.id})")


@app.command()
def complete(ctx: typer.Context, task_id: TaskId) -> None:
    """Mark a task completed."""
    with open_project(ctx) as project:
        before = _ready(project)
        entry = project.complete(task_id)
        _done(project, f"{task_id} completed (entry {entry.id})", before)


@app.command()
def fail(
    ctx: typer.Context,
    task_id: TaskId,
    reason: Annotated[str, typer.Option("--reason", "-r", help="Why it failed (kept with the task).")],
) -> None:
    """Mark a task failed; its dependants stay blocked until it is retried."""
    with open_project(ctx) as project:
        entry = project.fail(task_id, reason)
        typer.echo(f"{task_id} failed (entry {entry.id}): {reason.strip() or 'failed'}")


@app.command()
def cancel(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(metavar="ID", help="Task id or run id.", show_default=False)],
) -> None:
    """Cancel a task; its dependants stay blocked until it is retried. A run of it going in any process is
    stopped (its process group ends; on Ray, its task too, also when the process that ran it died) and its
    output kept."""
    from ..engine.liveruns import RUN_ID, cancel_orphan, cancel_run, live_runs, orphan_of

    with open_project(ctx) as project:
        live = [run.run_id for run in live_runs(project.root) if ref in (run.run_id, run.task_id)]
        orphan = None if live else orphan_of(project, ref)
        if not live and orphan is None and RUN_ID.fullmatch(ref):
            raise OrchestraError(f"run {ref} is not running")
        if not live and orphan is None:
            entry = project.cancel(ref)
            typer.echo(f"{ref} cancelled (entry {entry.id})")
            return
        done = cancel_orphan(project, *orphan) if orphan is not None else cancel_run(project, live[-1])
        group = f" (process group {done.stopped})" if done.stopped else " (on its Ray worker)" if done.remote else ""
        how = "was stopped" if done.ended else "is being stopped"
        state = "cancelled" if done.committed else f"{project.status_of(done.task_id).value}"
        typer.echo(
            f"{done.task_id} {state}: its run {done.run_id} {how}{group}; output kept in "
            f"{_output_path(project, done.run_id)}"
        )


@app.command()
def ps(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """The runs going now, whichever process started them: task, agent, pid, start, elapsed, output, tokens and
    cost so far, owner, and where the agent runs (``local``, or a Ray run's node and worker pid)."""
    from datetime import UTC, datetime

    from ..agents.pricing import format_cost
    from ..engine.liveruns import live_runs

    now = datetime.now(UTC)
    rows = []
    for run in live_runs(plan_dir(ctx)):
        try:
            elapsed = round((now - datetime.fromisoformat(run.started)).total_seconds(), 1)
        except ValueError:
            elapsed = None
        rows.append({**run.to_dict(), "elapsed_seconds": elapsed})
    if as_json:
        render.emit_json(rows)
        return
    if not rows:
        typer.echo("no run is going")
        return
    table = [("TASK", "RUN", "AGENT", "PID", "STARTED", "ELAPSED", "OUTPUT", "TOKENS", "COST", "OWNER", "WHERE")]
    for row in rows:
        table.append(
            (
                row["task_id"],
                row["run_id"],
                row["agent"],
                "-" if row["pgid"] is None else str(row["pgid"]),
                formatting.local_time(row["started"]) if row["started"] else "?",
                "?" if row["elapsed_seconds"] is None else formatting.elapsed(row["elapsed_seconds"]),
                f"{row['output_bytes']:,} B",
                "-" if row["input_tokens"] is None and row["output_tokens"] is None else _in_out(row),
                "-" if row["cost_usd"] is None else format_cost(row["cost_usd"]),
                f"{row['owner_pid'] or '?'}@{row['owner_host'] or '?'}",
                row["where"],
            )
        )
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
    for line in table:
        typer.echo("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())


def _in_out(row: dict[str, Any]) -> str:
    """A run's tokens in ``ps``'s table: ``1,234/56`` (in/out; ``?`` for a count not reported)."""
    return "/".join("?" if row[name] is None else f"{row[name]:,}" for name in ("input_tokens", "output_tokens"))


@app.command()
def logs(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(metavar="ID", help="Task id (its live or last run) or run id.")],
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing as the run writes, until it ends.")
    ] = False,
) -> None:
    """A run's output, from whichever process runs it (with --follow, as it is written; a task's run about to
    start in the background is waited for)."""
    import asyncio

    from ..engine.liveruns import RUN_ID, find_run, next_run

    try:
        with open_project(ctx, reading=True) as project:
            coming = next_run(project, ref) if follow and not RUN_ID.fullmatch(ref) else None
            run_id = coming or find_run(project, ref)
            root = project.root
        asyncio.run(_print_output(root, run_id, follow))
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


async def _print_output(root: Path, run_id: str, follow: bool) -> None:
    import codecs

    from ..engine.liveruns import OutputTail
    from ..engine.liveruns import follow as following

    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    last = "\n"

    def show(data: bytes) -> None:
        nonlocal last
        text = decoder.decode(data)
        if text:
            sys.stdout.write(text)
            sys.stdout.flush()
            last = text[-1]

    if follow:
        async for chunk in following(root, run_id):
            show(chunk)
    else:
        with OutputTail(root, run_id) as tail:
            while data := tail.read():
                show(data)
    text = decoder.decode(b"", True)
    if text:
        sys.stdout.write(text)
        last = text[-1]
    if last != "\n" and sys.stdout.isatty():
        sys.stdout.write("\n")
    sys.stdout.flush()


@app.command()
def retry(
    ctx: typer.Context,
    task_id: TaskId,
    downstream: Annotated[
        bool, typer.Option("--downstream", help="Also reopen failed, cancelled and review tasks after it.")
    ] = False,
) -> None:
    """Reopen a failed, cancelled or review task."""
    with open_project(ctx) as project:
        before = _ready(project)
        entry = project.retry(task_id, downstream=downstream)
        others = [other for other in entry.extra.get("tasks", []) if other != task_id]
        also = f" with {formatting.id_list(others, 12)}" if others else ""
        _done(project, f"{task_id} reopened{also} (entry {entry.id})", before)


@app.command()
def execute(
    ctx: typer.Context,
    task_id: TaskId,
    agent: Annotated[
        str | None, typer.Option("--agent", "-a", metavar="NAME", help="Run it with this agent instead of its own.")
    ] = None,
) -> None:
    """Run one ready task now, streaming the agent's answer to stdout; it ends in review (completed with
    auto_complete) or failed. The whole output stays under .orchestra/runs/. A run whose task moved on while it
    went (failed, retried or undone from elsewhere) ends "superseded", records nothing, and exits 1."""
    import asyncio

    from ..engine.runner import CANCELLED, SUPERSEDED
    from . import live

    with open_project(ctx) as project:
        _recovered(project, take_over=True)
        try:
            result = asyncio.run(_execute(project, task_id, agent))
        except KeyboardInterrupt:
            task = project.tasks.get(task_id)
            if task is not None and task.status == TaskStatus.FAILED and task.last_error == CANCELLED:
                typer.echo(
                    f"{task_id} failed: {CANCELLED}; its output is kept in {_output_path(project, task.last_run_id)}",
                    err=True,
                )
            else:
                typer.echo(f"interrupted before {task_id} started", err=True)
            raise typer.Exit(130) from None
        if result.status == SUPERSEDED:
            typer.echo(
                f"error: run superseded: {result.error} (output: {_output_path(project, result.run_id)})", err=True
            )
            raise typer.Exit(1)
        if not result.ok:
            typer.echo(
                f"error: {task_id} failed: {result.error} (output: {_output_path(project, result.run_id)})", err=True
            )
            raise typer.Exit(1)
        if result.handoff:
            typer.echo(
                f"{task_id} is yours now (in progress): `orchestra complete {task_id}` when it is done", err=True
            )
        elif result.status == TaskStatus.REVIEW:
            typer.echo(
                f"{task_id} is ready for review ({live.usage_line(result)}): `orchestra complete {task_id}` accepts it",
                err=True,
            )
        else:
            typer.echo(f"{task_id} {result.status} ({live.usage_line(result)})", err=True)


async def _execute(project: Project, task_id: str, agent: str | None) -> RunResult:
    import asyncio

    from ..engine.runner import Runner
    from . import live

    runner = Runner(project)
    subscription = runner.bus.subscribe()
    printer = asyncio.create_task(live.stream_text(subscription))
    try:
        with _pidfd_child_watcher():
            run = runner.begin(task_id, agent)
            typer.echo(f"{task_id} started with agent {run.agent_name} (run {run.run_id})", err=True)
            return await runner.finish(run)
    finally:
        subscription.close()
        await printer
        await close_clients()


@app.command("run")
def run_(
    ctx: typer.Context,
    parallel: Annotated[
        int | None,
        typer.Option(
            "--parallel",
            "-j",
            min=1,
            max=256,
            metavar="N",
            help="Tasks running at once.",
            show_default="the plan's parallel_max",
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option("--until", metavar="ID", help="Stop once this task is done: run only it and the tasks it needs."),
    ] = None,
    detach: Annotated[
        bool, typer.Option("--detach", "-d", help="Start the runs in the background and return at once.")
    ] = False,
) -> None:
    """Dispatch ready tasks to their agents until nothing is ready, at most N at once, with live progress.
    The runs go on in a process of their own: closing the terminal or killing this command leaves them going
    (`orchestra ps` lists them). Ctrl-C asks whether to stop them (the default; without a terminal to ask on,
    they are stopped): they fail with "cancelled by user" and keep their output."""
    import asyncio

    from ..engine.driver import start_driver
    from . import live

    with open_project(ctx, actor="scheduler") as project:
        _recovered(project)
        scope: Iterable[str] = project.tasks
        if until is not None:
            project.task(until)  # an unknown id is a one-line error
            scope = project.graph.ancestors(until) | {until}
        total = sum(project.tasks[task_id].status == TaskStatus.PENDING for task_id in scope)
        driver = start_driver(project.root, parallel=parallel, until=until)
        if detach:
            typer.echo(
                f"started in the background (driver {driver.driver_id}, pid {driver.pid}): `orchestra ps` lists the "
                "runs, `orchestra logs ID --follow` follows one, `orchestra cancel ID` stops one"
            )
            return
        view = live.RunView(project, total)
        try:
            asyncio.run(_follow_driver(project, driver, view))
        except KeyboardInterrupt:
            _interrupted(driver)
        project.refresh()
        _run_summary(project, driver.result(), until)


async def _follow_driver(project: Project, driver: Driver, view: RunView) -> None:
    """Show the driver's runs (read from their files, as any process can) until it has exited."""
    import asyncio

    from ..engine.bus import Bus
    from ..engine.liveruns import POLL, RunWatcher

    bus = Bus()
    subscription = bus.subscribe()
    watcher = RunWatcher(project.root, bus, since=driver.driver_id)
    shower = asyncio.create_task(view.follow(subscription))
    try:
        while driver.alive():
            watcher.poll()
            await asyncio.sleep(POLL)
        watcher.poll()
    finally:
        watcher.close()
        subscription.close()
        await shower


def _interrupted(driver: Driver) -> None:
    """Ctrl-C while following: stop the runs (the default, and without a terminal to ask on) or leave them."""
    from ..engine.runner import CANCELLED

    stop = True
    if sys.stdin.isatty():
        try:
            answer = input("\nStop the runs going? [Y/n] (n leaves them going in the background) ")
        except (EOFError, KeyboardInterrupt):
            answer = ""
        stop = answer.strip().lower() not in ("n", "no")
    if not stop:
        typer.echo(
            f"left going in the background (pid {driver.pid}): `orchestra ps` lists the runs, "
            "`orchestra logs ID --follow` follows one, `orchestra cancel ID` stops one",
            err=True,
        )
        raise typer.Exit(130)
    try:
        driver.stop(cancel_runs=True)
        driver.wait(DRIVER_STOP_WAIT)
    except KeyboardInterrupt:
        pass
    summary = driver.summary() or {}
    cancelled = summary.get("cancelled") or []
    what = (
        f"{formatting.id_list(cancelled, 12)} failed: {CANCELLED}, output kept" if cancelled else "nothing was running"
    )
    typer.echo(f"interrupted: {what}" + ("; `orchestra retry ID` reopens a task" if cancelled else ""), err=True)
    raise typer.Exit(130)


DRIVER_STOP_WAIT = 60.0  # seconds Ctrl-C waits for the stopped runs to record their end


def _run_summary(project: Project, summary: Summary, until: str | None) -> None:
    from ..engine.next_step import next_line
    from ..engine.runner import SUPERSEDED

    for task_id, reason in sorted(summary.unusable.items()):
        typer.echo(f"not started: {task_id}: {reason}", err=True)
    if not summary.results:
        typer.echo("nothing to run: " + next_line(project).removeprefix("no task is ready: "))
        return
    by_status: dict[str, int] = {}
    for result in summary.results:
        key = "handed off" if result.handoff else result.status
        by_status[key] = by_status.get(key, 0) + 1
    counts = ", ".join(f"{count} {status.replace('_', ' ')}" for status, count in sorted(by_status.items()))
    typer.echo(f"ran {len(summary.results)} task{'s' * (len(summary.results) != 1)}: {counts}")
    if until is not None:
        status = project.status_of(until).value
        waiting = ", ".join(f"{dep} ({project.status_of(dep).value})" for dep in project.graph.waiting_on(until)[:5])
        done = status in (TaskStatus.REVIEW, TaskStatus.COMPLETED)
        typer.echo(
            f"{until} is {formatting.status_phrase(status)}"
            + ("" if done else ", not done")
            + (f": it waits on {waiting}" if waiting and not done else "")
        )
    if by_status.get(TaskStatus.REVIEW):
        typer.echo("`orchestra list --status review` shows what waits for you; `orchestra complete ID` accepts a task")
    for result in summary.results:
        if result.status == SUPERSEDED:
            typer.echo(f"run superseded: {result.error}", err=True)
    failed = summary.failed
    if failed:
        typer.echo(
            f"error: {len(failed)} task{'s' * (len(failed) != 1)} failed: "
            f"{formatting.id_list([r.task_id for r in failed], 8)} "
            "(`orchestra list --status failed`; `orchestra retry ID` reopens one)",
            err=True,
        )
        raise typer.Exit(1)


def _recovered(project: Project, *, take_over: bool = False) -> None:
    """Fail the tasks whose run died (docs/ARCHITECTURE.md C2), saying so on stderr. ``take_over``: a run on Ray
    whose process died while it runs on is handed to a driver (``run``'s own driver takes them over)."""
    from ..engine.runs import recover_interrupted

    for task_id in recover_interrupted(project):
        typer.echo(
            f"{task_id} was interrupted (its run ended with the process running it): marked failed; "
            f"`orchestra retry {task_id}` reopens it",
            err=True,
        )
    if take_over:
        from ..engine.launcher import take_over as hand_over

        driver = hand_over(project)
        if driver is not None:
            ids = formatting.id_list(driver.options["only"], 8)
            typer.echo(f"{ids}: run on Ray lost its process, followed again by a driver (pid {driver.pid})", err=True)


def _output_path(project: Project, run_id: str | None) -> str:
    from ..engine.runs import OUTPUT_FILE, run_dir

    path = run_dir(project.root, run_id or "?") / OUTPUT_FILE
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _pidfd_child_watcher() -> AbstractContextManager[None]:
    from ..engine.loop import pidfd_child_watcher

    return pidfd_child_watcher()


@app.command()
def report(
    ctx: typer.Context,
    as_json: JsonOption = False,
    markdown: Annotated[bool, typer.Option("--markdown", help="Print Markdown, for pasting into documents.")] = False,
) -> None:
    """Progress, hours, critical path, cost and what is blocked."""
    if as_json and markdown:
        raise typer.BadParameter("--json and --markdown exclude each other", param_hint="--json / --markdown")
    with open_project(ctx, reading=True) as project:
        data = project.report()
        if as_json:
            render.emit_json(data)
        elif markdown:
            typer.echo(progress.report_markdown(data))
        else:
            progress.print_report(data)


@app.command()
def backups(
    ctx: typer.Context,
    as_json: JsonOption = False,
    limit: Annotated[int | None, typer.Option("--limit", "-n", min=1, help="Only the newest N entries.")] = None,
) -> None:
    """The history, newest first: every entry can be rolled back to."""
    with open_project(ctx, reading=True) as project:
        entries = project.history()[::-1][:limit]
        if as_json:
            render.emit_json([entry.as_dict() for entry in entries])
        elif entries:
            render.print_history(entries)
        else:
            typer.echo("no history yet", err=True)


# `-1` (an entry before the last) is an argument, not an unknown option (click's documented switch for this).
ENTRY_ARGS = {"ignore_unknown_options": True}


@app.command(context_settings=ENTRY_ARGS)
def rollback(
    ctx: typer.Context,
    entry_ref: Annotated[
        str, typer.Argument(metavar="ENTRY", help="Entry id (00000042), number (42) or -N (N before the last).")
    ],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Restore the tasks' progress to what it was after ENTRY (a new entry: `orchestra undo` reverts it)."""
    from ..display import one_line
    from ..engine.integration import integration

    with open_project(ctx) as project:
        target = project.entry(entry_ref)
        changes = project.rollback_changes(target.seq)
        if not changes:
            typer.echo(f"nothing to roll back: the state already matches entry {target.id}")
            return
        typer.echo(
            f"rolling back to {target.id} ({formatting.local_time(target.time)}, {target.summary}) "
            f"changes {len(changes)} task{'s' * (len(changes) != 1)}:"
        )
        lines = formatting.change_lines(changes)
        for line in lines[:8]:
            typer.echo(f"  {line}")
        if len(lines) > 8:
            typer.echo(f"  ... and {len(lines) - 8} more (`orchestra diff {project.store.seq} {target.id}` shows all)")
        for line in integration(project).preview(changes):
            typer.echo(f"  {one_line(line)}")
        if not yes:
            if not sys.stdin.isatty():
                raise OrchestraError("refusing to roll back without confirmation: add --yes")
            try:  # input(), not typer.confirm: ctrl-c must stay a KeyboardInterrupt (exit 130), not click's Abort
                answer = input("Roll back? [y/N] ")
            except EOFError:
                answer = ""
            if answer.strip().lower() not in ("y", "yes"):
                typer.echo("nothing was changed", err=True)
                raise typer.Exit(1)
        entry = project.rollback(target.seq)
        if entry is None:
            typer.echo(f"nothing to roll back: the state already matches entry {target.id}")
            return
        typer.echo(f"{entry.summary} (entry {entry.id}); `orchestra undo` reverts it")


@app.command()
def repair(ctx: typer.Context) -> None:
    """Repair what the read-only commands reported: set damaged files and foreign symlinks aside in
    .orchestra/damaged/ and rebuild the state from the history (every command that changes state does this too)."""
    with open_project(ctx) as project:
        if not project.store.repairs:
            typer.echo(
                "nothing to repair" + ("" if not project.store.warnings else " (the warnings above are not damage)")
            )


@app.command()
def undo(ctx: typer.Context) -> None:
    """Undo the last change (run it again to go further back)."""
    with open_project(ctx) as project:
        entry = project.undo()
        if entry is None:
            typer.echo("nothing to undo")
            return
        undone = project.entry(entry.extra["undoes"])
        typer.echo(
            f"undid {undone.id} ({undone.summary}) as entry {entry.id}; `orchestra rollback {undone.id}` redoes it"
        )


@app.command(context_settings=ENTRY_ARGS)
def diff(
    ctx: typer.Context,
    entry_a: Annotated[str | None, typer.Argument(metavar="[ENTRY]", help="The older entry.")] = None,
    entry_b: Annotated[str | None, typer.Argument(metavar="[ENTRY2]", help="The newer entry (default: now).")] = None,
    task_id: Annotated[
        str | None,
        typer.Option("--task", "-t", metavar="ID", help="A worktree task's code changes against its base instead."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """What changed between two history entries, or between an entry and now; with --task ID, the task's code
    changes against its base (files changed with +/-, then the patch)."""
    if task_id is not None:
        if entry_a is not None:
            raise typer.BadParameter("give history entries or --task ID, not both")
        from ..engine.review import task_diff

        with open_project(ctx, reading=True) as project:
            change = task_diff(project, task_id)
            if as_json:
                render.emit_json(change.to_dict())
            else:
                workspace.print_diff(change)
        return
    if entry_a is None:
        raise typer.BadParameter("give a history entry (ENTRY) or --task ID")
    with open_project(ctx, reading=True) as project:
        a = project.entry(entry_a)
        b = project.entry(entry_b) if entry_b is not None else None
        changes = project.diff(a.seq, None if b is None else b.seq)
        if as_json:
            render.emit_json(changes)
            return
        span = f"{a.id} -> {b.id if b is not None else 'now'}"
        if not changes:
            typer.echo(f"{span}: no differences")
            return
        typer.echo(f"{span}: {len(changes)} change{'s' * (len(changes) != 1)}")
        for line in formatting.change_lines(changes):
            typer.echo(line)


@app.command()
def graph(
    ctx: typer.Context,
    fmt: Annotated[GraphFormat, typer.Option("--format", "-f", case_sensitive=False)] = GraphFormat.MERMAID,
) -> None:
    """The dependency graph for documents: status colours, the critical path marked."""
    with open_project(ctx, reading=True) as project:
        typer.echo(graph_export.mermaid(project) if fmt is GraphFormat.MERMAID else graph_export.dot(project))


@app.command(
    help="Configured agents and whether each is usable: key present, command found, endpoint answering "
    "(keys are never shown)."
)
def agents(
    ctx: typer.Context,
    as_json: JsonOption = False,
    offline: Annotated[
        bool, typer.Option("--offline", help="Do not contact the endpoints; judge from the settings only.")
    ] = False,
) -> None:
    import asyncio

    from ..engine.usable import agent_rows
    from ..plan import load_plan

    plan = load_plan(plan_dir(ctx))
    rows = agent_rows(plan, os.environ)
    if not offline:
        _merge_checks(rows, asyncio.run(_check_agents(plan)))
    if as_json:
        render.emit_json(rows)
    else:
        render.print_agents(rows)


AGENT_CHECK_SECONDS = 5.0  # all agents are checked at once; together they get this long


async def _check_agents(plan: Plan) -> dict[str, Usability | None]:
    """Each agent's own ``check`` (key, command, endpoint), concurrently; None for one that did not answer in time."""
    import asyncio

    from ..agents.base import Usability
    from ..agents.registry import agent_configs, placed_agent

    async def check(name: str, config: AgentConfig) -> Usability:
        try:  # where the agent runs: a Ray agent's check is the cluster's
            return await placed_agent(name, config, plan).check(os.environ)
        except OrchestraError as error:
            return Usability(False, str(error))
        except Exception as error:  # a bug in one agent's check must not hide the others
            return Usability(False, f"check failed: {type(error).__name__}: {error}")

    configs = agent_configs(plan)
    jobs = {name: asyncio.create_task(check(name, config)) for name, config in configs.items()}
    try:
        await asyncio.wait(jobs.values(), timeout=AGENT_CHECK_SECONDS)
    finally:
        for job in jobs.values():
            job.cancel()
        await asyncio.gather(*jobs.values(), return_exceptions=True)
        await close_clients()
    return {name: job.result() if not job.cancelled() else None for name, job in jobs.items()}


def _merge_checks(rows: list[AgentRow], checks: dict[str, Usability | None]) -> None:
    """Add what each agent's check found to its row; a problem seen offline already explains a failed check."""
    for row in rows:
        if row["name"] not in checks:
            continue
        usability = checks[row["name"]]
        if usability is None:
            row["problems"].append(f"no answer within {AGENT_CHECK_SECONDS:g} s")
        elif not usability.usable and not row["problems"]:
            row["problems"].append(usability.reason)
        row["check"] = None if usability is None else usability.reason
        if row["endpoint_checked"] is False:
            row["endpoint_checked"] = usability is None or usability.checked
        row["usable"] = not row["problems"]


@app.command()
def schema() -> None:
    """The JSON Schema of orchestra.toml (for editors)."""
    from ..plan import plan_schema

    render.emit_json(plan_schema())


@app.command("import-state")
def import_state(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="A project_state.json of the seed framework (format 1 or 2).")],
) -> None:
    """Import the task progress of a seed framework state file (one history entry)."""
    from ..engine.seed_import import import_seed_state

    with open_project(ctx) as project:
        try:
            entry = import_seed_state(project, file)
        except PlanError as error:  # about the file, so `orchestra validate` would not list them
            raise OrchestraError(str(error)) from None
        if entry is None:
            typer.echo(f"nothing to import: the state already matches {file}")
        else:
            typer.echo(f"{entry.summary} (entry {entry.id}); `orchestra undo` reverts it")


@app.command("mcp")
def mcp_(
    ctx: typer.Context,
    project: Annotated[
        str | None,
        typer.Option("--project", "-p", metavar="DIR", help="Project directory.", show_default="the global --project"),
    ] = None,
) -> None:
    """Serve the project to coding agents over MCP (stdio): next_task, start/complete/fail_task, add_tasks, report...
    Register it with `claude mcp add orchestra -- orchestra mcp -p DIR`."""
    if project is not None:
        ctx.find_root().obj = project
    handoff.FACES.mcp()(plan_dir(ctx))


# The commands of the modules beside this one, after this module's own (``--help`` lists them in this order).
app.command("plan")(planning.plan_)
app.command("expand")(planning.expand)
app.command()(workspace.worktrees)
app.command()(workspace.gc)
app.command()(workspace.land)
app.add_typer(interop.import_app, name="import")
app.add_typer(interop.export_app, name="export")

# ------------------------------------------------------------------------------------------ entry


def main(argv: list[str] | None = None) -> None:
    """Console-script entry. ``orchestra DIR [...]`` means ``orchestra --project DIR [...]`` when DIR is a
    directory and no command, or a directory holding a plan (``orchestra demo`` opens ./demo if it is a project)."""
    args = list(sys.argv[1:] if argv is None else argv)
    command = typer.main.get_command(app)
    if (
        args
        and not args[0].startswith("-")
        and os.path.isdir(args[0])
        and (args[0] not in getattr(command, "commands", {}) or os.path.isfile(os.path.join(args[0], "orchestra.toml")))
    ):
        args = ["--project", args[0], *args[1:]]
    command.main(args=args, prog_name="orchestra")
