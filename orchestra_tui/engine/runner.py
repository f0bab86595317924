"""One task run, end to end (docs/ARCHITECTURE.md C2, C6).

:meth:`Runner.begin` picks the agent, creates the run's directory and takes its live lock, then commits
the task's start with the run id (:meth:`Runner.begin_async` makes the files in a worker thread). :meth:`Runner.finish`
expands the task's strings from the environment (never stored), renders the prompt for an agent that reads one
(not ``shell``: its commands are the task) with each completed dependency's last run output, streams the agent's
events into ``output.txt``, ``events.jsonl`` and the bus, then on success writes the task's ``output`` file
(inside the project root only) and runs its ``verify`` commands (project root as working directory; all must exit
0; their output goes to ``verify.txt``). It ends with one durable outcome: ``review`` (``completed`` with
``auto_complete``) or ``failed`` with the reason. Tokens and cost are added to the task's totals (they accumulate
over attempts), by that end only; while the run goes, its totals so far are ``usage`` lines of ``events.jsonl``
(at most one per :data:`USAGE_EVERY`), which is how a face in another process shows them live.

A run handed off to a person (``Finished(handoff=True)``, the ``interactive`` agent) leaves the task
``in_progress`` with ``handoff`` recorded in ``events.jsonl``, so it is never judged interrupted; the
person completes or fails it. Cancelling ``finish`` fails the task with ``cancelled by user`` and keeps
its output. State changes go through the ``Project``, whose actor names who made them; every run's end is
also a ``run_finished`` webhook event when the project has webhooks.

Strings logged or shown are the task's own (unexpanded) ones, and an agent's error message (which may
quote an expanded command or an echoed header) is redacted (:mod:`..redaction`), so a ``${SECRET}`` never
reaches a file orchestra writes; ``output.txt`` keeps what the process itself wrote.
"""

from __future__ import annotations

import asyncio
import codecs
import os
import shutil
import signal
import socket
import time
from collections.abc import Callable, Mapping
from contextlib import aclosing, suppress
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from ..agents.base import Agent, AgentRequest, VerifyStep
from ..agents.events import Failed, Finished, Retrying, TextDelta, UsageUpdate
from ..agents.pricing import FREE_TYPES, format_cost, run_cost
from ..agents.prompt import expand_task, render_prompt
from ..errors import MergeConflictError, OrchestraError, SupersededError, TransitionError, quoted
from ..models import AgentTask, TaskStatus, WorktreeRecord, utcnow
from ..plan.outputs import resolved_output_problem
from ..redaction import redact
from ..store import Entry, fsio
from ..workspace import worktrees
from ..workspace.bundles import WorktreeFiles
from .bus import Bus, EngineError, RunEnded, RunOutput, RunRetry, RunStarted, RunUsage
from .integration import integration, workspace_kind
from .project import Project
from .runs import RunLog, new_run_id, output_tail, read_events, read_output

CANCELLED = "cancelled by user"
DEPENDENCY_OUTPUT_BYTES = 256 * 1024  # read of each dependency's output (the prompt shows less)
RESULT_OUTPUT_BYTES = 1024 * 1024  # of a streamed answer, what a RunResult holds (output.txt has it all)
SUPERSEDED = "superseded"
SETUP_FILE = "setup.txt"  # in the run's directory: what the worktree's setup printed
HOST = socket.gethostname()  # recorded with each run: which machine's process owns it
USAGE_EVERY = 0.5  # seconds between two live ``usage`` lines of a run in events.jsonl (the newest totals win)


@dataclass(frozen=True)
class RunResult:
    """What a run came to. ``status`` is the task's status after it: ``review``, ``completed``, ``failed``,
    or ``in_progress`` when handed off to a person (``handoff``). ``output`` is the agent's final text (what
    streamed, when it failed). Token counts are this run's (None: not reported); ``cost_usd`` None: unknown."""

    task_id: str
    agent: str
    status: str
    run_id: str | None
    output: str = ""
    error: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None
    handoff: bool = False
    started_at: datetime = field(default_factory=utcnow)
    completed_at: datetime = field(default_factory=utcnow)

    @property
    def ok(self) -> bool:
        return self.status in (TaskStatus.REVIEW, TaskStatus.COMPLETED) or self.handoff

    @property
    def duration_seconds(self) -> float:
        return (self.completed_at - self.started_at).total_seconds()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunResult:
        """Back from :meth:`to_dict` (the driver's summary; ``output`` may be left out, the rest is always there)."""
        return cls(
            task_id=data["task_id"],
            agent=data["agent"],
            status=data["status"],
            run_id=data.get("run_id"),
            error=data.get("error"),
            input_tokens=data.get("input_tokens"),
            output_tokens=data.get("output_tokens"),
            cost_usd=data.get("cost_usd"),
            output=data.get("output") or "",
            handoff=bool(data.get("handoff")),
            started_at=datetime.fromisoformat(data["started_at"]),
            completed_at=datetime.fromisoformat(data["completed_at"]),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "agent": self.agent,
            "status": self.status,
            "run_id": self.run_id,
            "output": self.output,
            "error": self.error,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd": self.cost_usd,
            "handoff": self.handoff,
            "started_at": self.started_at.isoformat(),
            "completed_at": self.completed_at.isoformat(),
            "duration_seconds": round(self.duration_seconds, 3),
        }


@dataclass
class Run:
    """A run that has begun: its task is in progress and this process holds its lock."""

    task_id: str
    run_id: str
    agent_name: str
    agent: Agent
    log: RunLog
    started_at: datetime
    env: dict[str, str]
    attempt: int = 0  # the task's attempt this run is: its end lands only while the task is still in it
    ending: bool = False  # its outcome is being committed (the task moves on by its own hand)
    ended: bool = False
    workdir: Path | None = None  # where the agent, the output file and verify work (None: the project root)
    worktree: WorktreeRecord | None = None  # a worktree task's: the record its start committed
    head: str | None = None  # the task branch after the run's changes were committed
    files: WorktreeFiles | None = None  # a worktree run's files, for an agent that takes them elsewhere (Ray)
    resumed: int | None = None  # taken over after its process died: the bytes of output it had then
    usage_logged: float = float("-inf")  # monotonic time of its last live ``usage`` line
    usage_due: asyncio.TimerHandle | None = None  # the next one, when usage came sooner than USAGE_EVERY after it
    verify_decoder: codecs.IncrementalDecoder = field(
        default_factory=lambda: codecs.getincrementaldecoder("utf-8")("replace")
    )


@dataclass
class _Outcome:
    finished: Finished | None = None
    error: str | None = None
    usage: UsageUpdate = field(default_factory=UsageUpdate)  # the run's totals so far, each field as last reported
    cost: float | None = None

    @property
    def input_tokens(self) -> int | None:
        return self.usage.input_tokens

    @property
    def output_tokens(self) -> int | None:
        return self.usage.output_tokens


class Runner:
    """Runs tasks of one open project. ``agents`` maps names to agents (default: the plan's agents and the
    built-ins, each built on first use); ``env`` is what runs see (default: ``os.environ`` now)."""

    def __init__(
        self,
        project: Project,
        *,
        agents: Mapping[str, Agent] | None = None,
        bus: Bus | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.project = project
        self.bus = bus if bus is not None else Bus()
        self.env = dict(os.environ if env is None else env)
        self._given = agents is not None
        self._agents: dict[str, Agent] = dict(agents or {})
        self.on_ending: Callable[[Run], None] | None = None  # told when a run's agent is done and its end commits

    def agent_for(self, task: AgentTask, name: str | None = None) -> tuple[str, Agent]:
        """The agent that runs ``task`` (``name`` overrides its own); a plan's agent is built on first use, so
        one that cannot be built fails only its own tasks."""
        name = name or self.project.agent_of(task)
        agent = self._agents.get(name)
        if not self._given:
            from ..agents.registry import agent_configs, placed_agent, process_agent

            registered = process_agent(name)  # registered from code in this process: wins over the plan's
            if registered is not None:
                if not registered.enabled:
                    raise OrchestraError(f"agent {name!r} is disabled; registry.enable_agent({name!r}) enables it")
                return name, registered.build()
            if agent is None:
                configs = agent_configs(self.project.plan)
                if name in configs:
                    agent = self._agents[name] = placed_agent(name, configs[name], self.project.plan)
        if agent is None:
            known = sorted(self._agents) if self._given else sorted(agent_configs(self.project.plan))
            raise OrchestraError(f"unknown agent {name!r} for {task.task_id}; agents: {', '.join(known) or 'none'}")
        return name, agent

    # -- beginning ------------------------------------------------------------------------------------

    def begin(self, task_id: str, agent: str | None = None, env: Mapping[str, str] | None = None) -> Run:
        """Start the task now (durably) with a new run. Raises, with nothing written, when it cannot start.
        ``env``: what this run sees instead of the runner's."""
        task = self.project.task(task_id)
        name, instance = self.agent_for(task, agent)
        return self._begin(task, name, instance, self._new_log(task_id, name, instance), env)

    async def begin_async(self, task_id: str, agent: str | None = None, env: Mapping[str, str] | None = None) -> Run:
        """``begin``, with the run's files created (and its first line written) in a worker thread: creating a
        directory and two files costs milliseconds on a busy disk, which the event loop spends on other runs."""
        task = self.project.task(task_id)
        name, instance = self.agent_for(task, agent)
        making = asyncio.get_running_loop().run_in_executor(None, self._new_log, task_id, name, instance)
        try:
            log = await asyncio.shield(making)
        except asyncio.CancelledError:
            making.add_done_callback(_discard_log)
            raise
        task = self.project.task(task_id)
        if workspace_kind(self.project, task) == "worktree":  # its start counts every worktree: committed alone
            return self._begin(task, name, instance, log, env)
        starting = self.project.start_soon(task_id, run_id=log.run_id)
        try:
            entry = await asyncio.shield(starting)
        except asyncio.CancelledError:  # the start may be committed still: then the run ends cancelled at once
            starting.add_done_callback(lambda done: self._cancel_begun(done, task, name, instance, log, env))
            raise
        except BaseException:
            _discard(log)
            raise
        return self._begun(task, name, instance, log, env, entry)

    def _cancel_begun(
        self,
        starting: asyncio.Future[Entry | None],
        task: AgentTask,
        name: str,
        instance: Agent,
        log: RunLog,
        env: Mapping[str, str] | None,
    ) -> None:
        if starting.cancelled():  # (the loop closing) whether the start landed is not known: the files say it
            log.close()  # to recovery, which fails the task ``interrupted`` if it did
        elif starting.exception() is not None:
            _discard(log)
        else:
            self.end(self._begun(task, name, instance, log, env, starting.result()), error=CANCELLED)

    def _new_log(self, task_id: str, name: str, instance: Agent) -> RunLog:
        """The files of a new run of the task, its lock taken, its first line (``run``: which task, which agent,
        which process) written: recovery needs that line to judge the run once its start is committed."""
        log = RunLog(self.project.root, new_run_id(), task_id)
        config = instance.config
        try:
            log.event(
                "run",
                task=task_id,
                agent=name,
                type=config.type.value,
                model=config.model,
                actor=self.project.actor,
                pid=os.getpid(),
                host=HOST,
                executor=getattr(instance, "executor", "local"),
            )
        except BaseException:  # (a full disk) nothing started: nothing is left
            _discard(log)
            raise
        return log

    def _begin(self, task: AgentTask, name: str, instance: Agent, log: RunLog, env: Mapping[str, str] | None) -> Run:
        task_id = task.task_id
        try:
            worktree = None
            if workspace_kind(self.project, task) == "worktree":
                worktree = integration(self.project).dispatch(task)
            entry = self.project.start(task_id, run_id=log.run_id, worktree=worktree)
        except BaseException:
            _discard(log)
            raise
        return self._begun(task, name, instance, log, env, entry, worktree)

    def _begun(
        self,
        task: AgentTask,
        name: str,
        instance: Agent,
        log: RunLog,
        env: Mapping[str, str] | None,
        entry: Entry | None,
        worktree: WorktreeRecord | None = None,
    ) -> Run:
        """The run whose start ``entry`` committed: logged, told on the bus."""
        assert entry is not None  # (a start always changes its task)
        task_id = task.task_id
        attempt = self.project.tasks[task_id].attempts
        log.event("started", attempt=attempt, entry=entry.id, **({"worktree": worktree.path} if worktree else {}))
        self.bus.publish(RunStarted(log.run_id, task_id, name))
        run = Run(
            task_id, log.run_id, name, instance, log, utcnow(), dict(env) if env is not None else self.env, attempt
        )
        if worktree is not None:
            run.worktree = worktree
            run.workdir = integration(self.project).workdir(self.project.root / worktree.path)
        return run

    def reopen(self, task_id: str) -> Run:
        """Take over the task's run on Ray whose process died while it lives on (:func:`..runs.reattachable`):
        its locks and files, in the attempt it began; :meth:`finish` then reads the rest from the cluster.
        ``RunBusyError``: another process took it first."""
        task = self.project.task(task_id)
        run_id = task.last_run_id
        assert run_id is not None
        first = next((e for e in read_events(self.project.root, run_id) if e.get("event") == "run"), {})
        name, instance = self.agent_for(task, str(first.get("agent") or "") or None)
        log = RunLog.reopen(self.project.root, run_id, task_id)
        log.event("reattached", pid=os.getpid(), host=HOST, offset=log.output_bytes)
        self.bus.publish(RunStarted(run_id, task_id, name))
        run = Run(task_id, run_id, name, instance, log, utcnow(), self.env, task.attempts, resumed=log.output_bytes)
        if task.worktree is not None:
            run.worktree = task.worktree
            run.workdir = integration(self.project).workdir(self.project.root / task.worktree.path)
        return run

    async def execute(self, task_id: str, agent: str | None = None, env: Mapping[str, str] | None = None) -> RunResult:
        return await self.finish(self.begin(task_id, agent, env))

    # -- running --------------------------------------------------------------------------------------

    async def finish(self, run: Run) -> RunResult:
        """Run the agent and record the outcome. Cancelled: the task fails with ``cancelled by user``."""
        outcome = _Outcome()
        try:
            try:
                task = self.project.task(run.task_id)
                expanded = expand_task(task, run.env)
                if run.worktree is not None and run.resumed is None:
                    await self._make_worktree(run)
                await self._stream(run, task, expanded, outcome)
                if outcome.error is None and outcome.finished is not None and not outcome.finished.handoff:
                    outcome.error = self._write_output(run, task, expanded, outcome.finished)
                    if outcome.error is None:
                        outcome.error = await self._verify(run, task, expanded)
                if run.worktree is not None and not (outcome.finished is not None and outcome.finished.handoff):
                    await asyncio.to_thread(self._commit_worktree, run)
            except asyncio.CancelledError:
                outcome.error = CANCELLED
                self.end(run, outcome)
                raise
            except OrchestraError as error:
                outcome.error = str(error)
            except Exception as error:  # an agent's bug must not leave the task in progress for ever
                outcome.error = f"internal error in agent {run.agent_name}: {type(error).__name__}: {error}"
                self.bus.publish(EngineError(redact(outcome.error), run.task_id))
            return await self.end_async(run, outcome)
        finally:
            _usage_done(run)
            if not run.ended:  # the final commit itself failed (disk full...): the lock goes with the process
                run.log.close()

    def _workdir(self, run: Run) -> Path:
        return self.project.root if run.workdir is None else run.workdir

    async def _make_worktree(self, run: Run) -> None:
        """Check out the run's worktree (its branch at the recorded base), copy the included files and run the
        setup commands (their output in the run's ``setup.txt``); a failure fails the run with the reason."""
        assert run.worktree is not None
        settings = self.project.plan.project
        elsewhere = bool(getattr(run.agent, "takes_files", False))  # its setup runs where the agent runs
        created = await worktrees.create_async(
            integration(self.project).git(),
            self.project.root,
            settings.id,
            run.task_id,
            run.worktree.base,
            include=settings.worktree_include,
            setup=[] if elsewhere else settings.worktree_setup,
            env=run.env,
            log=run.log.dir / SETUP_FILE,
        )
        run.log.event("worktree", path=run.worktree.path, branch=created.branch, base=created.base)

    def _commit_worktree(self, run: Run) -> None:
        """Commit whatever the run changed on its task branch (if the agent did not); a worktree deleted by hand
        leaves the branch as it is."""
        assert run.worktree is not None
        path = self.project.root / run.worktree.path
        task = self.project.task(run.task_id)
        if path.is_dir():
            run.head = worktrees.commit_all(path, _commit_message(task))
            run.log.event("committed", head=run.head)

    async def _stream(self, run: Run, task: AgentTask, expanded: AgentTask, outcome: _Outcome) -> None:
        workdir = self._workdir(run)
        prompt = ""  # a run taken over has sent its prompt; an agent that reads none (shell) gets none
        if run.resumed is None and getattr(run.agent, "uses_prompt", True):
            prompt = render_prompt(expanded, root=workdir, dependency_outputs=self._dependency_outputs(task))
            if run.worktree is not None and run.worktree.conflict_files:
                prompt += _conflict_note(run.worktree.conflict_files)
            run.log.event("prompt", chars=len(prompt))
        if run.worktree is not None:
            top = self.project.root / run.worktree.path
            run.files = WorktreeFiles(
                top,
                run.worktree.branch,
                run.worktree.base,
                _commit_message(task),
                workdir.relative_to(top).as_posix(),
                setup=list(self.project.plan.project.worktree_setup),
                setup_log=run.log.dir / SETUP_FILE,
            )
        # Nobody here follows the stream (a driver: its faces read the run's files): an agent that can has its
        # processes write output.txt themselves, with no pipe for this process to read.
        direct = run.resumed is None and getattr(run.agent, "writes_output", False) and not self.bus.followed
        request = AgentRequest(
            run.run_id,
            expanded,
            prompt,
            workdir,
            run.env,
            system=run.agent.config.system,
            on_spawn=run.log.record_process,
            on_place=run.log.record_placement,
            files=run.files,
            project_id=self.project.plan.project.id,
            output_fd=run.log.output_file() if direct else None,
        )
        publish, log = self.bus.publish, run.log
        if run.resumed is None:
            events = run.agent.run(request)
        else:
            reattach = getattr(run.agent, "reattach", None)
            if reattach is None:
                raise OrchestraError(f"agent {run.agent_name} cannot take over a run another process began")
            events = reattach(request, run.resumed)
        async with aclosing(events) as stream:
            async for event in stream:
                if isinstance(event, TextDelta):
                    data = event.text.encode() if event.raw is None else event.raw
                    if data and not log.output_bytes:
                        log.event("first_text")
                    log.write_output(data)
                    if event.text:
                        publish(RunOutput(run.run_id, run.task_id, event.text))
                elif isinstance(event, UsageUpdate):
                    self._usage(run, event, outcome)
                elif isinstance(event, Retrying):
                    log.event("retry", attempt=event.attempt, delay=event.delay, reason=event.reason)
                    publish(RunRetry(run.run_id, run.task_id, event.attempt, event.delay, redact(event.reason)))
                elif isinstance(event, Finished):
                    log.count_output()
                    chars = log.output_bytes if event.text is None else len(event.text)
                    log.event("finished", stop_reason=event.stop_reason, chars=chars, handoff=event.handoff)
                    outcome.finished = event
                    if not log.output_bytes and event.text:  # nothing streamed: output.txt still holds the answer
                        log.write_output(event.text)
                    return
                elif isinstance(event, Failed):
                    log.event("failed", kind=event.kind, message=event.message)
                    outcome.error = event.message
                    return
        outcome.error = f"agent {run.agent_name} ended without a result"

    def _usage(self, run: Run, event: UsageUpdate, outcome: _Outcome) -> None:
        reported = {name: value for name in UsageUpdate.__slots__ if (value := getattr(event, name)) is not None}
        outcome.usage = replace(outcome.usage, **reported)
        outcome.cost = self._cost(run, outcome)
        self.bus.publish(RunUsage(run.run_id, run.task_id, outcome.input_tokens, outcome.output_tokens, outcome.cost))
        if run.usage_due is not None:
            return  # a line is due: it writes the newest totals
        wait = run.usage_logged + USAGE_EVERY - time.monotonic()
        if wait <= 0:
            _log_usage(run, outcome)
        else:
            run.usage_due = asyncio.get_running_loop().call_later(wait, _log_usage, run, outcome)

    def _cost(self, run: Run, outcome: _Outcome) -> float | None:
        config = run.agent.config
        return run_cost(config.model, outcome.usage, config, self.project.plan.pricing)

    def _dependency_outputs(self, task: AgentTask) -> dict[str, str]:
        outputs: dict[str, str] = {}
        for dep_id in task.dependencies:
            dep = self.project.tasks.get(dep_id)
            if dep is not None and dep.status == TaskStatus.COMPLETED:
                text = read_output(self.project.root, dep.last_run_id, DEPENDENCY_OUTPUT_BYTES)
                if text is not None:
                    outputs[dep_id] = text
        return outputs

    def _answer(self, run: Run, finished: Finished | None) -> str:
        """The run's answer for its result: the agent's, or the text it streamed, read back from ``output.txt``
        up to :data:`RESULT_OUTPUT_BYTES` (beyond that, its end, after a line saying where the whole is)."""
        if finished is not None and finished.text is not None:
            return finished.text
        if not run.log.output_bytes:
            return ""  # nothing streamed: no file to read back
        data, size = output_tail(self.project.root, run.run_id, RESULT_OUTPUT_BYTES)
        text = data.decode("utf-8", errors="replace")
        if size > len(data):
            text = f"[the first {size - len(data):,} bytes are in {run.log.output_path}]\n" + text
        return text

    def _write_output(self, run: Run, task: AgentTask, expanded: AgentTask, finished: Finished) -> str | None:
        """Write the run's answer to the task's ``output`` path; the reason it could not, or None."""
        if not expanded.output:
            return None  # and the answer is not read back from disk
        root = self._workdir(run)
        problem = resolved_output_problem(root, expanded.output, expanded.deliverables)
        if problem is not None:
            return f"output path {quoted(task.output)} {problem}; nothing was written"
        target = (root / expanded.output).resolve()
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            # a project file: the umask applies; the answer streamed (of any size) is copied file to file
            fsio.atomic_write(
                target, run.log.output_path if finished.text is None else finished.text.encode(), mode=0o666
            )
        except OSError as error:
            return f"cannot write output {quoted(task.output)}: {error.strerror or error}"
        run.log.event("output", path=task.output, bytes=target.stat().st_size)
        return None

    async def _verify(self, run: Run, task: AgentTask, expanded: AgentTask) -> str | None:
        """Run the verify commands in order; the first failure's reason, or None when all exit 0. A run whose
        files went elsewhere ran them there: what they did is recorded as if here."""
        if run.files is not None and run.files.received:
            return self._verified_there(run, task, run.files.verified or [])
        for shown, command in zip(task.verify, expanded.verify, strict=True):
            self._verify_text(run, f"$ {shown}\n".encode())
            started = time.monotonic()
            code = await self._run_command(run, command)
            run.log.event("verify", command=shown, exit_code=code, seconds=round(time.monotonic() - started, 3))
            if code != 0:
                return _verify_failed(shown, code)
        return None

    def _verified_there(self, run: Run, task: AgentTask, steps: list[VerifyStep]) -> str | None:
        for step in steps:
            shown = task.verify[step.index]
            self._verify_text(run, f"$ {shown}\n".encode() + step.output)
            run.log.event("verify", command=shown, exit_code=step.exit_code, seconds=step.seconds, remote=True)
            if step.exit_code != 0:
                return _verify_failed(shown, step.exit_code)
        return None

    async def _run_command(self, run: Run, command: str) -> int:
        process = await asyncio.create_subprocess_shell(
            command,
            cwd=self._workdir(run),
            env=run.env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
        assert process.stdout is not None
        try:
            while chunk := await process.stdout.read(65536):
                self._verify_text(run, chunk)
            return await process.wait()
        finally:
            if process.returncode is None:  # cancelled: the command and whatever it started go too
                with suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                await asyncio.shield(process.wait())

    def _verify_text(self, run: Run, data: bytes) -> None:
        run.log.write_verify(data)
        text = run.verify_decoder.decode(data)
        if text:
            self.bus.publish(RunOutput(run.run_id, run.task_id, text, "verify"))

    # -- ending ---------------------------------------------------------------------------------------

    def end(self, run: Run, outcome: _Outcome | None = None, error: str | None = None) -> RunResult:
        """Commit the run's outcome with its tokens, in one entry and only while the task is still in this run
        (else the run ends ``superseded`` and the task is left as it is), log it, release the lock."""
        outcome, handoff = self._closing(run, outcome, error)
        call = self._outcome_call(run, outcome, handoff)
        superseded = None
        try:
            if call is not None:
                self.project.end_run(*call)
        except (SupersededError, TransitionError) as refused:
            superseded = self._refused(run, outcome, refused)
        return self._ended(run, outcome, handoff, superseded)

    async def end_async(self, run: Run, outcome: _Outcome) -> RunResult:
        """``end``, its commit grouped with those of the runs that end together (one fdatasync for them all, the
        event loop free meanwhile). A cancel that comes while the outcome is being committed comes too late:
        the run ends with that outcome."""
        outcome, handoff = self._closing(run, outcome, None)
        call = self._outcome_call(run, outcome, handoff)
        superseded = None
        run.ending = True
        if self.on_ending is not None:
            self.on_ending(run)
        if call is not None:
            recording = asyncio.ensure_future(self.project.end_run_async(*call))
            await _landed(recording)
            try:
                recording.result()
            except (SupersededError, TransitionError) as refused:
                superseded = self._refused(run, outcome, refused)
        return self._ended(run, outcome, handoff, superseded)

    def _closing(self, run: Run, outcome: _Outcome | None, error: str | None) -> tuple[_Outcome, bool]:
        """The outcome to record (its error redacted, its cost known), whether it hands off, ``output.txt`` durable."""
        if outcome is None:
            outcome = _Outcome(error=error)
        _usage_done(run)  # the end writes the run's totals
        if outcome.error:  # an agent's message may quote a secret (a command line, an echoed header)
            outcome.error = redact(outcome.error)
        handoff = outcome.error is None and outcome.finished is not None and outcome.finished.handoff
        run.log.sync()
        outcome.cost = self._cost(run, outcome)
        return outcome, handoff

    def _outcome_call(self, run: Run, outcome: _Outcome, handoff: bool) -> _EndRun | None:
        """The ``Project.end_run`` arguments that record the outcome; None when there is nothing to record (a run
        handed off that spent nothing)."""
        fields = self._usage_fields(run, outcome)
        if run.worktree is not None and not handoff:
            fields["worktree"] = self._ended_worktree(run)
        usage = outcome.usage
        detail = (
            f"{_count(usage.input_tokens)} in / {_count(usage.output_tokens)} out tokens, {format_cost(outcome.cost)}"
            if fields
            else ""
        )
        if handoff:
            return (run.task_id, run.run_id, run.attempt, None, None, fields, detail) if fields else None
        if outcome.error is None:
            action = "complete" if self.project.plan.project.auto_complete and run.worktree is None else "review"
            return run.task_id, run.run_id, run.attempt, action, None, fields, detail
        return run.task_id, run.run_id, run.attempt, "fail", outcome.error, fields, detail

    def _refused(self, run: Run, outcome: _Outcome, refused: SupersededError | TransitionError) -> bool:
        """Why the outcome was not recorded, into ``outcome.error``; True when the task moved on (superseded)."""
        if isinstance(refused, SupersededError):
            outcome.error = str(refused)
            return True
        outcome.error = f"{refused}; the run's output is in {run.log.dir}"  # another process changed what it needs
        return False

    def _ended(self, run: Run, outcome: _Outcome, handoff: bool, superseded: bool | None) -> RunResult:
        """After the outcome's commit (``superseded`` None: it was recorded): log it, release the lock, tell."""
        project, task_id = self.project, run.task_id
        if superseded is None and handoff:
            run.log.event("handoff")
        elif superseded is None and outcome.error is None and project.plan.project.auto_complete and run.worktree:
            self._merge(run)
        if superseded and _cancelled_in(project, task_id, run.run_id):  # `cancel` of this run, from any face
            status, outcome.error = TaskStatus.CANCELLED.value, None
        elif superseded:
            status = SUPERSEDED
        else:
            status = project.tasks[task_id].status.value if task_id in project.tasks else "removed"
        output = self._answer(run, outcome.finished if outcome.error is None else None)
        seconds = run.log.elapsed()
        with suppress(OrchestraError):  # disk full: the outcome is committed; the run's log lacks its last line
            run.log.event("end", status=status, error=outcome.error, seconds=seconds)
        run.log.close()
        run.ended = True
        ended = RunEnded(
            run.run_id,
            task_id,
            status,
            outcome.error,
            handoff,
            outcome.input_tokens,
            outcome.output_tokens,
            outcome.cost,
            seconds,
        )
        self.bus.publish(ended)
        if project.webhooks is not None:  # queued in memory: never waits on the network
            project.webhooks.emit(
                "run_finished",
                {
                    "run_id": run.run_id,
                    "task_id": task_id,
                    "agent": run.agent_name,
                    "outcome": status,
                    "error": outcome.error,
                    "handoff": handoff,
                    "input_tokens": outcome.input_tokens,
                    "output_tokens": outcome.output_tokens,
                    "cache_read_tokens": outcome.usage.cache_read_tokens,
                    "cache_write_tokens": outcome.usage.cache_write_tokens,
                    "cost_usd": outcome.cost,
                    "seconds": seconds,
                },
            )
        return RunResult(
            task_id,
            run.agent_name,
            status,
            run.run_id,
            output,
            outcome.error,
            outcome.input_tokens,
            outcome.output_tokens,
            outcome.cost,
            handoff,
            run.started_at,
            utcnow(),
        )

    def _ended_worktree(self, run: Run) -> dict[str, Any]:
        """The task's worktree record after the run: its new head, no conflict (this head was never tried)."""
        assert run.worktree is not None
        if run.head is None and (self.project.root / run.worktree.path).is_dir():
            try:  # cancelled before finishing: what it changed is committed still
                self._commit_worktree(run)
            except OrchestraError as error:
                run.log.event("commit_failed", error=str(error))
        head = run.head or run.worktree.base
        return run.worktree.model_copy(update={"head": head, "conflict_files": None}).model_dump(mode="json")

    def _merge(self, run: Run) -> None:
        """``auto_complete`` of a worktree task: through the merge queue; a conflict or a refusal leaves it in
        review (said on the bus and in the run's log)."""
        try:
            self.project.complete(run.task_id)
        except (MergeConflictError, OrchestraError) as error:
            run.log.event("merge_failed", error=str(error))
            self.bus.publish(EngineError(redact(str(error)), run.task_id))

    def _usage_fields(self, run: Run, outcome: _Outcome) -> dict[str, Any]:
        """The task's totals with the run's tokens and cost added (committed with the run's end); {} when they do
        not change. Unknown stays unknown: a count the run did not report adds nothing, and a run that spent
        something (it reported tokens or streamed text) at an unknown cost counts in ``unpriced_runs``. A free
        run that reported nothing changes nothing."""
        usage, cost = outcome.usage, outcome.cost
        counts = {name: getattr(usage, name) for name in _COUNTS}
        spent = any(value is not None for value in counts.values()) or run.log.output_bytes > 0
        unpriced = cost is None and spent and run.agent.config.type not in FREE_TYPES
        if not unpriced and not any(value is not None for value in counts.values()) and not cost:
            return {}
        run.log.event("usage", **counts, cost_usd=cost)
        task = self.project.task(run.task_id)
        fields: dict[str, Any] = {name: _plus(getattr(task, name), value) for name, value in counts.items()}
        if cost is not None:
            fields["cost_usd"] = round((task.cost_usd or 0.0) + cost, 6)
        if unpriced:
            fields["unpriced_runs"] = task.unpriced_runs + 1
        return fields


_COUNTS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")
_EndRun = tuple[str, str, int, str | None, str | None, dict[str, Any], str]
"""``Project.end_run``'s arguments: task, run, attempt, action, reason, fields, detail."""


async def _landed(future: asyncio.Future[Any]) -> None:
    """Wait for ``future`` to end, through cancellations of the caller (a commit under way is not taken back):
    each is withdrawn, and the caller goes on with what landed."""
    current = asyncio.current_task()
    while not future.done():
        try:
            await asyncio.wait((future,))  # (which neither raises what the future raises nor cancels it)
        except asyncio.CancelledError:
            if current is None:
                raise
            current.uncancel()


def _log_usage(run: Run, outcome: _Outcome) -> None:
    """A live ``usage`` line: the run's totals so far, for the faces that follow it from its files (another
    process's TUI, ``orchestra ps``). At most one per :data:`USAGE_EVERY` seconds, so a long stream of usage
    costs a few lines a second at most; a line that cannot be written (disk full) is left out, the run goes on."""
    run.usage_due = None
    run.usage_logged = time.monotonic()
    usage = outcome.usage
    with suppress(OrchestraError):
        run.log.event("usage", **{name: getattr(usage, name) for name in _COUNTS}, cost_usd=outcome.cost)


def _usage_done(run: Run) -> None:
    """No more live usage lines: the run is ending (its end writes its totals) or its files are closing."""
    if run.usage_due is not None:
        run.usage_due.cancel()
        run.usage_due = None


def _plus(total: int | None, value: int | None) -> int | None:
    """A task's total plus a run's count, where None is unknown (and unknown plus a count is that count)."""
    if value is None:
        return total
    return value if total is None else total + value


def _count(value: int | None) -> str:
    return "?" if value is None else f"{value:,}"


def _commit_message(task: AgentTask) -> str:
    return f"{task.task_id}: {task.title}"


def _verify_failed(shown: str, code: int) -> str:
    how = f"was killed by signal {-code}" if code < 0 else f"exited with {code}"
    return f"verify failed: `{shown}` {how}"


def _conflict_note(files: list[str]) -> str:
    shown = "\n".join(f"- {name}" for name in files[:50])
    return (
        "\n\n## Merge conflict\n\nYour previous attempt conflicted with work merged since into the integration "
        "branch, in these files. You start again from that merged work: make your change on top of it.\n" + shown
    )


def _cancelled_in(project: Project, task_id: str, run_id: str) -> bool:
    task = project.tasks.get(task_id)
    return task is not None and task.status == TaskStatus.CANCELLED and task.last_run_id == run_id


def _discard(log: RunLog) -> None:
    """Remove the files of a run that never started."""
    log.close()
    shutil.rmtree(log.dir, ignore_errors=True)


def _discard_log(making: asyncio.Future[RunLog]) -> None:
    if not making.cancelled() and making.exception() is None:
        _discard(making.result())
