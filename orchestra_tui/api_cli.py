"""The seed's script flags over ``ProjectOrchestrator``: ``orchestrator.run_cli(argv)`` (argparse and print).

``--list --next --execute ID --complete ID --report --list-backups --rollback ID [--yes]``; the exit code is
0 done, 1 a user error (one line on stderr), 2 bad usage.
"""

from __future__ import annotations

import argparse
import inspect
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from .errors import OrchestraError

if TYPE_CHECKING:
    from .engine.project import Project
    from .engine.runner import RunResult
    from .models import AgentTask


class Orchestrator(Protocol):
    """What the flags use of ``api.ProjectOrchestrator`` (which imports this module, so it is not named here)."""

    @property
    def project(self) -> Project: ...
    def get_next_task(self) -> AgentTask | None: ...
    def complete_task(self, task_id: str) -> bool: ...
    def execute_task(self, task_id: str, *, on_text: Callable[[str], None]) -> RunResult: ...
    def print_report(self) -> None: ...
    def list_backups(self, limit: int | None) -> list[dict[str, Any]]: ...
    def rollback_to_backup(self, entry_id: str, confirm: bool) -> bool: ...


def run_cli(orchestrator: Orchestrator, argv: Sequence[str] | None = None) -> int:
    """Run one flag against ``orchestrator``; returns the exit code."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help, or a usage error argparse already printed
        return stop.code if isinstance(stop.code, int) else 2
    try:
        if args.list:
            _print_list(orchestrator)
        elif args.next:
            _print_next(orchestrator)
        elif args.execute:
            return _execute(orchestrator, args.execute)
        elif args.complete:
            orchestrator.complete_task(args.complete)
            print(f"{args.complete} completed.")
        elif args.report:
            orchestrator.print_report()
        elif args.list_backups:
            orchestrator.list_backups(None)
        elif args.rollback:
            return _rollback(orchestrator, args.rollback, args.yes)
        else:
            parser.print_help()
    except OrchestraError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    return 0


def _execute(orchestrator: Orchestrator, task_id: str) -> int:
    result = orchestrator.execute_task(task_id, on_text=lambda text: print(text, end="", flush=True))
    print()
    if not result.ok:
        print(f"error: {task_id} failed: {result.error}", file=sys.stderr)
        return 1
    print(f"{task_id} is {result.status}" + (": handed to a person" if result.handoff else "."))
    return 0


def _rollback(orchestrator: Orchestrator, ref: str, yes: bool) -> int:
    target = orchestrator.project.entry(ref).id  # resolved once: "-1" means another entry after the rollback
    if not yes and not sys.stdin.isatty():
        print(f"error: rollback to {target} needs confirmation: pass --yes", file=sys.stderr)
        return 1
    if not orchestrator.rollback_to_backup(target, confirm=yes):
        print("Rollback not done.", file=sys.stderr)
        return 1
    print(f"Rolled back to {target}; the rollback is itself a history entry, so it can be undone.")
    return 0


def _print_list(orchestrator: Orchestrator) -> None:
    project = orchestrator.project
    tasks = project.list_tasks()
    if not tasks:
        print("No tasks.")
        return
    width = max(len(task.task_id) for task in tasks)
    for task in tasks:
        status = project.status_of(task.task_id).value
        deps = f"  after {', '.join(task.dependencies)}" if task.dependencies else ""
        print(
            f"{task.task_id:<{width}}  {status:<11}  {task.priority.value:<8}  {task.phase.value:<11}  "
            f"{task.estimated_hours:>5g}h  {task.title}{deps}"
        )


def _print_next(orchestrator: Orchestrator) -> None:
    task = orchestrator.get_next_task()
    if task is None:
        print("No task is ready: every task is completed, running, or waiting on another.")
        return
    print(f"{task.task_id}: {task.title}")
    print(
        f"  priority {task.priority.value}, phase {task.phase.value}, {task.estimated_hours:g}h, "
        f"agent {orchestrator.project.agent_of(task)}"
    )
    if task.dependencies:
        print(f"  after: {', '.join(task.dependencies)}")
    if task.description.strip():
        print()
        print(inspect.cleandoc(task.description))
    for heading, items in (("Deliverables", task.deliverables), ("Success criteria", task.success_criteria)):
        if items:
            print(f"\n{heading}:")
            for item in items:
                print(f"  - {item}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Project orchestration (orchestra's seed-compatible script flags).")
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--list", action="store_true", help="list every task with its status")
    action.add_argument("--next", action="store_true", help="show the recommended next task")
    action.add_argument("--execute", metavar="TASK_ID", help="run the task's agent now, streaming its answer")
    action.add_argument("--complete", metavar="TASK_ID", help="mark a task completed")
    action.add_argument("--report", action="store_true", help="progress, hours and the critical path")
    action.add_argument("--list-backups", action="store_true", help="the history, newest first")
    action.add_argument("--rollback", metavar="ENTRY", help="restore the state of a history entry (asks unless --yes)")
    parser.add_argument("--yes", action="store_true", help="with --rollback: do not ask")
    return parser
