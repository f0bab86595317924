"""The glue between the app and the engine, free of widgets: the open project, its bus and its launcher.

A ``Session`` opens the project as actor ``tui``, fails the tasks whose run died with the process that ran
it (as ``orchestra run`` does before it starts), hands the runs on Ray that lost their process while they
run on to a driver that takes them over (``Launcher.take_over``), and offers the actions the keys
call. Everything it does goes through ``Project`` and ``Launcher``; the app learns what happened only from
the bus, whose events :meth:`Session.forward` turns into the app's messages, one batch per frame: the
streamed text of each run joined into one ``RunOutputArrived``, every task touched in one ``ProjectChanged``.

``d``, ``a`` and the autopilot start detached drivers (engine/launcher.py), so quitting the app, a hang-up
or a closed terminal ends none of them; the app follows those runs exactly as it follows any other
process's: from their files (``RunWatcher``), and cancels them with ``cancel_run``. Only while agents are
registered from code in this process (the Python API) do runs go here, through the scheduler, as before.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from textual.message import Message

from ..agents.base import close_http_clients
from ..engine import transitions
from ..engine.bus import (
    Bus,
    Event,
    HistoryAppended,
    RunEnded,
    RunOutput,
    RunStarted,
    RunUsage,
    StateReloaded,
    TaskChanged,
)
from ..engine.integration import integration
from ..engine.launcher import Ended, Launcher
from ..engine.liveruns import Cancelled, LiveRun, RunWatcher, cancel_orphan, cancel_run, orphan_of, run_info
from ..engine.plan_edit import write_plan
from ..engine.plan_watch import PlanWatch
from ..engine.planning import Draft, Spend, draft, expand_prompt, plan_prompt, read_document
from ..engine.project import Project
from ..engine.review import TaskDiff, task_diff
from ..engine.runs import INTERRUPTED, RunIndex, RunSummary, new_run_id, recover_interrupted
from ..errors import OrchestraError, TransitionError
from ..models import AgentTask, TaskStatus
from ..plan import PLAN_FILE, load_plan
from ..store import Entry
from ..store.changes import Figures
from .messages import EngineEvent, ProjectChanged, RunOutputArrived

FRAME = 1 / 30  # seconds of events gathered into one batch of messages
MAX_PLANNED = 30  # tasks "Plan from document…" asks for at most (orchestra plan's default)
EXPAND_INTO = 5  # subtasks "Expand task" asks for at most (orchestra expand's default)


class HeaderFigures(Figures):
    """What the header shows: the progress figures, the tasks running, and the tokens and cost known so far."""

    running: int
    tokens: int | None
    cost_usd: float | None
    unpriced_runs: int


class Session:
    """One open project with its bus and launcher; ``env`` is what the runs started here see (default: ours)."""

    def __init__(self, project: Project, *, env: Mapping[str, str] | None = None) -> None:
        self.project = project
        self.bus = Bus()
        self.bus.watch(project)
        self.subscription = self.bus.subscribe()
        self.launcher = Launcher(project, bus=self.bus, env=env)
        self.scheduler = self.launcher.scheduler  # its refusals, parallel_max, the unusable tasks; jobs run here
        self.usage: dict[str, RunUsage] = {}  # runs going: their usage so far, until their task's totals have it
        self._ended: set[str] = set()  # runs of ``usage`` that ended (their totals committed, or being caught up with)
        self._notes_seen = 0
        with project.quietly():  # opening the app sends nothing (docs/ARCHITECTURE.md C13)
            self.recovered = recover_interrupted(project)
        self.taken_over = self.launcher.take_over()  # runs on Ray whose process died: a driver follows them again
        self.runs = RunIndex(project.root)
        self.plan_watch = PlanWatch(project, self.bus)
        # Every run, ours included (each in a driver process): one that begins and ends between two looks is
        # still shown, from its start, when it began after the app opened.
        self.watcher = RunWatcher(project.root, self.bus, since=new_run_id())

    @classmethod
    def open(
        cls,
        root: Path | str,
        *,
        lock_timeout: float = 30.0,
        on_lock_wait: Callable[[str], None] | None = None,
        **options: Any,
    ) -> Session:
        """The session on the project at ``root``. ``on_lock_wait`` hears, before the app has a screen, that opening
        waits for another process's lock (a change the opening makes: plan sync, interrupted runs)."""
        project = Project.open(root, actor="tui", repair=False, lock_timeout=lock_timeout, on_lock_wait=on_lock_wait)
        try:
            session = cls(project, **options)
        except BaseException:
            project.close()
            raise
        project.store.on_wait = None  # the app is drawn from here on: nothing may print under it
        return session

    # -- the event stream ----------------------------------------------------------------------------

    async def forward(self, post: Callable[[Message], object]) -> None:
        """Post the bus's events as messages, a frame's worth at a time, until the subscription closes."""
        while True:
            try:
                first = await self.subscription.get()
            except EOFError:
                return
            await asyncio.sleep(FRAME)
            for message in self.messages([first, *self.subscription.drain()]):
                post(message)

    def messages(self, events: Iterable[Event]) -> list[Message]:
        """One batch of events as messages: runs started, their text (one message per run), the other run
        events in order, then one ``ProjectChanged`` for every task touched (None: re-read everything)."""
        started: list[Message] = []
        texts: dict[str, tuple[str, list[str]]] = {}
        others: list[Message] = []
        changed: set[str] | None = set()
        history = False
        for event in events:
            if isinstance(event, RunOutput):
                texts.setdefault(event.run_id, (event.task_id, []))[1].append(event.text)
            elif isinstance(event, HistoryAppended):
                history = True
                if changed is not None:
                    changed.update(event.tasks)
            elif isinstance(event, StateReloaded):
                history, changed = True, None
            elif isinstance(event, RunStarted):
                started.append(EngineEvent(event))
            elif isinstance(event, TaskChanged):
                continue  # its entry's HistoryAppended names the task too
            else:
                if isinstance(event, RunUsage):
                    self.usage[event.run_id] = event
                elif isinstance(event, RunEnded):
                    self._run_ended(event)
                others.append(EngineEvent(event))
        outputs: list[Message] = [
            RunOutputArrived(run_id, task_id, "".join(parts)) for run_id, (task_id, parts) in texts.items()
        ]
        tail: list[Message] = [ProjectChanged(None if changed is None else frozenset(changed))] if history else []
        return started + outputs + others + tail

    def _run_ended(self, event: RunEnded) -> None:
        """A run's usage stays counted until the project shows its task's totals with it: at once for a run of this
        process, at the next catching up for another's. A run handed off (its totals committed, its task still in
        progress) or interrupted (nothing will be committed) is dropped at once."""
        if event.run_id not in self.usage:
            return
        if event.handoff or event.status == INTERRUPTED:
            del self.usage[event.run_id]
        else:
            self._ended.add(event.run_id)
            self._drop_committed()

    def _uncommitted(self, usage: RunUsage) -> bool:
        """Whether a run's usage is not in its task's totals (as this process knows them): its task is still in
        that run, or the project has not seen the run begin and the run is still going. Counting only these, a
        run's tokens are counted once, whether its end was caught up with before or after its last usage line."""
        task = self.project.tasks.get(usage.task_id)
        if task is not None and task.last_run_id == usage.run_id:
            return task.status == TaskStatus.IN_PROGRESS
        return usage.run_id not in self._ended

    def _drop_committed(self) -> None:
        for run_id in [run_id for run_id in self._ended if not self._uncommitted(self.usage[run_id])]:
            del self.usage[run_id]
            self._ended.discard(run_id)

    def refresh(self) -> bool:
        """Catch up with other processes and with the plan file (a stat of the journal and of the plan files
        when nothing changed); an edit of the plan is synced, a bad one published as ``PlanRejected``."""
        caught_up = self.project.refresh()
        self._drop_committed()
        self.scheduler.drop_superseded()  # a run of ours cancelled (or its task moved on) elsewhere stops here
        return self.plan_watch.check() or caught_up

    def watch_runs(self) -> None:
        """One look at the runs other processes own: their start, output (the text so far on first sight),
        retries and end are published on the bus like this process's own."""
        self.watcher.poll()

    def new_notes(self) -> list[str]:
        """The store's repairs and warnings not yet returned (damage found on open or while catching up)."""
        lines = self.project.store.notes()
        fresh, self._notes_seen = lines[self._notes_seen :], len(lines)
        return fresh

    # -- actions ---------------------------------------------------------------------------------------

    def running_here(self, task_id: str) -> bool:
        """Whether a run of the task started from this app is going (or about to begin)."""
        if task_id in self.launcher.pending() or task_id in self.scheduler.jobs:
            return True
        live = self._live_run(task_id)
        return live is not None and self.launcher.mine(live.owner_pid)

    def running(self) -> int:
        """The tasks running (or about to), whoever started them: what ``parallel_max`` counts."""
        return self.launcher.running()

    def dispatch(self, task_id: str) -> None:
        """Start the task's run now; refused (one line) unless it is ready and a slot is free under ``parallel_max``."""
        self.launcher.dispatch(task_id)

    def dispatch_ready(self) -> list[str]:
        """Start ready tasks in recommended order until ``parallel_max`` run; returns those started."""
        return self.launcher.dispatch_ready()

    @property
    def autopilot(self) -> bool:
        """Whether an autopilot is on, whichever face started it (as of the last :meth:`look_drivers`)."""
        return self.launcher.autopilot

    def autopilot_on(self) -> None:
        """The autopilot: a driver dispatching ready tasks up to ``parallel_max`` until none is ready."""
        self.launcher.autopilot_on()

    def autopilot_off(self) -> None:
        """Stop the dispatching only; the runs going carry on."""
        self.launcher.autopilot_off()

    def look_drivers(self) -> list[Ended]:
        """What ended since the last look (our drivers, the autopilots); the autopilots on now."""
        return self.launcher.look()

    def _refuse_live(self, task_id: str, verb: str) -> None:
        if self.running_here(task_id):
            raise TransitionError(f"cannot {verb} {task_id} while its run goes here; x stops the run")

    def complete(self, task_id: str) -> Entry:
        self._refuse_live(task_id, "complete")
        return self.project.complete(task_id)

    def check_fail(self, task_id: str) -> None:
        """Raise the one-line refusal ``fail`` would give, without changing anything (asked before the reason)."""
        self._refuse_live(task_id, "fail")
        task = self.project.task(task_id)
        transitions.fail({"task_id": task_id, "status": task.status.value}, "")

    def fail(self, task_id: str, reason: str) -> Entry:
        self._refuse_live(task_id, "fail")
        return self.project.fail(task_id, reason)

    def _live_run(self, task_id: str) -> LiveRun | None:
        task = self.project.tasks.get(task_id)
        if task is None or task.status != TaskStatus.IN_PROGRESS or not task.last_run_id:
            return None
        return run_info(self.project.root, task.last_run_id)

    def running_elsewhere(self, task_id: str) -> LiveRun | None:
        """The task's live run when it was not started from this app."""
        live = self._live_run(task_id)
        return None if live is None or self.launcher.mine(live.owner_pid) else live

    async def cancel(self, task_id: str) -> Entry | Cancelled:
        """Cancel the task. A live run of it, whoever started it (runs started here go in drivers of their own),
        is cancelled through the engine (``liveruns.cancel_run``: the task is cancelled, then the run's recorded
        process group stopped; its output is kept), in a thread with a project handle of its own, since it
        waits for the group."""
        if task_id in self.scheduler.jobs:  # a run in this process: stopped first, then the task cancelled
            await self.scheduler.cancel(task_id)
            return self.project.cancel(task_id)
        self.project.refresh()  # a run that began since the last look is cancelled as a run, not as a ready task
        live = self._live_run(task_id)
        orphan = None if live is not None else orphan_of(self.project, task_id)  # on Ray, its process gone
        if live is not None or orphan is not None:
            run_id = live.run_id if live is not None else None
            cancelled = await asyncio.to_thread(_cancel_elsewhere, self.project.root, run_id, orphan)
            self.refresh()
            return cancelled
        return self.project.cancel(task_id)

    def retry(self, task_id: str) -> Entry:
        return self.project.retry(task_id)

    async def task_diff(self, task_id: str) -> TaskDiff:
        """A worktree task's code changes against its base, read in a worker thread (git may take a while)."""
        integration(self.project).git()  # made here, on the loop's thread
        return await asyncio.to_thread(task_diff, self.project, task_id)

    def undo(self) -> Entry | None:
        return self.project.undo()

    def rollback(self, ref: str) -> Entry | None:
        return self.project.rollback(ref)

    def next_task(self) -> str | None:
        task = self.project.next_task()
        return None if task is None else task.task_id

    # -- figures and runs ------------------------------------------------------------------------------

    def figures(self) -> HeaderFigures:
        """The header's figures: the progress every entry carries, plus tokens and cost (runs going included)."""
        figures = self.project.store.progress.figures()
        tasks = self.project.tasks.values()
        live = [usage for usage in self.usage.values() if self._uncommitted(usage)]
        spenders: list[AgentTask | RunUsage] = [*tasks, *live]
        counts = [c for t in spenders for c in (t.input_tokens, t.output_tokens) if c is not None]
        costs = [t.cost_usd for t in spenders if t.cost_usd is not None]
        return {
            **figures,
            "running": figures["by_status"].get(TaskStatus.IN_PROGRESS, 0),
            "tokens": sum(counts) if counts else None,  # unknown, never a made-up 0
            "cost_usd": sum(costs) if costs else None,
            "unpriced_runs": sum(t.unpriced_runs for t in tasks)
            + sum(u.cost_usd is None and u.output_tokens is not None for u in live),
        }

    # -- the plan file -------------------------------------------------------------------------------

    def plan_location(self, task_id: str) -> tuple[Path, int]:
        """The plan file and the line of ``task_id``'s ``[[tasks]]`` header (``e`` opens it there)."""
        plan = self.project.plan
        if plan.path is None or plan.path.name != PLAN_FILE or task_id not in plan.task_ids:
            raise OrchestraError(f"{task_id} is not in {PLAN_FILE} (added through the API or MCP): nothing to edit")
        line = plan.line_of_task(task_id) or load_plan(self.project.root).line_of_task(task_id)
        return plan.path, line or 1

    async def propose(
        self, what: str, prompt: str, *, max_tasks: int, shape: Callable[[list[Any]], list[Any]] | None = None
    ) -> Draft:
        """Ask the project's default agent for tasks (``engine.planning.draft``: validated, repaired at most twice);
        what the requests cost goes into the history, as ``orchestra plan`` records it. Nothing is written."""
        plan = load_plan(self.project.root)
        agent = plan.project.default_agent
        spend = Spend()
        try:
            options: dict[str, Any] = {"shape": shape} if shape is not None else {}
            return await draft(
                plan, agent, prompt, max_tasks=max_tasks, repair=2, env=os.environ, spend=spend, **options
            )
        finally:
            if spend.requests:
                requests = f"{spend.requests} request{'s' * (spend.requests != 1)}"
                self.project.record_planning(f"{what} with {agent} ({requests}, from the TUI)", spend.figures())

    def plan_prompt(self, document: Path) -> str:
        plan = self.project.plan
        path = document if document.is_absolute() else self.project.root / document
        return plan_prompt(read_document(path), path.name, plan.task_ids, MAX_PLANNED)

    def expand_prompt(self, task_id: str) -> str:
        spec = next((spec for spec in self.project.plan.tasks if spec.task_id == task_id), None)
        if spec is None:
            raise OrchestraError(
                f"{task_id} is not in {PLAN_FILE} (added through the API or MCP): it cannot be expanded"
            )
        return expand_prompt(spec, EXPAND_INTO)

    def write_proposal(self, proposal: Draft) -> None:
        """Write the proposed tasks into orchestra.toml (its comments and order kept), then take the file up."""
        write_plan(self.project.root, proposal.edit, replace=(self.project.root / PLAN_FILE).exists())
        self.refresh()

    def runs_of(self, task_id: str) -> list[RunSummary]:
        """The task's runs, oldest first."""
        return self.runs.runs_of(task_id)

    # -- the end ---------------------------------------------------------------------------------------

    async def close(self) -> None:
        """Close the project; the runs going carry on in their drivers (``orchestra ps`` lists them). Runs in
        this process are cancelled (each task fails ``cancelled by user`` and keeps its output)."""
        try:
            await self.launcher.close()
            await close_http_clients()
        finally:
            self.watcher.close()
            self.subscription.close()
            self.project.close()


def _cancel_elsewhere(root: Path, run_id: str | None, orphan: tuple[str, str] | None) -> Cancelled:
    """``cancel_run`` of a live run (``cancel_orphan`` of a run on Ray whose process died) through a project
    opened for it (its commit and waits stay off the app's thread)."""
    with Project.open(root, actor="tui") as project:
        return cancel_orphan(project, *orphan) if orphan is not None else cancel_run(project, str(run_id))
