"""Agent runs on a Ray cluster (``executor = "ray"``): the same events, streamed back as they are made.

:class:`RayAgent` wraps an agent's configuration and runs it on a Ray worker as a streaming generator task
(``num_returns="streaming"``): each event the agent yields there is one object the caller awaits here, so
text reaches the run's output while the remote run goes on, and retries, outcome, usage and cost are the
agent's own, as if it ran locally. Cancelling the run (``x``, ``orchestra cancel``, a timeout) stops the agent
on its worker (its HTTP response, its process group are closed).

Reattach: the run is started by the project's run host (:class:`RunHost`, a named detached actor named after
the project id in the ``orchestra`` namespace, on the head node, no CPU of its own), which owns the run's task
and keeps every event it made, by run id; this process reads them from it. The host outlives this process: if
it dies (SIGKILL, a laptop asleep), the next process that recovers the task finds the run on the host by the
project's and the run's ids (:func:`remote_alive`), reopens the run and reads the events again, skipping the
text its ``output.txt`` already has (:meth:`RayAgent.reattach`); the run's locks and the journal's "still in
this run" rule commit its outcome once. A run its host no longer has fails ``interrupted``. Whoever ends a run
(completed, failed, cancelled) has its host forget it; a host with no run for a while leaves: none is left
behind. One host per project, not an actor per run: Ray starts a fresh worker process for every actor (about
a second), while it reuses its workers for tasks.

Keys never travel. The request goes without its environment: the worker reads keys from its own environment
(the cluster's secret handling provides them). Whatever in the configuration or the prompt came from a
``${VAR}`` (a value the redaction registry holds) is sent as ``${VAR}`` and expanded on the worker from its
environment, so no secret is pickled into Ray's object store, its spill files or its logs.

What travels is text, and in worktree mode the task's files: HTTP and ``python`` agents run anywhere. ``shell``
and ``cli`` agents work on the project's files, which travel as git bundles in worktree mode only
(``AgentRequest.files``, :mod:`..workspace.bundles`): the worker works in a clone, runs the task's ``verify``
there and sends the new commits back (:class:`Returned`); the agent's ``Finished`` is held until they are in the
task branch. Outside worktree mode they are refused on Ray with the reason, before anything starts, as
``interactive`` (it waits for a person here) always is.

A run whose node, worker or output is lost fails ``interrupted`` (:func:`failure` turns each of Ray's errors into
one line); Ray never retries a run's task (``max_retries=0``) nor restarts a host (``max_restarts=0``), so
nothing is committed twice.

``ray`` is an extra (``pip install 'orchestra-tui[ray]'``), imported only when a run goes to Ray. The
connection is made once per process: ``ray_address`` (``[project]``), else ``RAY_ADDRESS``, else a running
cluster, else a local instance started for this process. What the cluster tells every connected process (a node
marked dead) goes to the log, not to the command's output (:mod:`.ray_compat`).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import AsyncGenerator, Generator, Iterator, Mapping
from contextlib import aclosing, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import OrchestraError
from ..models import AgentConfig, AgentTask, AgentType
from ..redaction import REGISTRY
from .base import AgentRequest, Placement, TravellingFiles, Usability, VerifyStep, close_http_clients
from .events import AgentEvent, Failed, Finished, Retrying, TextDelta
from .ray_compat import quiet_cluster_messages

LOCAL_ONLY = frozenset({AgentType.SHELL, AgentType.CLI, AgentType.INTERACTIVE})
WITH_FILES = frozenset({AgentType.SHELL, AgentType.CLI, AgentType.PYTHON})  # a worktree run's files go along
_INIT_LOCK = threading.Lock()
CANCEL_TICK = 0.2  # seconds: how soon a stopped run's worker notices
NAMESPACE = "orchestra"  # Ray namespace of the projects' run hosts
READ_WAIT = 2.0  # seconds one read of a run's events waits for new ones at the most
STOP_WAIT = 10.0  # seconds a stopped run's agent gets to close what it opened
KILL_WAIT = 10.0  # seconds an idle run host may take to leave before a new one is made
HOST_IDLE = 15.0  # seconds a run host lives on with no run
HOST_THREADS = 256  # calls a run host serves at once (each followed run holds a long read)
HEAD = "node:__internal_head__"  # Ray's resource of the head node, where run hosts go
_REMOTE: dict[str, Any] = {}  # the Ray task and actor class, made once per process


class RayUnavailable(Exception):
    """Ray is not installed or the cluster does not answer (the message is one line)."""


class NoCluster(Exception):
    """No address is configured and no Ray cluster runs here (a run would start a local instance)."""


def connect(address: str | None, *, attach_only: bool = False) -> Any:
    """The ``ray`` module, connected (once per process) to ``address`` or the default cluster. ``attach_only``:
    with no address configured, only a running cluster is attached to (:class:`NoCluster` when there is none)."""
    try:
        import ray
    except ImportError:
        raise RayUnavailable("Ray is not installed (pip install 'orchestra-tui[ray]')") from None
    with _INIT_LOCK:
        quiet_cluster_messages()
        if not ray.is_initialized():
            target = address or os.environ.get("RAY_ADDRESS") or None
            probing = target is None and attach_only
            try:
                ray.init(
                    address="auto" if probing else target,
                    include_dashboard=False,
                    log_to_driver=False,
                    configure_logging=False,
                    ignore_reinit_error=True,
                )
            except Exception as error:  # Ray raises ConnectionError, RuntimeError, ValueError...
                if probing and isinstance(error, ConnectionError):  # "auto" found no running cluster
                    raise NoCluster from None
                where = target or "a local instance"
                raise RayUnavailable(f"Ray at {where} does not answer: {str(error).splitlines()[0][:200]}") from None
    return ray


def resource_options(resources: Mapping[str, float]) -> dict[str, Any]:
    """Ray task options for an agent's ``resources``: ``CPU``/``num_cpus``, ``GPU``/``num_gpus``, ``memory`` (bytes),
    the rest custom resources (``{ gpu_box = 1 }``)."""
    options: dict[str, Any] = {"num_cpus": 1}
    custom: dict[str, float] = {}
    for name, amount in resources.items():
        if name in ("CPU", "cpu", "num_cpus"):
            options["num_cpus"] = amount
        elif name in ("GPU", "gpu", "num_gpus"):
            options["num_gpus"] = amount
        elif name == "memory":
            options["memory"] = amount
        else:
            custom[name] = amount
    if custom:
        options["resources"] = custom
    return options


def travelling(value: Any) -> tuple[Any, list[str]]:
    """``value`` with every registered secret replaced by its ``${VAR}``, and the names replaced (expanded again
    on the worker from its own environment)."""
    redacted = REGISTRY.redact_tree(value)
    names = sorted(_names(redacted) - _names(value))
    return redacted, names


def _names(value: Any) -> set[str]:
    from ..plan.env import _ENV_RE

    text = repr(value)
    return {match.group(1) for match in _ENV_RE.finditer(text)}


def _expand(value: Any, names: frozenset[str], environ: Mapping[str, str]) -> Any:
    """The worker's side of :func:`travelling`: ``${NAME}`` for each of ``names`` from ``environ``."""
    if isinstance(value, str):
        for name in names:
            if name in environ:
                value = value.replace("${" + name + "}", environ[name])
        return value
    if isinstance(value, dict):
        return {key: _expand(item, names, environ) for key, item in value.items()}
    if isinstance(value, list):
        return [_expand(item, names, environ) for item in value]
    return value


@dataclass(frozen=True)
class Returned:
    """A worktree run's last message from its worker: its new commits as a bundle (empty: none), the verify
    steps run there (None: the agent did not finish, so none ran) and what the worktree's setup printed."""

    changes: bytes
    verified: list[VerifyStep] | None
    setup: bytes = b""


def run_on_worker(
    name: str,
    config: dict[str, Any],
    request: dict[str, Any],
    names: list[str],
    files: TravellingFiles | None = None,
) -> Iterator[Any]:
    """The Ray task of a run (a streaming generator): build the agent from ``config`` and yield its events (run on
    a private event loop). With ``files`` (a worktree run), the agent works in their clone, then the task's verify
    runs there, and what the run changed goes back as the last message (:class:`Returned`).

    A cancelled task (``ray.cancel``) raises in here; the agent's stream is closed on the way out, which stops
    what it started."""
    from .factory import build_agent

    environ = dict(os.environ)
    wanted = frozenset(names)
    agent_config = AgentConfig.model_validate(_expand(config, wanted, environ))
    fields = _expand(request, wanted, environ)
    with tempfile.TemporaryDirectory(prefix="orchestra-run-") as temp:
        folder = Path(temp)
        yield _placement()
        try:
            workdir = files.unpack(folder, environ) if files is not None else folder
        except OrchestraError as error:  # the worktree's setup failed: the agent does not start
            yield Failed(str(error), "error")
            yield Returned(b"", None, files.setup_output(folder) if files is not None else b"")
            return
        agent_request = AgentRequest(
            run_id=fields["run_id"],
            task=AgentTask.model_validate(fields["task"]),
            prompt=fields["prompt"],
            cwd=workdir,
            env=environ,
            system=fields.get("system"),
            response_schema=fields.get("response_schema"),
        )
        agent = build_agent(name, agent_config)
        last = yield from _agent_events(agent.run(agent_request))
        if files is not None:
            verified = None
            if isinstance(last, Finished) and not last.handoff:
                verified = list(_verify(agent_request.task.verify, workdir, environ))
            yield Returned(files.pack(workdir), verified, files.setup_output(folder))


def _verify(commands: list[str], workdir: Path, environ: Mapping[str, str]) -> Iterator[VerifyStep]:
    """Run the verify commands in order until one fails (each in its own process group, killed if interrupted)."""
    for index, command in enumerate(commands):
        started = time.monotonic()
        with subprocess.Popen(
            command,
            shell=True,
            cwd=workdir,
            env=dict(environ),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        ) as process:
            try:
                output, _ = process.communicate()
            finally:
                if process.returncode is None:
                    with suppress(ProcessLookupError):
                        os.killpg(process.pid, signal.SIGKILL)
        step = VerifyStep(index, process.returncode, round(time.monotonic() - started, 3), output)
        yield step
        if step.exit_code != 0:
            return


def _agent_events(stream: AsyncGenerator[AgentEvent, None]) -> Generator[AgentEvent, None, AgentEvent | None]:
    """Yield the agent's events, driven on a private event loop; the last one."""
    last = None
    loop = asyncio.new_event_loop()
    _wake_every(loop, CANCEL_TICK)
    step: asyncio.Task[AgentEvent] | None = None
    try:
        while True:
            step = loop.create_task(_next(stream))
            try:
                last = loop.run_until_complete(step)
            except StopAsyncIteration:
                return last
            yield last
    finally:
        _close(loop, step, stream)


def _wake_every(loop: asyncio.AbstractEventLoop, seconds: float) -> None:
    """Ray cancels a running task by flagging an interrupt that Python notices only while it runs bytecode; the
    loop may sleep in ``epoll`` on a quiet stream (a server thinking for minutes): a no-op tick wakes it, so
    the cancel lands within ``seconds``."""

    def tick() -> None:
        loop.call_later(seconds, tick)

    loop.call_later(seconds, tick)


async def _next(stream: AsyncGenerator[AgentEvent, None]) -> AgentEvent:
    return await anext(stream)


def _close(
    loop: asyncio.AbstractEventLoop, step: asyncio.Task[AgentEvent] | None, stream: AsyncGenerator[AgentEvent, None]
) -> None:
    """Close the agent's stream on the worker's loop, whatever interrupted it.

    A stop (or an error) can leave the step that awaited the agent's next event pending: the agent is still
    "running", so ``aclose`` alone would be refused. The step is cancelled first
    (the agent's ``finally`` and ``async with`` blocks run: its HTTP response or process group is closed)."""
    if step is not None and not step.done():
        step.cancel()
        with suppress(BaseException):  # the step ends cancelled, or with what the agent raised on the way out
            loop.run_until_complete(step)
    try:
        loop.run_until_complete(_shut(stream))
    finally:
        loop.close()


async def _shut(stream: AsyncGenerator[AgentEvent, None]) -> None:
    await stream.aclose()
    await close_http_clients()  # an HTTP agent's client belongs to this loop
    await asyncio.sleep(0)  # a transport closes its socket in a callback: let it run before the loop closes


def _placement() -> Placement:
    import ray

    context = ray.get_runtime_context()
    return Placement(context.get_node_id(), str(ray.util.get_node_ip_address()), os.getpid())


@dataclass
class _HostedRun:
    """One run on a :class:`RunHost`: its task's generator, the events it made, whether it is over."""

    task: Any
    events: list[Any] = field(default_factory=list)
    done: bool = False


class RunHost:
    """A project's runs on the cluster, in its named detached actor (``<project id>`` in :data:`NAMESPACE`, on
    the head node, no CPU of its own). Each run it starts is a streaming Ray task (:func:`run_on_worker`) with
    the agent's resources, so Ray places it as it places any task and reuses its worker processes (an actor of
    its own per run cost a fresh worker process, about a second, each time). The host owns those tasks, so a run
    outlives the process that asked for it, and keeps every event each made, by run id, until that process (or
    the one that reattached after it died) has read them all and forgets the run. With no run for
    :data:`HOST_IDLE` seconds it exits: none is left behind. Ray calls its methods from many threads at once."""

    def __init__(self) -> None:
        self.runs: dict[str, _HostedRun] = {}
        self.changed = threading.Condition()
        self.closing = False  # idle: it is about to exit and takes no new run
        self.idle_since = time.monotonic()
        threading.Thread(target=self._exit_when_idle, name="orchestra-idle", daemon=True).start()

    def start(self, run_id: str, name: str, work: tuple[Any, ...], options: dict[str, Any]) -> bool:
        """Start the run's task (once); False when this host is closing (its caller makes a new one)."""
        import ray

        with self.changed:
            if self.closing:
                return False
            if run_id not in self.runs:
                task = _task(ray).options(**options).remote(name, *work)
                run = self.runs[run_id] = _HostedRun(task)
                threading.Thread(target=self._follow, args=(ray, run, name), name="orchestra-run", daemon=True).start()
            return True

    def _follow(self, ray: Any, run: _HostedRun, name: str) -> None:
        """Keep the task's events as they come; Ray's error (a node lost, the agent raised) as its last one."""
        placement = None
        try:
            for ref in run.task:
                event = ray.get(ref)
                placement = event if isinstance(event, Placement) else placement
                self._keep(run, event)
        except ray.exceptions.RayError as error:
            self._keep(run, failure(name, error, placement))
        finally:
            with self.changed:
                run.done = True
                self.changed.notify_all()

    def _keep(self, run: _HostedRun, event: Any) -> None:
        with self.changed:
            run.events.append(event)
            self.changed.notify_all()

    def read(self, run_id: str, start: int, wait: float) -> tuple[list[Any], bool] | None:
        """The run's events from index ``start`` (waiting up to ``wait`` seconds for one), and whether it is over
        (then they are the last); None when this host has no such run."""
        with self.changed:
            run = self.runs.get(run_id)
            if run is None:
                return None
            self.changed.wait_for(lambda: len(run.events) > start or run.done, timeout=wait)
            return run.events[start:], run.done

    def has(self, run_id: str) -> bool:
        with self.changed:
            return run_id in self.runs

    def hosted(self) -> list[str]:
        """The runs this host keeps (``orchestra`` tests: none is left once runs end)."""
        with self.changed:
            return sorted(self.runs)

    def stop(self, run_id: str, wait: float) -> None:
        """Cancel the run's task (on its worker, the agent's stream and process group are closed) and wait up to
        ``wait`` seconds for its end."""
        import ray

        with self.changed:
            run = self.runs.get(run_id)
        if run is None or run.done:
            return
        with suppress(Exception):  # over in the meantime
            ray.cancel(run.task)
        with self.changed:
            self.changed.wait_for(lambda: run.done, timeout=wait)

    def forget(self, run_id: str) -> None:
        """The run is over for whoever followed it: its events go."""
        with self.changed:
            self.runs.pop(run_id, None)
            self.idle_since = time.monotonic()

    def _exit_when_idle(self) -> None:
        import ray

        while True:  # until it has been idle for HOST_IDLE seconds
            time.sleep(1.0)
            with self.changed:
                if self.runs or time.monotonic() - self.idle_since < HOST_IDLE:
                    continue
                self.closing = True
            ray.get_runtime_context().current_actor.exit.remote()
            return

    def exit(self) -> None:
        """End this actor (asked by itself once idle: an actor leaves from one of its own calls)."""
        import ray

        ray.actor.exit_actor()


def host_name(project_id: str | None) -> str:
    """The name of a project's :class:`RunHost` in :data:`NAMESPACE`: the project's id."""
    return project_id or "-"


def find_actor(ray: Any, name: str) -> Any | None:
    """The live actor named ``name``, or None when it is gone."""
    try:
        actor = ray.get_actor(name, namespace=NAMESPACE)
    except ValueError:  # no such actor (never made, exited, or its node died)
        return None
    return actor


def find_run(ray: Any, project_id: str | None, run_id: str) -> Any | None:
    """The host of the project that still has run ``run_id``, or None (the run is gone)."""
    host = find_actor(ray, host_name(project_id))
    if host is None:
        return None
    try:
        return host if ray.get(host.has.remote(run_id), timeout=READ_WAIT + 5) else None
    except ray.exceptions.RayError:  # it exited or died in the meantime
        return None


def remote_alive(address: str | None, project_id: str | None, run_id: str) -> bool:
    """Whether the run still lives on the cluster (only a running cluster is asked; none, or none answering:
    gone)."""
    try:
        ray = connect(address, attach_only=True)
    except (RayUnavailable, NoCluster):
        return False
    return find_run(ray, project_id, run_id) is not None


def stop_remote(address: str | None, project_id: str | None, run_id: str) -> bool:
    """Stop a run's agent on its worker and drop it from its host, for a run nobody here follows (``orchestra
    cancel`` of a run whose process died); whether the run was there to stop. Only a running cluster is asked."""
    try:
        ray = connect(address, attach_only=True)
    except (RayUnavailable, NoCluster):
        return False
    host = find_run(ray, project_id, run_id)
    if host is None:
        return False
    _end(ray, host, run_id, finished=False)
    return True


def start_run(ray: Any, project_id: str | None, run_id: str, name: str, work: tuple[Any, ...], options: Any) -> Any:
    """Start the run on the project's host (made when none lives; one that is closing, idle, is waited out);
    the host."""
    deadline = time.monotonic() + KILL_WAIT
    while True:  # bounded by KILL_WAIT
        host = (
            _host(ray)
            .options(
                name=host_name(project_id),
                namespace=NAMESPACE,
                get_if_exists=True,
                lifetime="detached",
                max_restarts=0,
                max_concurrency=HOST_THREADS,
                num_cpus=0,
                resources={HEAD: 0.001},
            )
            .remote()
        )
        with suppress(ray.exceptions.RayActorError):  # it exited in the meantime: made again
            if ray.get(host.start.remote(run_id, name, work, options)):
                return host
        if time.monotonic() > deadline:
            raise RayUnavailable(f"the run host {host_name(project_id)!r} of the Ray cluster does not take runs")
        time.sleep(0.1)


def _end(ray: Any, host: Any, run_id: str, finished: bool) -> None:
    """A run's end here: an unfinished run is stopped first (bounded), then its host forgets it."""
    with suppress(Exception):  # the host or its node gone: nothing left to stop
        if not finished:
            ray.get(host.stop.remote(run_id, STOP_WAIT), timeout=STOP_WAIT + 5)
        ray.get(host.forget.remote(run_id), timeout=READ_WAIT + 5)


class RayAgent:
    """``inner`` (a name and its configuration) run on Ray with ``resources``; the :class:`Agent` protocol."""

    executor = "ray"  # recorded with each run: a run whose process died is looked for on the cluster

    def __init__(self, name: str, config: AgentConfig, *, address: str | None = None) -> None:
        self.name = name
        self.config = config
        self.address = address
        self.placements: dict[str, Placement] = {}  # run id -> where it runs (``orchestra ps``)

    @property
    def takes_files(self) -> bool:
        """Whether a worktree run's files go along with it (and its setup runs there)."""
        return self.config.type in WITH_FILES

    async def run(self, request: AgentRequest) -> AsyncGenerator[AgentEvent, None]:
        files = request.files if self.takes_files else None
        if self.config.type in LOCAL_ONLY and files is None:
            yield Failed(refusal(self.name, self.config), "error")
            return
        try:
            ray = await asyncio.to_thread(connect, self.address)
        except RayUnavailable as error:
            yield Failed(f"agent {self.name}: {error}", "connection")
            return
        config, config_names = travelling(self.config.model_dump(mode="json"))
        fields, request_names = travelling(
            {
                "run_id": request.run_id,
                "task": request.task.record(),
                "prompt": request.prompt,
                "system": request.system,
                "response_schema": dict(request.response_schema) if request.response_schema else None,
            }
        )
        options = resource_options(self.config.resources)
        if files is not None:
            await asyncio.to_thread(files.prepare)
        work = (config, fields, config_names + request_names, files)
        try:
            host = await asyncio.to_thread(start_run, ray, request.project_id, request.run_id, self.name, work, options)
        except RayUnavailable as error:
            yield Failed(f"agent {self.name}: {error}", "connection")
            return
        async with aclosing(self._follow(ray, host, request, files, None)) as events:  # closed: the run ends
            async for event in events:
                yield event

    async def reattach(self, request: AgentRequest, offset: int) -> AsyncGenerator[AgentEvent, None]:
        """A run whose process died, read again from its host: the text from byte ``offset`` of its output on
        (what ``output.txt`` has already is skipped), then its end. The run gone from the cluster: ``interrupted``."""
        try:
            ray = await asyncio.to_thread(connect, self.address, attach_only=True)
        except (RayUnavailable, NoCluster) as error:
            yield Failed(f"interrupted: agent {self.name}'s Ray run cannot be reached: {error}", "interrupted")
            return
        host = await asyncio.to_thread(find_run, ray, request.project_id, request.run_id)
        if host is None:
            yield Failed(f"interrupted: agent {self.name}'s Ray run is gone", "interrupted")
            return
        files = request.files if self.takes_files else None
        async with aclosing(self._follow(ray, host, request, files, offset)) as events:  # closed: the run ends
            async for event in events:
                yield event

    async def _follow(
        self, ray: Any, host: Any, request: AgentRequest, files: TravellingFiles | None, offset: int | None
    ) -> AsyncGenerator[AgentEvent, None]:
        """The run's events as its host keeps them; ``offset`` (a reattach): the bytes of text to skip (and the
        retries, recorded by the process that died). The run is stopped and forgotten by its host whenever this
        ends, except when this process dies (then the host keeps it for the next one)."""
        held: Finished | Failed | None = None  # a worktree run's end waits for its verify and its changes
        skip = offset
        start, finished = 0, False
        try:
            while not finished:
                answer = await host.read.remote(request.run_id, start, READ_WAIT)
                if answer is None:  # its host went (and came back) without it
                    finished = True
                    yield Failed(f"interrupted: agent {self.name}'s Ray run is gone", "interrupted")
                    break
                events, finished = answer
                start += len(events)
                for event in events:
                    if skip is not None and isinstance(event, Retrying):
                        continue  # recorded by the process that died
                    if skip and isinstance(event, TextDelta):
                        event, skip = _skipped(event, skip)
                        if event is None:
                            continue
                    if isinstance(event, Placement):  # the worker's first message, before the agent's events
                        self.placements[request.run_id] = event
                        if request.on_place is not None:
                            request.on_place(event)
                    elif isinstance(event, Returned) and files is not None:
                        await asyncio.to_thread(files.receive, event.changes, event.verified, event.setup)
                    elif isinstance(event, Finished | Failed) and files is not None:
                        held = event
                    else:
                        yield event
            if held is not None:
                yield held
        except ray.exceptions.RayError as error:  # the host or its node died...
            finished = True
            yield failure(self.name, error, self.placements.get(request.run_id))
        finally:
            await asyncio.shield(asyncio.to_thread(_end, ray, host, request.run_id, finished))

    async def check(self, env: Mapping[str, str]) -> Usability:
        """Whether the cluster answers, what it has (nodes, resources in total) and whether that covers what the
        agent asks for. Only a running cluster is asked: a check does not start a local instance (a run does)."""
        if self.config.type is AgentType.INTERACTIVE:
            return Usability(False, refusal(self.name, self.config))
        try:
            ray = await asyncio.to_thread(connect, self.address, attach_only=True)
        except RayUnavailable as error:
            return Usability(False, str(error))
        except NoCluster:
            return Usability(True, "no Ray cluster is running here: a run starts a local instance", checked=False)
        total, nodes = await asyncio.to_thread(lambda: (ray.cluster_resources(), ray.nodes()))
        options = resource_options(self.config.resources)
        wanted = {"CPU": options["num_cpus"], **options.get("resources", {})}
        if "num_gpus" in options:
            wanted["GPU"] = options["num_gpus"]
        short = [
            f"{name} {amount:g} (it has {total.get(name, 0):g})"
            for name, amount in wanted.items()
            if total.get(name, 0) < amount
        ]
        alive = sum(1 for node in nodes if node.get("Alive"))
        found = f"Ray at {ray.get_runtime_context().gcs_address} answers: {alive} node(s), {describe(total)}"
        if short:
            return Usability(False, f"{found}; it lacks " + ", ".join(short))
        if self.config.type in LOCAL_ONLY:
            found += f"; a {self.config.type.value} agent runs there in worktree mode only"
        return Usability(True, found)


def describe(resources: Mapping[str, float]) -> str:
    """A cluster's resources in one line: ``CPU 2, memory 3.2 GB, object_store_memory 0.2 GB, gpu_box 1`` (Ray's
    per-node ``node:<ip>`` markers left out)."""
    shown = []
    for name in sorted(resources, key=lambda name: (name not in ("CPU", "GPU"), name)):
        if name.startswith("node:"):
            continue
        amount = resources[name]
        shown.append(f"{name} {amount / 1e9:.1f} GB" if "memory" in name else f"{name} {amount:g}")
    return ", ".join(shown) or "no resources"


def failure(name: str, error: Exception, placement: Placement | None) -> Failed:
    """Ray's error for a run as orchestra's ``Failed``, in one line. A run whose node, worker or output went
    away is ``interrupted`` (the text that arrived is kept, as for a local run whose process died); what the
    agent itself raised on the worker is reported as it would be here."""
    from ray import exceptions as rx

    node = f"{placement.node_ip} / {placement.node_id[:8]}" if placement is not None else "?"
    if isinstance(error, rx.NodeDiedError | rx.LocalRayletDiedError):
        return Failed(f"interrupted: the Ray node running agent {name} died (node {node})", "interrupted")
    if isinstance(error, rx.OutOfMemoryError):
        return Failed(
            f"interrupted: Ray stopped agent {name}'s worker, its node ran out of memory (node {node})", "interrupted"
        )
    if isinstance(error, rx.ActorDiedError | rx.ActorUnavailableError):
        return Failed(f"interrupted: the Ray worker running agent {name} died (node {node})", "interrupted")
    if isinstance(error, rx.WorkerCrashedError):
        worker = f"pid {placement.pid}" if placement is not None else "?"
        return Failed(f"interrupted: the Ray worker running agent {name} died (node {node}, {worker})", "interrupted")
    if isinstance(error, rx.ObjectLostError | rx.OutOfDiskError):
        return Failed(f"interrupted: agent {name}'s output was lost on the Ray cluster (node {node})", "interrupted")
    if isinstance(error, rx.TaskCancelledError):
        return Failed(f"agent {name}: its Ray task was cancelled on the cluster", "cancelled")
    if isinstance(error, rx.TaskUnschedulableError | rx.RuntimeEnvSetupError):
        return Failed(f"agent {name}: the Ray cluster cannot start it: {_first_line(error)}", "error")
    if isinstance(error, rx.RayTaskError):  # the agent raised on the worker: what it would have raised here
        cause = error.cause
        return raised(name, cause) if isinstance(cause, Exception) else raised(name, error)
    return Failed(f"agent {name}: Ray failed: {type(error).__name__}: {_first_line(error)}", "error")


def raised(name: str, error: Exception) -> Failed:
    """What the agent raised on its worker, as it would read here: an orchestra error as it is, any other in one
    line naming its type."""
    if isinstance(error, OrchestraError):
        return Failed(str(error), "error")
    return Failed(
        f"internal error in agent {name} on its Ray worker: {type(error).__name__}: {_first_line(error)}", "error"
    )


def _skipped(event: TextDelta, skip: int) -> tuple[TextDelta | None, int]:
    """``event`` less the first ``skip`` bytes (what ``output.txt`` has already), and the bytes left to skip."""
    data = event.text.encode() if event.raw is None else event.raw
    if len(data) <= skip:
        return None, skip - len(data)
    rest = data[skip:]
    return TextDelta(rest.decode("utf-8", errors="replace"), rest), 0


def _task(ray: Any) -> Any:
    """The Ray task of a run (made once per process)."""
    with _INIT_LOCK:
        if "task" not in _REMOTE:
            _REMOTE["task"] = ray.remote(num_returns="streaming", max_retries=0)(run_on_worker)
        return _REMOTE["task"]


def _host(ray: Any) -> Any:
    """The Ray actor class of a project's run host (made once per process)."""
    with _INIT_LOCK:
        if "host" not in _REMOTE:
            _REMOTE["host"] = ray.remote(RunHost)
        return _REMOTE["host"]


def _first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0][:200] if lines else type(error).__name__


def refusal(name: str, config: AgentConfig) -> str:
    kind = config.type.value
    if config.type is AgentType.INTERACTIVE:
        return f"agent {name}: an interactive agent waits for a person here; it cannot run on Ray"
    return (
        f"agent {name}: a {kind} agent works on the project's files, which do not travel to Ray outside worktree "
        'mode; run it locally (executor = "local") or in worktree mode (workspace = "worktree")'
    )
