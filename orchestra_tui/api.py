"""The seed framework's Python API over the engine: ``ProjectOrchestrator`` (its ``run_cli`` is ``api_cli.py``).

A user's own script (the seed's ``project_orchestrator.py``) keeps working with one changed import::

    from orchestra_tui import ProjectOrchestrator, AgentTask, TaskPriority, ProjectPhase, TaskStatus

This is a face, but one that lives in the user's script, so it stays dependency-light: print, and argparse in
``api_cli.py``.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .api_loop import forwarding, run_blocking
from .engine.project import Project
from .errors import OrchestraError, TransitionError
from .models import DEFINITION_FIELDS, RUNTIME_FIELDS, AgentTask, ProjectPhase, TaskPriority, TaskSpec, TaskStatus

__all__ = [
    "AgentRegistry",
    "AgentTask",
    "ProjectOrchestrator",
    "ProjectPhase",
    "RunResult",
    "TaskPriority",
    "TaskStatus",
]

if TYPE_CHECKING:
    from .agents.registry import AgentRegistry, RegisteredAgent
    from .engine.report import Report
    from .engine.runner import RunResult


def __getattr__(name: str) -> Any:
    # Lazy: the agents bring httpx, which a script that never runs an agent should not pay for.
    if name == "AgentRegistry":
        from .agents.registry import AgentRegistry

        return AgentRegistry
    if name == "RunResult":
        from .engine.runner import RunResult

        return RunResult
    raise AttributeError(f"module 'orchestra_tui.api' has no attribute {name!r}")


log = logging.getLogger(__name__)


class _TaskView(Mapping[str, AgentTask]):
    """Read-only id -> AgentTask; each task handed out is a copy, so editing it cannot skew the engine's view."""

    def __init__(self, tasks: Mapping[str, AgentTask]) -> None:
        self._tasks = tasks

    def __getitem__(self, task_id: str) -> AgentTask:
        return self._tasks[task_id].model_copy(deep=True)

    def __contains__(self, task_id: object) -> bool:
        return task_id in self._tasks

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._tasks))

    def __len__(self) -> int:
        return len(self._tasks)


class ProjectOrchestrator:
    """The seed's orchestrator, backed by orchestra's durable engine (actor ``api``).

    Every change is one durable history entry the moment the call returns. Reads answer from the state as
    of this object's last change or ``refresh()``; call ``refresh()`` to see what other processes did.

    Errors: an unknown task id raises ``UnknownTaskError``; a change the task's state does not allow
    (completing a task whose dependencies are not completed, starting a failed task, adding an id that
    exists, removing a task others depend on) raises ``TransitionError``; dependencies that are unknown or
    form a cycle raise ``PlanError``; an unknown history entry raises ``UnknownEntryError``. All are
    ``OrchestraError`` subclasses whose ``str()`` is one line saying why, and nothing is written when one
    is raised. ``get_task`` alone answers ``None`` for an unknown id, as the seed did.
    """

    def __init__(
        self, project_root: str | Path = ".", project_id: str = "", state_file: str | Path | None = None
    ) -> None:
        """``project_id`` names a project that has no plan file (the plan's ``[project] id`` wins otherwise).

        ``state_file`` is accepted for the seed's signature only: orchestra keeps its state in
        ``PROJECT/.orchestra/``; bring an old seed state in with ``orchestra import-state FILE``.
        """
        if state_file is not None:
            log.warning(
                "state_file=%s is not used: the state lives in .orchestra/ (import an old file with `orchestra "
                "import-state`)",
                state_file,
            )
        self._project = Project.open(project_root, actor="api")
        if project_id and self._project.plan.path is None:
            plan = self._project.plan
            self._project.plan = dataclasses.replace(plan, project=plan.project.model_copy(update={"id": project_id}))
        self._close = weakref.finalize(self, self._project.close)  # flushes the snapshot even if never closed

    # -- plumbing -------------------------------------------------------------------------------------

    @property
    def project(self) -> Project:
        return self._project

    @property
    def project_root(self) -> Path:
        return self._project.root

    @property
    def project_id(self) -> str:
        return self._project.plan.project.id

    @property
    def tasks(self) -> Mapping[str, AgentTask]:
        return _TaskView(self._project.tasks)

    def refresh(self) -> bool:
        """Pick up changes other processes made; True when there were any."""
        return self._project.refresh()

    def close(self) -> None:
        self._close()

    def __enter__(self) -> ProjectOrchestrator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- tasks ----------------------------------------------------------------------------------------

    def add_task(self, task: AgentTask | TaskSpec) -> bool:
        """Add one task (kept in the state, not written into orchestra.toml)."""
        return self._project.add_tasks([task]) is not None

    def add_tasks(self, tasks: Iterable[AgentTask | TaskSpec]) -> int:
        """Add several tasks as one history entry; returns how many were added."""
        tasks = list(tasks)
        return len(tasks) if tasks and self._project.add_tasks(tasks) is not None else 0

    def get_task(self, task_id: str) -> AgentTask | None:
        task = self._project.tasks.get(task_id)
        return None if task is None else task.model_copy(deep=True)

    def update_task(self, task: AgentTask | TaskSpec | str, /, **fields: Any) -> bool:
        """Change definition fields: ``update_task(task)`` or ``update_task("TASK-001", notes="...")``.

        Status changes have their own methods; a task whose status (or other runtime field) was edited is
        refused rather than silently half-applied. True when something changed.
        """
        if isinstance(task, str):
            return self._project.update_task(task, fields) is not None
        if fields:
            raise TypeError("update_task(task) takes no keyword fields; use update_task(task_id, **fields)")
        current = self._project.task(task.task_id)
        edited = [
            name
            for name in RUNTIME_FIELDS
            if name in task.model_fields_set and getattr(task, name) != getattr(current, name, None)
        ]
        if edited:
            raise TransitionError(
                f"cannot update {task.task_id}: update_task changes definition fields, not {', '.join(edited)}; "
                "use start_task, complete_task, fail_task or cancel_task"
            )
        definition = task.model_dump(include=set(DEFINITION_FIELDS) - {"task_id"})
        return self._project.update_task(task.task_id, definition) is not None

    def remove_task(self, task_id: str) -> bool:
        self._project.remove_task(task_id)
        return True

    def get_next_task(
        self, priority: TaskPriority | str | None = None, phase: ProjectPhase | str | None = None
    ) -> AgentTask | None:
        """The recommended ready task: highest priority, then longest remaining critical path, then id."""
        task = self._project.next_task(priority=priority, phase=phase)
        return None if task is None else task.model_copy(deep=True)

    def get_ready_tasks(self, max_count: int | None = None) -> list[AgentTask]:
        return [task.model_copy(deep=True) for task in self._project.ready_tasks(max_count=max_count)]

    def start_task(self, task_id: str) -> bool:
        self._project.start(task_id)
        return True

    def complete_task(self, task_id: str, output_files: list[str] | None = None, notes: str = "") -> bool:
        """Complete a task (its dependencies must be completed); the seed's ``output_files`` and ``notes`` are kept."""
        self._project.complete(task_id, output_files=output_files, notes=notes or None)
        return True

    def fail_task(self, task_id: str, reason: str = "", *, error: str | None = None) -> bool:
        """Mark a task failed; ``reason`` (the seed's ``error``) is kept as its last error."""
        self._project.fail(task_id, error if error is not None else reason)
        return True

    def cancel_task(self, task_id: str) -> bool:
        self._project.cancel(task_id)
        return True

    def generate_report(self) -> Report:
        """The seed's report keys, plus ready/review counts, the critical path, blockers, hours and cost."""
        return self._project.report()

    # -- running agents -------------------------------------------------------------------------------

    @cached_property
    def registry(self) -> AgentRegistry:
        """The agents ``execute_task`` can use: the plan's ``[agents.*]``, the built-in ``shell`` and
        ``interactive``, and any added with the seed's ``registry.register_agent(...)``. Assignable."""
        from .agents.registry import AgentRegistry

        return AgentRegistry(self._project.plan)

    def agent(self, name: str, task_id: str = "") -> RegisteredAgent:
        """The enabled agent ``name`` runs as: registered from code (in ``registry`` or anywhere in this process),
        else the plan's or a built-in. Raises ``OrchestraError`` (one line) for an unknown or disabled one."""
        from .agents.registry import process_agents, resolve_agent

        entry = resolve_agent(name, self.registry)
        if entry is None:
            known = ", ".join(sorted({*self.registry.agents, *process_agents()})) or "none"
            raise OrchestraError(f"unknown agent {name!r}{f' for {task_id}' if task_id else ''}; agents: {known}")
        if not entry.enabled:
            raise OrchestraError(f"agent {name!r} is disabled; registry.enable_agent({name!r}) enables it")
        return entry

    def execute_task(
        self, task_id: str, agent: str | None = None, *, on_text: Callable[[str], None] | None = None
    ) -> RunResult:
        """Run the task's agent to completion now (the seed's Quick Start) and return its result.

        The task must be ready; it ends in ``review`` (``completed`` with ``auto_complete``) or ``failed``, or
        stays in progress when handed to a person (``result.handoff``). ``on_text`` gets the answer as it
        streams. For code already inside an event loop, ``await execute_task_async(...)`` instead.
        """
        return run_blocking(
            lambda: self.execute_task_async(task_id, agent, on_text=on_text),
            "execute_task",
            "orchestrator.execute_task_async",
        )

    async def execute_task_async(
        self, task_id: str, agent: str | None = None, *, on_text: Callable[[str], None] | None = None
    ) -> RunResult:
        """``execute_task`` for code inside an event loop. Agents talking HTTP share one client per event loop;
        ``await orchestra_tui.agents.close_http_client()`` before the loop ends."""
        from .engine.runner import Runner
        from .engine.runs import recover_interrupted

        project = self._project
        recover_interrupted(project)
        name = agent or project.agent_of(project.task(task_id))
        runner = Runner(project, agents={name: self.agent(name, task_id).build()})
        async with forwarding(runner.bus, None if on_text is None else lambda _task_id, text: on_text(text)):
            return await runner.execute(task_id, name)

    # -- history --------------------------------------------------------------------------------------

    def list_backups(self, limit: int | None = 10, *, show: bool = True) -> list[dict[str, Any]]:
        """The history, newest first: every entry is a point the project can be rolled back to.

        Prints the listing as the seed did (``show=False`` to only get the list); ``limit=None`` for all.
        """
        backups = self._backups(limit)
        if show:
            self._print_backups(backups)
        return backups

    def _backups(self, limit: int | None) -> list[dict[str, Any]]:
        entries = self._project.history()[::-1]
        if limit is not None:
            entries = entries[:limit]
        return [
            {
                "id": entry.id,
                "timestamp": entry.time,
                "tasks": entry.progress.get("total_tasks", 0),
                "completion_percentage": entry.progress.get("completion_percentage", 0.0),
                "actor": entry.actor,
                "action": entry.action,
                "summary": entry.summary,
            }
            for entry in entries
        ]

    def rollback_to_backup(self, entry_id: str | int, confirm: bool = False) -> bool:
        """Restore the tasks' progress to right after entry ``entry_id``, as a new (undoable) entry.

        Without ``confirm=True`` the user is asked on stdin when it is a terminal; otherwise nothing is done
        and False is returned (with a logged warning saying why). Never rolls back silently.
        """
        entry = self._project.entry(entry_id)
        if not confirm:
            if not sys.stdin.isatty():
                log.warning(
                    "rollback to %s not done: stdin is not a terminal to confirm it; pass confirm=True", entry.id
                )
                return False
            answer = input(f"Roll back to {entry.id} ({entry.time}, {entry.summary})? [y/N] ")
            if answer.strip().lower() not in ("y", "yes"):
                log.warning("rollback to %s not done: not confirmed", entry.id)
                return False
        self._project.rollback(entry.id)
        return True

    # -- the seed's script flags ----------------------------------------------------------------------

    def run_cli(self, argv: Sequence[str] | None = None) -> int:
        """The seed's script flags (``--list --next --execute ID --complete ID --report --list-backups --rollback ID``).

        Returns the exit code: 0 done, 1 a user error (one line on stderr), 2 bad usage (``api_cli.py``).
        """
        from .api_cli import run_cli

        return run_cli(self, argv)

    def print_report(self) -> None:
        """The report as text on stdout (the seed's ``print_report``)."""
        r = self.generate_report()
        print(f"Project {r['project_id']}: {r['completion_percentage']}% complete")
        print(
            f"  tasks: {r['total_tasks']} total, {r['completed_tasks']} completed, {r['in_progress_tasks']} in "
            "progress, "
            f"{r['review_tasks']} in review, {r['pending_tasks']} pending ({r['ready_tasks']} ready, "
            f"{r['blocked_tasks']} blocked), "
            f"{r['failed_tasks']} failed, {r['cancelled_tasks']} cancelled"
        )
        print(
            f"  hours: {r['estimated_total_hours']:g} estimated, {r['estimated_remaining_hours']:g} remaining, "
            f"{r['actual_hours']:g} spent"
        )
        if r["critical_path"]:
            print(f"  critical path: {' -> '.join(r['critical_path'])} ({r['critical_path_hours']:g}h)")
        for task_id, blockers in r["blocked_by"].items():
            print(f"  {task_id} is held up by {', '.join(blockers)}")
        print(f"  next task: {r['next_task'] or 'none ready'}")

    @staticmethod
    def _print_backups(backups: list[dict[str, Any]]) -> None:
        if not backups:
            print("No history yet.")
            return
        for b in backups:
            tasks = f"{b['tasks']} task{'' if b['tasks'] == 1 else 's'}"
            print(
                f"{b['id']}  {b['timestamp']}  {tasks:>10}  {b['completion_percentage']:>5}%  {b['actor']:<9}  "
                f"{b['summary']}"
            )
