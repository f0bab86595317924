"""The contract every agent type implements: a task in, a stream of events out."""

from __future__ import annotations

import sys
from collections.abc import AsyncGenerator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..models import AgentConfig, AgentTask
from .events import AgentEvent


@dataclass(frozen=True)
class Placement:
    """Where a remote run went: its node (id and IP address) and the worker process running the agent."""

    node_id: str
    node_ip: str
    pid: int


@dataclass(frozen=True)
class VerifyStep:
    """One verify command run where the agent ran: its index in the task's ``verify``, exit code (negative: the
    signal that killed it), seconds and output."""

    index: int
    exit_code: int
    seconds: float
    output: bytes


class TravellingFiles(Protocol):
    """A worktree run's files, for an agent that runs elsewhere (Ray; it says so with a true ``takes_files``
    attribute, and the worktree's setup then runs there, not here). Here: :meth:`prepare` packs the task's base
    before it travels, :meth:`receive` takes the result back. There: :meth:`unpack` makes the place the agent works
    in and runs the setup (an ``OrchestraError`` when it fails), :meth:`setup_output` is what the setup printed,
    :meth:`pack` packs what the run changed. The object is pickled: it holds data, not connections."""

    def prepare(self) -> None: ...

    def unpack(self, into: Path, env: Mapping[str, str]) -> Path: ...

    def setup_output(self, into: Path) -> bytes: ...

    def pack(self, workdir: Path) -> bytes: ...

    def receive(self, changes: bytes, verified: list[VerifyStep] | None, setup: bytes) -> None: ...


@dataclass(frozen=True)
class AgentRequest:
    """One run of one task.

    ``prompt`` is the rendered brief (task, inputs, dependencies' outputs); ``task`` has its strings already
    expanded from the environment (never stored). ``env`` is the environment the run sees (keys are read
    from it at call time). ``cwd`` is the project root. ``on_spawn(pid)``: the run records each process
    group a local agent starts, so that one left going by a dead run is found and stopped. ``on_place``: the
    run records where a remote agent runs (``orchestra ps`` shows it).
    """

    run_id: str
    task: AgentTask
    prompt: str
    cwd: Path
    env: Mapping[str, str]
    system: str | None = None
    extra: Mapping[str, object] = field(default_factory=dict)
    on_spawn: Callable[[int], None] | None = None  # a local agent calls it with each process group it starts
    on_place: Callable[[Placement], None] | None = None  # a remote agent calls it once its worker answers
    # A worktree run's files: a remote agent takes them along, runs the task's verify there and brings the result
    # back (a local agent works in ``cwd``, which is that worktree, and ignores this).
    files: TravellingFiles | None = None
    # The JSON Schema the answer must follow (planning); HTTP agents constrain the answer to it natively
    # (``agents/structured.py``), the others get it in the prompt.
    response_schema: Mapping[str, Any] | None = None
    # The project's id: a remote run's name on its cluster is made of it and ``run_id`` (found again by it after this
    # process died).
    project_id: str | None = None
    # The run's ``output.txt`` (open for appending) when nobody in this process follows the stream: an agent that
    # can (``writes_output``, the ``shell`` agent) has its processes write their output straight into it, with no
    # pipe for this process to read, and yields no text (the runner reads the size back).
    output_fd: int | None = None


@dataclass(frozen=True)
class Usability:
    """Whether an agent can run now, and if not, why (one line). ``checked`` is False when the endpoint
    answered but could not say whether the model is there (no model listing): usable, not verified."""

    usable: bool
    reason: str = ""
    checked: bool = True


class Agent(Protocol):
    name: str
    config: AgentConfig

    def run(self, request: AgentRequest) -> AsyncGenerator[AgentEvent, None]:
        """Stream the run's events, the last one ``Finished`` or ``Failed``: an async generator, which the runner
        closes. Cancellation ends it cleanly."""
        ...

    async def check(self, env: Mapping[str, str]) -> Usability:
        """Usable now? Key present, endpoint answering, command on PATH (a few seconds at most)."""
        ...


async def close_http_clients() -> None:
    """Close the HTTP client the agents opened on the running event loop, if any agent used HTTP at all: the
    transport (and httpx with it) is looked up, never imported, so a plan of shell tasks never loads it."""
    transport = sys.modules.get("orchestra_tui.agents.transport")
    if transport is not None:
        await transport.close_http_client()
