"""The asyncio scheduler behind ``orchestra run`` and the TUI's dispatch keys (docs/ARCHITECTURE.md C2, C5).

It keeps at most ``parallel`` runs going, starting ready tasks in next-task order (priority, then the
longest remaining critical path, then id) the moment a slot is free, so a task finishing unblocks its
dependants at once. A run's slot frees when its agent is done: its outcome commits (``Runner.end_async``, a
group commit) together with the start of the next task. ``run()`` returns when nothing is ready and nothing
runs. Cancelling it (Ctrl-C) cancels every run: each task fails with ``cancelled by user`` and keeps its output.

Before each round of dispatch it catches up with changes other processes made (a person completing a task
in review from another terminal unblocks its dependants here too). A task that cannot start because
another process started it first is skipped; so is one with a run still live elsewhere (a run that outlived
a `fail`/`retry`/`undo` of its task), which ``run()`` then leaves alone until it returns (the TUI's ``a`` tries
again on its next press); one whose agent cannot be found fails with that reason. A task its
agent cannot run (``usable.why_not``: a key not set, a shell task without commands) is never started:
``dispatch`` refuses it with the reason, ``fill`` and ``run`` leave it ready and say why (``unusable``).

While runs go, ``run`` looks at the journal every :data:`WATCH` seconds: a job whose task moved on elsewhere
(cancelled by ``orchestra cancel`` or another face, failed, retried, undone, rolled back) is stopped
(:meth:`Scheduler.drop_superseded`) and not started again by that ``run``. :meth:`Scheduler.hold` stops
dispatching (the autopilot switched off; the driver's SIGUSR1): the runs going finish, then ``run`` returns.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..agents.base import Agent
from ..errors import OrchestraError, RunBusyError, TransitionError
from ..models import TaskStatus
from . import usable
from .bus import Bus, EngineError
from .project import Project
from .runner import CANCELLED, Run, Runner, RunResult
from .runs import reattachable, recover_interrupted

WATCH = 0.2  # seconds between two looks at the journal while runs go (a run cancelled elsewhere stops then)


@dataclass
class Summary:
    """What one ``Scheduler.run`` did."""

    results: list[RunResult] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)  # failed "cancelled by user"
    interrupted: list[str] = field(default_factory=list)  # found dead at the start and failed "interrupted"
    skipped: list[str] = field(default_factory=list)  # started by another process first
    unusable: dict[str, str] = field(default_factory=dict)  # task id -> why it was not started (``usable.why_not``)

    @property
    def failed(self) -> list[RunResult]:
        return [result for result in self.results if result.status == TaskStatus.FAILED]


class Scheduler:
    """Dispatches the ready tasks of one open project. ``parallel`` defaults to the plan's ``parallel_max``;
    ``agents``, ``bus`` and ``env`` are the :class:`Runner`'s. The TUI calls :meth:`dispatch` (one task,
    its key ``d``), :meth:`fill` (``a``) and :meth:`cancel` (``x``); ``orchestra run`` awaits :meth:`run`."""

    def __init__(
        self,
        project: Project,
        *,
        agents: Mapping[str, Agent] | None = None,
        bus: Bus | None = None,
        env: Mapping[str, str] | None = None,
        parallel: int | None = None,
        runner: Runner | None = None,
    ) -> None:
        self.project = project
        self.runner = runner if runner is not None else Runner(project, agents=agents, bus=bus, env=env)
        self.bus = self.runner.bus
        self.parallel = max(1, parallel if parallel is not None else project.plan.project.parallel_max)
        self.jobs: dict[str, asyncio.Task[RunResult | None]] = {}  # task id -> its job, from dispatch to end
        self.runs: dict[str, Run] = {}  # the jobs whose run has begun
        self.summary: Summary | None = None  # of the current or last ``run()``, also when it was cancelled
        self._skipped: set[str] = set()  # tasks that could not start (for the summary)
        self.unusable: dict[str, str] = {}  # ready tasks the last ``fill`` left out, and why
        self.checks = agents is None and runner is None  # the plan's own agents: checked before a start
        self._busy: set[str] = set()  # ready tasks refused because a run of them is live elsewhere
        self._dropped: set[str] = set()  # jobs cancelled because their task moved on elsewhere
        self.holding = False  # set by ``hold``: nothing more is dispatched
        self.runner.on_ending = self._ending
        self._wake: asyncio.Future[None] | None = None  # the driving loop's: set when a slot frees

    # -- dispatching ----------------------------------------------------------------------------------

    def next_ready(self, allowed: set[str] | None = None) -> str | None:
        """The ready task to start next (in next-task order), among ``allowed`` when given."""
        candidates = self.candidates(1, allowed)
        return candidates[0] if candidates else None

    def candidates(self, count: int, allowed: set[str] | None = None) -> list[str]:
        """The next ``count`` ready tasks to start, in next-task order (among ``allowed`` when given)."""
        graph = self.project.graph
        # A job's task stays ready until its run has begun. Tasks that could not start are not excluded: after
        # the refresh in ``fill`` they are no longer ready (another process runs them, or they failed).
        excluded = self.jobs.keys() | self._busy
        if count == 1 and allowed is None and not excluded:
            task_id = graph.next_task()
            if task_id is None or self.cannot_run(task_id) is None:
                return [] if task_id is None else [task_id]
        while True:  # tasks found unusable on the way are left out: look further until enough or all seen
            known = len(self.unusable)
            limit = None if allowed is not None else count + len(excluded) + known
            found = [
                t
                for t in graph.ready(max_count=limit)
                if t not in excluded and (allowed is None or t in allowed) and self.cannot_run(t) is None
            ]
            if len(found) >= count or limit is None or len(self.unusable) == known:
                return found[:count]

    def cannot_run(self, task_id: str, agent: str | None = None) -> str | None:
        """Why the task cannot run with its agent now, found without starting it (``usable.why_not``); noted in
        ``unusable``. None also for an agent that cannot be found (starting it fails the task with that reason),
        and with agents given in place of the plan's or registered from code (tests, the Python API): their
        rules are their own."""
        if not self.checks or self._registered(task_id, agent):
            return None
        reason = usable.why_not_in_plan(self.project, task_id, self.runner.env, agent)
        if reason is not None:
            self.unusable[task_id] = reason
        return reason

    def dispatch(self, task_id: str, agent: str | None = None) -> asyncio.Task[RunResult | None]:
        """Start a job for one task, refused with a one-line error unless it is ready (as this process last saw
        it) and a slot is free. The job resolves to the run's result, or None when the task could not start
        after all (another process started it first, or its agent is unknown: then the task fails with that reason)."""
        self.check(task_id, agent)
        return self._launch(task_id, agent)

    def check(self, task_id: str, agent: str | None = None, running: int | None = None) -> None:
        """The one-line refusal :meth:`dispatch` gives, if any: not ready, already running, no slot free with
        ``running`` tasks going (default: this scheduler's jobs that hold a slot), or its agent cannot run it."""
        status = self.project.status_of(task_id)
        running = self._active() if running is None else running
        if task_id in self.jobs:
            raise TransitionError(f"{task_id} is already running")
        if status != TaskStatus.READY:
            waiting = self.project.graph.waiting_on(task_id)
            why = f", waiting on {', '.join(waiting[:5])}" if waiting else ""
            if status in (TaskStatus.FAILED, TaskStatus.CANCELLED):
                why = "; r retries it"
            raise TransitionError(f"cannot dispatch {task_id}: it is {status.value}{why}")
        if running >= self.parallel:
            raise OrchestraError(
                f"{running} tasks are running, the plan's parallel_max; {task_id} can start when one ends"
            )
        reason = self.cannot_run(task_id, agent)
        if reason is not None:
            raise OrchestraError(f"cannot dispatch {task_id}: {reason}")

    def _launch(self, task_id: str, agent: str | None = None, resume: bool = False) -> asyncio.Task[RunResult | None]:
        """Start the task's job; ``resume``: take over its run on Ray that lost its process (it runs on)."""
        job = asyncio.create_task(self._job(task_id, agent, resume), name=f"run {task_id}")
        self.jobs[task_id] = job
        job.add_done_callback(lambda done: self._forget(task_id, done))
        return job

    async def _job(self, task_id: str, agent: str | None, resume: bool = False) -> RunResult | None:
        try:
            run = self.runner.reopen(task_id) if resume else await self.runner.begin_async(task_id, agent)
        except RunBusyError:
            self._skipped.add(task_id)
            self._busy.add(task_id)
            return None
        except TransitionError:
            self._skipped.add(task_id)
            return None
        except OrchestraError as error:
            self._skipped.add(task_id)
            self.bus.publish(EngineError(str(error), task_id))
            self.project.fail(task_id, str(error))
            return None
        self.runs[task_id] = run
        try:
            return await self.runner.finish(run)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if task_id in self._dropped and current is not None and current.uncancel() == 0:
                return None  # its task moved on (cancelled from another face...): the run ended, recording nothing
            raise
        finally:
            self._dropped.discard(task_id)

    def _registered(self, task_id: str, agent: str | None) -> bool:
        """Whether an agent registered from code in this process answers for the task (it wins over the plan's;
        a disabled one refuses the task itself, with its own reason)."""
        from ..agents.registry import process_agent

        return process_agent(agent or self.project.agent_of(self.project.task(task_id))) is not None

    def _forget(self, task_id: str, job: asyncio.Task[RunResult | None]) -> None:
        if self.jobs.get(task_id) is job:
            del self.jobs[task_id]
            self.runs.pop(task_id, None)

    def fill(self, allowed: set[str] | None = None) -> list[str]:
        """Dispatch ready tasks until ``parallel`` jobs run or none is ready; returns the ids dispatched."""
        self._busy.clear()
        return self._fill(allowed)

    def drop_superseded(self) -> list[str]:
        """Stop the jobs whose task moved on since their run began (cancelled, failed, retried, undone or rolled
        back, from any process): call after ``project.refresh()``. Each run ends recording nothing (the task's
        state stands; a run cancelled by ``cancel_run`` ends ``cancelled``). Returns their task ids."""
        dropped = []
        for task_id, run in list(self.runs.items()):
            task = self.project.tasks.get(task_id)
            current = None if task is None else (task.status, task.last_run_id, task.attempts)
            job = self.jobs.get(task_id)
            if run.ending or current == (TaskStatus.IN_PROGRESS, run.run_id, run.attempt) or job is None or job.done():
                continue  # a run committing its outcome: moved on by its own hand (or its commit finds out)
            if task_id not in self._dropped:
                self._dropped.add(task_id)
                self._busy.add(task_id)  # not started again by this ``run`` (a rollback made it ready again)
                job.cancel()
                dropped.append(task_id)
        return dropped

    def hold(self) -> None:
        """Dispatch nothing more (the autopilot switched off): the runs going finish, then ``run`` returns."""
        self.holding = True

    def _active(self) -> int:
        """The jobs that hold a slot: all but those whose agent is done (their outcome is being committed, and
        the next start goes out in the same group as that commit)."""
        return len(self.jobs) - sum(1 for task_id, run in self.runs.items() if run.ending and task_id in self.jobs)

    def _ending(self, _run: Run) -> None:
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(None)

    def _fill(self, allowed: set[str] | None) -> list[str]:
        self.project.refresh()
        self.drop_superseded()
        if self.holding:
            return []
        self.unusable = {}
        free = self.parallel - self._active()
        started = self.candidates(free, allowed) if free > 0 else []
        for task_id in started:
            self._launch(task_id)
        return started

    # -- the headless loop ----------------------------------------------------------------------------

    async def run(self, until: str | None = None, only: set[str] | None = None) -> Summary:
        """Dispatch until nothing is ready and nothing runs. ``until``: only that task and what it needs;
        ``only``: only these tasks. Cancelling it cancels every run (each task fails ``cancelled by user``)."""
        summary = self.summary = Summary(interrupted=recover_interrupted(self.project))
        for task_id in reattachable(self.project):
            self._launch(task_id, resume=True)
        allowed = None
        if until is not None:
            self.project.task(until)  # an unknown id is a one-line error
            allowed = self.project.graph.ancestors(until) | {until}
        if only is not None:
            allowed = only if allowed is None else allowed & only
        try:
            await self.drive(allowed, summary)
        except BaseException:
            summary.cancelled = await self.cancel_all(summary.results)
            raise
        return summary

    async def drive(self, allowed: set[str] | None = None, summary: Summary | None = None) -> Summary:
        """The driving loop ``run`` and the TUI's autopilot share: dispatch ready tasks (among ``allowed``) up to
        ``parallel`` whenever a slot is free, until nothing is ready and no job of this scheduler runs.

        Cancelling it only stops the dispatching: the runs going carry on (``run`` cancels them itself). Jobs
        started meanwhile by :meth:`dispatch` or :meth:`fill` are waited for too."""
        summary = summary if summary is not None else Summary()
        self._skipped, self._busy = set(), set()
        try:
            while True:
                self._fill(allowed)
                summary.unusable.update(self.unusable)
                if not self.jobs:
                    break
                self._wake = asyncio.get_running_loop().create_future()
                waiting: list[asyncio.Future[Any]] = [*self.jobs.values(), self._wake]
                done, _pending = await asyncio.wait(waiting, timeout=WATCH, return_when=asyncio.FIRST_COMPLETED)
                for job in done:
                    if job is self._wake:
                        continue
                    result = None if job.cancelled() else job.result()
                    for task_id, known in list(self.jobs.items()):  # its done callback may not have run yet
                        if known is job:
                            self._forget(task_id, job)
                    if result is not None:
                        summary.results.append(result)
                        self._busy.clear()  # a run that ended may have freed what a busy task waited for (a worktree)
        finally:
            summary.skipped = sorted(self._skipped)
        return summary

    async def cancel(self, task_id: str) -> bool:
        """Stop the task's job, if it has one here. True when its run had begun: the task then failed with
        ``cancelled by user`` and kept its output."""
        return bool(await self._stop([task_id]))

    async def cancel_all(self, results: list[RunResult] | None = None) -> list[str]:
        """Cancel every job; each task that had begun fails with ``cancelled by user``. Returns their ids;
        the results of runs that had already ended are added to ``results``."""
        return await self._stop(list(self.jobs), results)

    async def _stop(self, task_ids: list[str], results: list[RunResult] | None = None) -> list[str]:
        """Cancel the jobs of ``task_ids`` (those that have one) and end the runs they had begun."""
        jobs = {task_id: self.jobs[task_id] for task_id in task_ids if task_id in self.jobs}
        runs = {task_id: self.runs[task_id] for task_id in jobs if task_id in self.runs}
        for job in jobs.values():
            job.cancel()
        outcomes = await asyncio.gather(*jobs.values(), return_exceptions=True)
        cancelled = []
        for task_id, outcome in zip(jobs, outcomes, strict=True):
            if isinstance(outcome, RunResult):
                if results is not None:
                    results.append(outcome)
                continue
            run = runs.get(task_id)
            if run is None:
                continue  # cancelled before it began: nothing was started
            if not run.ended:  # cancelled before its finishing coroutine ever ran
                self.runner.end(run, error=CANCELLED)
            cancelled.append(task_id)
        return cancelled
