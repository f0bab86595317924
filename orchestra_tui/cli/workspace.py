"""Worktree commands (issue 11): ``orchestra diff --task``'s body, ``worktrees``, ``gc`` and ``land``.

``land`` is the only command that changes the user's checkout; the others read it or change only what is
inside ``.orchestra/worktrees`` (never a branch). Text from a worktree (file names, a patch) is an agent's:
it passes through ``display.printable`` before it reaches the terminal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from .context import JsonOption, open_project, render

if TYPE_CHECKING:
    from ..engine.project import Project
    from ..engine.review import TaskDiff
    from ..workspace.worktrees import WorktreeInfo

SETTLED = ("completed", "cancelled")  # a worktree of a task in one of these is no longer needed


def print_diff(change: TaskDiff) -> None:
    """Files changed with +/-, then the patch; coloured on a terminal (Rich drops the styles when piped)."""
    from rich.text import Text

    from ..display import one_line, printable
    from ..formatting import patch_tone
    from ..statuses import TERMINAL_COLOURS

    styles = {"heading": "bold", **TERMINAL_COLOURS}  # a patch line's tone on a terminal

    out = render.console()
    diff = change.diff
    count = len(diff.files)
    out.print(
        Text(
            f"{change.task_id}: {count} file{'s' * (count != 1)} changed, +{diff.added} -{diff.deleted} "
            f"({change.base[:12]}..{change.head_label}, branch {one_line(change.branch)})"
        )
    )
    for file in diff.files:
        name = one_line(file.path if file.old_path is None else f"{file.old_path} -> {file.path}")
        line = Text("  ")
        if file.binary:
            line.append(f"{'binary':>13}", TERMINAL_COLOURS["secondary"])
        else:
            line.append(f"{'+' + str(file.added):>6}", TERMINAL_COLOURS["success"])
            line.append(f" {'-' + str(file.deleted):>6}", TERMINAL_COLOURS["error"])
        line.append(f"  {name}")
        out.print(line)
    if diff.patch:
        out.print()
    for raw in printable(diff.patch).splitlines():
        out.print(Text(raw, style=styles.get(patch_tone(raw) or "", "")), soft_wrap=True)


def worktrees(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """The tasks' git worktrees (.orchestra/worktrees), as git lists them, and any directory there git does not know."""
    from ..engine.integration import integration
    from ..workspace import worktrees as wt

    with open_project(ctx, reading=True) as project:
        infos = wt.listing(integration(project).git(), project.root)
        statuses = {info.task_id: _status(project, info.task_id) for info in infos}
        if as_json:
            render.emit_json([{**info.to_dict(), "status": statuses[info.task_id]} for info in infos])
            return
        if not infos:
            typer.echo("no worktrees")
            return
        _print_worktrees(infos, statuses)


def _print_worktrees(infos: list[WorktreeInfo], statuses: dict[str, str | None]) -> None:
    from rich import box
    from rich.table import Table

    from ..display import one_line

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for name in ("Task", "Status", "Branch", "Head", "State"):
        table.add_column(name, no_wrap=True, style="bold" if name == "Task" else None)
    for info in infos:
        head = (info.head or "-")[:12]
        table.add_row(one_line(info.task_id), statuses[info.task_id] or "-", info.branch or "-", head, _state(info))
    render.console().print(table)


def _status(project: Project, task_id: str) -> str | None:
    return str(project.status_of(task_id)) if task_id in project.tasks else None


def _state(info: WorktreeInfo) -> str:
    if not info.registered:
        return "orphan (not a git worktree)"
    return "ok" if info.exists else "missing (deleted by hand)"


def gc(
    ctx: typer.Context,
    dry_run: Annotated[bool, typer.Option("--dry-run", "-n", help="Only say what would be removed.")] = False,
) -> None:
    """Remove the worktrees no task needs: those of completed or cancelled tasks, orphans, and ones deleted by hand.
    Branches are never deleted; worktrees of tasks in progress, in review or failed stay."""
    from ..engine.integration import integration
    from ..workspace import worktrees as wt

    with open_project(ctx, reading=True) as project:
        keep = {task_id for task_id in project.tasks if str(project.status_of(task_id)) not in SETTLED}
        removed = wt.gc(integration(project).git(), project.root, keep, dry_run=dry_run)
        if not removed:
            typer.echo("no worktrees to remove")
            return
        verb = "would remove" if dry_run else "removed"
        typer.echo(f"{verb} {len(removed)} worktree{'s' * (len(removed) != 1)} (branches kept):")
        for info in removed:
            why = _status(project, info.task_id) if info.registered and info.exists else _state(info)
            typer.echo(f"  {info.task_id}  {why or 'no such task'}")


def land(
    ctx: typer.Context,
    merge: Annotated[
        bool, typer.Option("--merge", help="Make a merge commit when a fast-forward is not possible.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Bring the integration branch into your checked-out branch: a fast-forward (or a merge with --merge). The
    only command that changes your checkout; refused when your uncommitted changes touch files it would change."""
    from ..engine.integration import integration
    from ..workspace.land import land as land_branch

    with open_project(ctx, reading=True) as project:
        found = integration(project)
        done = land_branch(found.git(), found.branch(), merge=merge)
        if as_json:
            render.emit_json(done.to_dict())
        elif done.kind == "up-to-date":
            typer.echo(f"{done.branch} already has everything in {done.integration}")
        elif done.kind == "fast-forward":
            typer.echo(f"fast-forwarded {done.branch} to {done.new[:12]} ({done.integration})")
        else:
            typer.echo(f"merged {done.integration} into {done.branch} as {done.new[:12]}")
