"""Agents written in Python: the seed's ``CustomAgent``, and ``[agents.x] type = "python"`` plans name by entry.

A :class:`CustomAgent` subclass overrides one of:

- ``def execute(self, task) -> str``: the answer, computed in a thread of its own (the event loop, other runs
  and the TUI stay responsive); the seed's form;
- ``async def execute(self, task) -> str``: the same, on the event loop;
- ``def stream(self, task)`` (a generator, run in a thread of its own) or ``async def stream(self, task)`` (an
  async generator): yields the answer in pieces as they come (``str``), and may yield a
  :class:`~orchestra_tui.agents.events.UsageUpdate` to report tokens and cost.

``task`` is the task with its strings expanded from the environment; during a run, :func:`current_request`
gives the run's :class:`~.base.AgentRequest` (the rendered ``prompt`` with the task's inputs and its
dependencies' outputs, ``cwd``, ``env``). Whatever ``execute`` raises fails the task with
the exception's message (one line); the process goes on. A cancelled run stops an async agent at once; a
thread cannot be stopped, so a sync one is left to finish in the background and its answer is discarded.

:class:`PythonAgent` runs a plan's ``type = "python"`` agent: ``entry = "package.module:Name"`` names a
``CustomAgent`` subclass, any class with ``execute``/``stream``, or a function ``f(task) -> str``. Importing it
runs the repository's code, so it happens only when one of its tasks runs (never on load, validate, list or
``orchestra agents``), with the project root first on ``sys.path``.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import importlib
import inspect
import sys
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Mapping
from typing import Any

from ..models import AgentConfig, AgentTask, AgentType
from .base import AgentRequest, Usability
from .events import AgentEvent, Failed, Finished, TextBuffer, TextDelta, UsageUpdate

_request: contextvars.ContextVar[AgentRequest] = contextvars.ContextVar("orchestra_agent_request")
_STREAM_AHEAD = 64  # pieces a streaming thread may produce before the run has written them out
_DONE = object()


def current_request() -> AgentRequest:
    """The run this agent code is serving (prompt, cwd, env); ``LookupError`` outside a run."""
    return _request.get()


class CustomAgent:
    """Base class of agents written in Python (the seed's ``CustomAgent``); override ``execute`` or ``stream``.

    ``CustomAgent(name="my-agent", capabilities=["code"])``; ``name`` defaults to the class name. Register an
    instance with ``AgentRegistry().register(agent)`` to run it from this process, or name its class in a plan
    (``type = "python"``, ``entry = "package.module:ClassName"``).
    """

    def __init__(
        self,
        name: str | None = None,
        *,
        capabilities: Iterable[object] = (),
        model: str | None = None,
        config: AgentConfig | None = None,
        **metadata: Any,
    ) -> None:
        self.name = name or type(self).__name__
        self.capabilities = [str(getattr(item, "value", item)) for item in capabilities]
        self.metadata = metadata
        self.config = (
            config
            if config is not None
            else AgentConfig.model_construct(
                type=AgentType.PYTHON, model=model, capabilities=self.capabilities, entry=_entry_of(type(self))
            )
        )

    def execute(self, task: AgentTask) -> str:
        """The answer for ``task``. Override this (sync or ``async def``) or :meth:`stream`."""
        raise NotImplementedError(f"{type(self).__name__} overrides neither execute() nor stream()")

    def stream(self, task: AgentTask) -> Iterable[str | UsageUpdate] | AsyncIterator[str | UsageUpdate]:
        """The answer in pieces (a generator or an async generator). Override this or :meth:`execute`."""
        raise NotImplementedError

    def run(self, request: AgentRequest) -> AsyncGenerator[AgentEvent, None]:
        return drive(self, request)

    async def check(self, env: Mapping[str, str]) -> Usability:
        return Usability(True)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


def _entry_of(cls: type) -> str | None:
    return None if "<" in cls.__qualname__ else f"{cls.__module__}:{cls.__qualname__}"


def _overrides(target: object, method: str) -> bool:
    own = getattr(type(target), method, None)
    return own is not None and own is not getattr(CustomAgent, method)


async def drive(target: Any, request: AgentRequest) -> AsyncGenerator[AgentEvent, None]:
    """Run ``target``'s ``stream`` or ``execute`` (or ``target`` itself, a function) for ``request``."""
    token = _request.set(request)  # copied into the agent's thread, seen by its coroutine
    try:
        if _overrides(target, "stream") or (not isinstance(target, CustomAgent) and hasattr(target, "stream")):
            async for event in _streamed(target.stream, request):
                yield event
            return
        call = target.execute if hasattr(target, "execute") else target
        try:
            if inspect.iscoroutinefunction(call):
                answer = await call(request.task)
            else:
                answer = await in_thread(call, request.task)
        except (Exception, SystemExit) as error:
            yield Failed(describe(error), "error")
            return
        if not isinstance(answer, str):
            yield Failed(f"execute() returned {type(answer).__name__}, not the answer as a str", "protocol")
            return
        if answer:
            yield TextDelta(answer)
        yield Finished(answer)
    finally:
        with contextlib.suppress(ValueError):  # finalised from another context: nothing to restore there
            _request.reset(token)


async def _streamed(method: Callable[[AgentTask], Any], request: AgentRequest) -> AsyncGenerator[AgentEvent, None]:
    text = TextBuffer()
    try:
        pieces = method(request.task) if inspect.isasyncgenfunction(method) else _thread_pieces(method, request.task)
        async for piece in pieces:
            if isinstance(piece, UsageUpdate):
                yield piece
            elif isinstance(piece, str):
                if piece:
                    text.write(piece)
                    yield TextDelta(piece)
            else:
                yield Failed(f"stream() yielded {type(piece).__name__}; yield str pieces (or UsageUpdate)", "protocol")
                return
    except (Exception, SystemExit) as error:
        yield Failed(describe(error), "error")
        return
    yield Finished(text.getvalue())


async def _thread_pieces(method: Callable[[AgentTask], Any], task: AgentTask) -> AsyncIterator[object]:
    """A sync generator's pieces, produced in a thread of its own, at most ``_STREAM_AHEAD`` ahead of the run."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[object] = asyncio.Queue()
    room = threading.Semaphore(_STREAM_AHEAD)
    stop = threading.Event()

    def send(item: object) -> None:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, item)
        except RuntimeError:  # the loop is gone: nobody reads any more
            stop.set()

    def produce() -> None:
        try:
            generator = method(task)
            for piece in generator:
                while not room.acquire(timeout=0.2):
                    if stop.is_set():
                        break
                if stop.is_set():
                    close = getattr(generator, "close", None)
                    if close is not None:
                        close()
                    return
                send(piece)
            send(_DONE)
        except BaseException as error:
            send(error)

    _start_thread(produce)
    try:
        while (item := await queue.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            room.release()
            yield item
    finally:
        stop.set()


def _start_thread(target: Callable[[], None]) -> None:
    # A daemon thread of its own, not the default executor: that one is shared (and small on small machines),
    # and its threads are joined at exit, so one stuck agent would hang the process's exit.
    context = contextvars.copy_context()
    threading.Thread(target=context.run, args=(target,), name="orchestra-python-agent", daemon=True).start()


async def in_thread(function: Callable[..., Any], *args: Any) -> Any:
    """``function(*args)`` in a daemon thread of its own (see ``_start_thread``), awaited from the event loop."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()

    def settle(ok: bool, value: Any) -> None:
        if not future.done():
            (future.set_result if ok else future.set_exception)(value)

    def work() -> None:
        try:
            outcome: tuple[bool, Any] = (True, function(*args))
        except StopIteration as error:  # a future refuses it: the coroutine gets the same story
            outcome = (False, RuntimeError(f"raised StopIteration {' '.join(str(error).split())}".strip()))
        except BaseException as error:
            outcome = (False, error)
        # RuntimeError: the loop has closed, the run was cancelled and nobody waits for this answer.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(settle, *outcome)

    _start_thread(work)
    return await future


def describe(error: BaseException) -> str:
    """One line for the task's error: the exception's message (its type when it has none)."""
    text = " ".join(str(error).split())
    return (text or type(error).__name__)[:2000]


class PythonAgent:
    """A plan's ``type = "python"`` agent: ``entry`` is imported when its first task runs, not before."""

    def __init__(self, name: str, config: AgentConfig) -> None:
        self.name = name
        self.config = config
        self._target: Any = None
        self._loading = asyncio.Lock()

    async def run(self, request: AgentRequest) -> AsyncGenerator[AgentEvent, None]:
        try:
            target = await self._load(str(request.cwd))
        except Exception as error:
            yield Failed(
                f"agent {self.name}: cannot load entry {self.config.entry!r}: {type(error).__name__}: "
                f"{describe(error)}",
                "error",
            )
            return
        events = target.run(request) if isinstance(target, CustomAgent) else drive(target, request)
        async for event in events:
            yield event

    async def _load(self, root: str) -> Any:
        async with self._loading:
            if self._target is None:
                self._target = await in_thread(load_entry, str(self.config.entry), root, self.name)
            return self._target

    async def check(self, env: Mapping[str, str]) -> Usability:
        # Importing would run the repository's code: only a task's run does that.
        return Usability(True, f"entry {self.config.entry} (imported when a task runs)")


def load_entry(entry: str, root: str, name: str) -> Any:
    """The object ``entry`` names, ready to run: a class is instantiated (a ``CustomAgent`` with ``name``)."""
    module_name, _, attribute = entry.partition(":")
    if root not in sys.path:
        sys.path.insert(0, root)
    target: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        target = getattr(target, part)
    if isinstance(target, type):
        target = target(name=name) if issubclass(target, CustomAgent) else target()
    if not (callable(target) or hasattr(target, "execute") or hasattr(target, "stream")):
        raise TypeError(f"{entry} is neither a class with execute() or stream() nor a function")
    return target
