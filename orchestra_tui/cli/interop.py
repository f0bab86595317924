"""``orchestra import taskmaster`` and ``orchestra export taskmaster`` (docs/ARCHITECTURE.md C12)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from ..errors import OrchestraError, PlanError
from .context import JsonOption, confirm, formatting, given_root, open_project, render

PLAN_FILE = "orchestra.toml"  # (plan.PLAN_FILE; not imported: `orchestra --help` loads no pydantic)

import_app = typer.Typer(help="Bring another tool's tasks into the project.", no_args_is_help=True)
export_app = typer.Typer(help="Write the project's tasks in another tool's format.", no_args_is_help=True)


@import_app.command("taskmaster")
def import_taskmaster(
    ctx: typer.Context,
    path: Annotated[
        Path, typer.Argument(help="A Taskmaster tasks.json (e.g. .taskmaster/tasks/tasks.json).", show_default=False)
    ],
    tag: Annotated[
        str | None,
        typer.Option("--tag", metavar="NAME", help="Import this tag.", show_default="master, else the first"),
    ] = None,
    all_tags: Annotated[
        bool, typer.Option("--all-tags", help="Import every tag (ids of tags but the first prefixed TAG:).")
    ] = False,
    merge: Annotated[
        bool, typer.Option("--merge", help="Add to the existing orchestra.toml (after showing what changes).")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="With --merge: do not ask for confirmation.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Import a Taskmaster tasks.json: tasks and subtasks into orchestra.toml, their statuses as one history entry."""
    from ..bulk import paused_gc
    from ..engine.plan_edit import merge_tasks, new_plan, write_plan
    from ..interop.taskmaster import MANAGED_KEYS, import_statuses, project_settings, read_taskmaster

    if tag is not None and all_tags:
        raise typer.BadParameter("--tag and --all-tags exclude each other", param_hint="--tag / --all-tags")
    root = Path(given_root(ctx))
    if not root.is_dir():
        raise OrchestraError(f"no such directory: {root}")
    with paused_gc():  # thousands of tasks read, converted and written: nothing for the cyclic collector to find
        imported = read_taskmaster(path, tag=tag, all_tags=all_tags)
    plan_path = root / PLAN_FILE
    say: Callable[[str], None] = (lambda line: typer.echo(line, err=True)) if as_json else typer.echo
    if len(imported.all_tags) > 1 and not all_tags:
        say(f"note: imported tag {imported.tags[0]} of {', '.join(imported.all_tags)} (--all-tags imports them all)")
    if merge:
        if not plan_path.is_file():
            raise OrchestraError(f"no {PLAN_FILE} in {root} to merge into; without --merge a new one is written")
        edit = merge_tasks(plan_path.read_text(encoding="utf-8-sig"), imported.tasks, managed=MANAGED_KEYS)
        say(
            f"{PLAN_FILE}: {len(edit.added)} tasks added, {len(edit.changed)} changed, {len(edit.unchanged)} unchanged"
            + (f" (changed: {formatting.id_list(edit.changed, 12)})" if edit.changed else "")
        )
        if edit.added or edit.changed:
            confirm(yes, "Write these changes?")
            write_plan(root, edit, replace=True)
    else:
        if plan_path.exists():
            raise OrchestraError(
                f"{plan_path} already exists: add --merge to add the imported tasks to it (nothing was written)"
            )
        header = (
            f"Imported from Taskmaster: {path}\n"
            "`orchestra validate` checks this file; `orchestra list` shows the tasks."
        )
        with paused_gc():
            edit = new_plan(project_settings(root, path), imported.tasks, header)
        write_plan(root, edit, replace=False)
    try:
        with open_project(ctx) as project, paused_gc():
            entry = import_statuses(project, imported)
    except PlanError:
        if not merge:  # the file written from nothing above did not load: take it back
            plan_path.unlink(missing_ok=True)
        raise
    summary = {**imported.summary(), "plan": str(plan_path), "entry": entry.id if entry is not None else None}
    if as_json:
        render.emit_json(summary)
        return
    for line in imported.report_lines():
        typer.echo(line)
    dropped, again = len(imported.dropped), len(imported.reinterpreted)
    typer.echo(
        f"imported {imported.top_level} tasks and {imported.subtasks} subtasks from {path} into {plan_path}: "
        f"{imported.dependencies} dependencies kept, {again} re-interpreted, {dropped} dropped"
        + (f"; statuses in entry {entry.id} (`orchestra undo` reverts them)" if entry is not None else "")
    )


@export_app.command("taskmaster")
def export_taskmaster(
    ctx: typer.Context,
    path: Annotated[
        str, typer.Argument(metavar="[PATH]", help="Where to write; - for stdout.")
    ] = ".taskmaster/tasks/tasks.json",
    force: Annotated[bool, typer.Option("--force", help="Replace an existing file.")] = False,
) -> None:
    """Write the tasks as a Taskmaster tasks.json (tagged layout; subtasks nested), readable by `task-master`."""
    from ..interop.taskmaster_export import export_taskmaster as build
    from ..store.fsio import atomic_write, describe_os_error

    with open_project(ctx, reading=True) as project:
        text = build(project.tasks[task_id] for task_id in project.graph.ids())
        count = len(project.tasks)
    if path == "-":
        typer.echo(text, nl=False)
        return
    target = Path(path) if Path(path).is_absolute() else project.root / path
    if target.is_symlink():
        raise OrchestraError(f"{target} is a symlink; nothing was written (give the real path)")
    if not Path(path).is_absolute() and not target.resolve().is_relative_to(project.root.resolve()):
        raise OrchestraError(f"{target} leads outside the project through a symlink; nothing was written")
    if target.exists() and not force:
        raise OrchestraError(f"{target} already exists: add --force to replace it (nothing was written)")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(target, text.encode("utf-8"), mode=0o666)  # a project file: the umask applies
    except OSError as error:
        raise OrchestraError(describe_os_error(error, target)) from None
    typer.echo(f"wrote {count} tasks to {target} (`task-master list` reads it)")
