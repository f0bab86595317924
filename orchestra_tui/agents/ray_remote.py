"""Agent runs on a Ray cluster (``executor = "ray"``): the same events, streamed back as they are made.

:class:`RayAgent` wraps an agent's configuration and runs it on a Ray worker as a streaming generator task
(``num_returns="streaming"``): each event the agent yields there is one object the caller awaits here, so
text reaches the run's output while the remote run goes on, and retries, outcome, usage and cost are the
agent's own, as if it ran locally. Cancelling the run (``x``, ``orchestra cancel``, a timeout) cancels the Ray
task, whose worker closes the agent (its HTTP response, its process group).

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
one line); Ray never retries a run (``max_retries=0``), so nothing is committed twice.

``ray`` is an extra (``pip install 'orchestra-tui[ray]'``), imported only when a run goes to Ray. The
connection is made once per process: ``ray_address`` (``[project]``), else ``RAY_ADDRESS``, else a running
cluster, else a local instance started for this process.
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
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import OrchestraError
from ..models import AgentConfig, AgentTask, AgentType
from ..redaction import REGISTRY
from .base import AgentRequest, Placement, TravellingFiles, Usability, VerifyStep, close_http_clients
from .events import AgentEvent, Failed, Finished

LOCAL_ONLY = frozenset({AgentType.SHELL, AgentType.CLI, AgentType.INTERACTIVE})
WITH_FILES = frozenset({AgentType.SHELL, AgentType.CLI, AgentType.PYTHON})  # a worktree run's files go along
_INIT_LOCK = threading.Lock()
CANCEL_TICK = 0.2  # seconds: how soon a cancelled run's worker notices
_REMOTE: list[Any] = []  # the Ray remote function, made once per process


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
    name: str, config: dict[str, Any], request: dict[str, Any], names: list[str], files: TravellingFiles | None = None
) -> Iterator[Any]:
    """The Ray task: build the agent from ``config`` and yield its events (run on a private event loop). With
    ``files`` (a worktree run), the agent works in their clone, then the task's verify runs there, and what the
    run changed goes back as the last message (:class:`Returned`).

    A cancelled task raises in here; the agent's stream is closed on the way out, which stops what it started."""
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
    """Ray cancels a running task by flagging an interrupt that Python notices only while it runs bytecode; a loop
    asleep in ``epoll`` on a quiet stream (a server thinking for minutes) would not notice until the server spoke.
    A no-op tick wakes the loop, so the cancel lands within ``seconds``."""

    def tick() -> None:
        loop.call_later(seconds, tick)

    loop.call_later(seconds, tick)


async def _next(stream: AsyncGenerator[AgentEvent, None]) -> AgentEvent:
    return await anext(stream)


def _close(
    loop: asyncio.AbstractEventLoop, step: asyncio.Task[AgentEvent] | None, stream: AsyncGenerator[AgentEvent, None]
) -> None:
    """Close the agent's stream on the worker's loop, whatever interrupted it.

    Ray cancels a task by raising ``KeyboardInterrupt`` in it, which leaves the step that awaited the agent's next
    event pending: the agent is still "running", so ``aclose`` alone would be refused. The step is cancelled first
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


class RayAgent:
    """``inner`` (a name and its configuration) run on Ray with ``resources``; the :class:`Agent` protocol."""

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
        with _INIT_LOCK:
            if not _REMOTE:
                _REMOTE.append(ray.remote(num_returns="streaming", max_retries=0)(run_on_worker))
        remote = _REMOTE[0]
        options = resource_options(self.config.resources)
        if files is not None:
            await asyncio.to_thread(files.prepare)
        generator = remote.options(**options).remote(self.name, config, fields, config_names + request_names, files)
        held: Finished | Failed | None = None  # a worktree run's end waits for its verify and its changes
        try:
            async for ref in generator:
                event = await ref
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
        except ray.exceptions.RayError as error:  # the node or worker died, the agent raised there...
            yield failure(self.name, error, self.placements.get(request.run_id))
        finally:
            if not _finished(generator):
                ray.cancel(generator)

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
        if isinstance(cause, OrchestraError):
            return Failed(str(cause), "error")
        what = f"{type(cause).__name__}: {_first_line(cause)}" if cause is not None else _first_line(error)
        return Failed(f"internal error in agent {name} on its Ray worker: {what}", "error")
    return Failed(f"agent {name}: Ray failed: {type(error).__name__}: {_first_line(error)}", "error")


def _first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0][:200] if lines else type(error).__name__


def _finished(generator: Any) -> bool:
    try:
        return bool(generator.is_finished())
    except Exception:  # older Ray: no is_finished; cancelling a finished task is harmless
        return False


def refusal(name: str, config: AgentConfig) -> str:
    kind = config.type.value
    if config.type is AgentType.INTERACTIVE:
        return f"agent {name}: an interactive agent waits for a person here; it cannot run on Ray"
    return (
        f"agent {name}: a {kind} agent works on the project's files, which do not travel to Ray outside worktree "
        'mode; run it locally (executor = "local") or in worktree mode (workspace = "worktree")'
    )
