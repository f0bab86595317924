"""The seed's ``ParallelExecutor``: run one task, or several at once, from a script.

``ParallelExecutor(orchestrator).execute_parallel(["TASK-001", ("TASK-002", "gpt-4")])`` runs the tasks at
once, at most ``parallel_max`` at a time (``max_concurrent`` overrides it), each run recorded like any other
(output streamed to ``.orchestra/runs/``, outcome, attempts, history, webhooks). Dependencies are honoured:
a task whose dependencies are in the same call waits for them, and starts when they are completed (a run
ends in ``review`` unless the plan sets ``auto_complete``); a task whose dependencies are not completed and
will not be by this call is refused with the reason, and never run. One :class:`ExecutionResult` comes back
per task, in the order given.

Mistakes in the call itself (an unknown task or agent, a task listed twice) raise ``OrchestraError`` before
anything runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .api_loop import forwarding, run_blocking
from .errors import OrchestraError, TransitionError
from .models import TaskStatus

if TYPE_CHECKING:
    from .api import ProjectOrchestrator
    from .engine.runner import Runner, RunResult

REFUSED = "refused"
TaskRef = str | tuple[str, str | None]


@dataclass(frozen=True)
class ExecutionResult(Mapping[str, Any]):
    """One task's outcome (the seed's ``ExecutionResult``; also readable as a mapping: ``result["status"]``).

    ``status``: the task's status after the run (``review``, ``completed``, ``failed``, ``in_progress`` when
    handed to a person), or ``refused`` when it was not run (``error`` says why). ``usage``: the run's
    ``input_tokens`` and ``output_tokens`` (None: not reported); ``cost_usd`` None: unknown.
    """

    task_id: str
    agent: str
    status: str
    output: str = ""
    error: str | None = None
    usage: dict[str, int | None] = field(default_factory=lambda: {"input_tokens": None, "output_tokens": None})
    cost_usd: float | None = None
    run_id: str | None = None
    handoff: bool = False
    started_at: datetime | None = None
    completed_at: datetime | None = None

    @classmethod
    def of_run(cls, result: RunResult) -> ExecutionResult:
        return cls(
            result.task_id,
            result.agent,
            result.status,
            result.output,
            result.error,
            {"input_tokens": result.input_tokens, "output_tokens": result.output_tokens},
            result.cost_usd,
            result.run_id,
            result.handoff,
            result.started_at,
            result.completed_at,
        )

    @property
    def ok(self) -> bool:
        return self.status in (TaskStatus.REVIEW, TaskStatus.COMPLETED) or self.handoff

    @property
    def refused(self) -> bool:
        return self.status == REFUSED

    @property
    def cost(self) -> float | None:
        return self.cost_usd

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None or self.completed_at is None:
            return None
        return (self.completed_at - self.started_at).total_seconds()

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("started_at", "completed_at"):
            data[key] = data[key].isoformat() if data[key] is not None else None
        data["duration_seconds"] = self.duration_seconds
        return data

    def __getitem__(self, key: str) -> Any:
        return self.to_dict()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.to_dict())

    def __len__(self) -> int:
        return len(self.to_dict())


class ParallelExecutor:
    """Runs tasks of a :class:`~orchestra_tui.ProjectOrchestrator`'s project (the seed's executor)."""

    def __init__(self, orchestrator: ProjectOrchestrator, max_concurrent: int | None = None) -> None:
        self.orchestrator = orchestrator
        self.max_concurrent = max_concurrent

    def execute(
        self, task_id: str, agent: str | None = None, *, on_text: Callable[[str, str], None] | None = None
    ) -> ExecutionResult:
        """Run one task now (``agent`` overrides its own) and return its result."""
        return self.execute_parallel([(task_id, agent)], on_text=on_text)[0]

    def execute_parallel(
        self,
        tasks: Iterable[TaskRef],
        max_concurrent: int | None = None,
        *,
        on_text: Callable[[str, str], None] | None = None,
    ) -> list[ExecutionResult]:
        """Run ``tasks`` (ids, or ``(id, agent)`` pairs) at once; one result per task, in the order given.
        ``on_text(task_id, text)`` gets each answer as it streams. Inside an event loop, await
        :meth:`execute_parallel_async` instead."""
        tasks = list(tasks)
        return run_blocking(
            lambda: self.execute_parallel_async(tasks, max_concurrent, on_text=on_text),
            "execute_parallel",
            "executor.execute_parallel_async",
        )

    async def execute_parallel_async(
        self,
        tasks: Iterable[TaskRef],
        max_concurrent: int | None = None,
        *,
        on_text: Callable[[str, str], None] | None = None,
    ) -> list[ExecutionResult]:
        """:meth:`execute_parallel` for code inside an event loop."""
        from .engine.runner import Runner
        from .engine.runs import recover_interrupted

        project = self.orchestrator.project
        project.refresh()
        recover_interrupted(project)
        pairs = self._pairs(list(tasks))
        names = {name for _task_id, name in pairs}
        runner = Runner(project, agents={name: self.orchestrator.agent(name).build() for name in names})
        limit = max(1, max_concurrent or self.max_concurrent or project.plan.project.parallel_max)
        async with forwarding(runner.bus, on_text):
            results = await _Batch(runner, dict(pairs), limit).run()
        return [results[task_id] for task_id, _name in pairs]

    def _pairs(self, tasks: Sequence[TaskRef]) -> list[tuple[str, str]]:
        """``(task id, agent name)`` for each task; a mistake in the call raises before anything runs."""
        project = self.orchestrator.project
        pairs: list[tuple[str, str]] = []
        for item in tasks:
            task_id, agent = (item, None) if isinstance(item, str) else item
            name = agent or project.agent_of(project.task(task_id))  # an unknown id raises UnknownTaskError
            if any(task_id == seen for seen, _name in pairs):
                raise OrchestraError(f"{task_id} is listed twice")
            self.orchestrator.agent(name, task_id)  # unknown or disabled: raises
            pairs.append((task_id, name))
        return pairs


class _Batch:
    """The tasks of one ``execute_parallel`` call: started when ready, at most ``limit`` at once."""

    def __init__(self, runner: Runner, agents: dict[str, str], limit: int) -> None:
        self.runner, self.project, self.agents, self.limit = runner, runner.project, agents, limit
        self.waiting = list(agents)
        self.running: dict[asyncio.Task[ExecutionResult], str] = {}
        self.results: dict[str, ExecutionResult] = {}

    async def run(self) -> dict[str, ExecutionResult]:
        try:
            while self.waiting or self.running:
                self.project.refresh()
                self._start_ready()
                if not self.running:  # what still waits depends on tasks that will not be completed here
                    for task_id in self.waiting:
                        self.results[task_id] = await self._begin_or_refuse(task_id)
                    break
                done, _pending = await asyncio.wait(self.running, return_when=asyncio.FIRST_COMPLETED)
                for job in done:
                    self.results[self.running.pop(job)] = job.result()
        finally:
            for job in self.running:
                job.cancel()
            await asyncio.gather(*self.running, return_exceptions=True)
        return self.results

    def _start_ready(self) -> None:
        for task_id in list(self.waiting):
            if len(self.running) >= self.limit:
                return
            if self._waits(task_id):
                continue
            self.waiting.remove(task_id)
            self.running[asyncio.create_task(self._begin_or_refuse(task_id), name=f"execute {task_id}")] = task_id

    def _waits(self, task_id: str) -> bool:
        """Pending on dependencies every one of which this call still runs or will run."""
        if self.project.tasks[task_id].status != TaskStatus.PENDING:
            return False
        waiting_on = self.project.graph.waiting_on(task_id)
        pending = set(self.waiting) | set(self.running.values())
        return bool(waiting_on) and all(dep in pending for dep in waiting_on)

    async def _begin_or_refuse(self, task_id: str) -> ExecutionResult:
        agent = self.agents[task_id]
        try:
            run = await self.runner.begin_async(task_id, agent)
        except TransitionError as refused:  # not ready: its dependencies, or its status, say why
            return ExecutionResult(task_id, agent, REFUSED, error=str(refused))
        return ExecutionResult.of_run(await self.runner.finish(run))
