"""The engine's event stream: what the TUI, the CLI's live view and tests subscribe to (docs/ARCHITECTURE.md C8).

Every event the engine emits is declared here, as a frozen dataclass (one place, as harlequin declares its
messages). ``Bus.publish`` never blocks and never raises; each subscriber reads its own bounded queue at its
own pace.

Overflow policy, per subscriber: while its queue holds fewer than ``maxsize`` items, every event is queued
as is. Once it is full, a ``RunOutput`` is merged into the text already waiting for the same run and
source (so text is never dropped and the queue grows by at most one item per run), and every other event
is still queued, since each stands for one state change, attempt or end of run and there are few of
them. Text is also merged with a text item waiting at the tail for the same run, full or not. A merged
``RunOutput`` may move ahead of a ``RunUsage`` or ``RunRetry`` of the same run that was queued after it;
it never moves past the end of its run, since a run's text is published before its ``RunEnded``.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..store import Entry
    from ..store.changes import Change
    from .project import Project


# ------------------------------------------------------------------------------------------ events


@dataclass(frozen=True, slots=True)
class HistoryAppended:
    """A history entry was committed (by this process, or by another one and caught up with)."""

    entry: Entry
    tasks: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class StateReloaded:
    """The state was rebuilt from disk (another process repaired it): re-read everything."""

    entry_id: str


@dataclass(frozen=True, slots=True)
class TaskChanged:
    """A task's stored status changed. ``before`` is None for a task added, ``after`` None for one removed."""

    task_id: str
    before: str | None
    after: str | None
    entry_id: str
    actor: str
    reason: str | None = None  # the task's last_error, when it failed


@dataclass(frozen=True, slots=True)
class RunStarted:
    run_id: str
    task_id: str
    agent: str


@dataclass(frozen=True, slots=True)
class RunOutput:
    """Text as it arrives. ``source`` is ``agent`` (the answer) or ``verify`` (the verify commands' output)."""

    run_id: str
    task_id: str
    text: str
    source: str = "agent"


@dataclass(frozen=True, slots=True)
class RunUsage:
    """Token totals so far for the run (None: the provider did not say) and their cost in USD."""

    run_id: str
    task_id: str
    input_tokens: int | None
    output_tokens: int | None
    cost_usd: float | None


@dataclass(frozen=True, slots=True)
class RunRetry:
    """An attempt failed and another follows; ``delay`` None: the program retrying did not say when."""

    run_id: str
    task_id: str
    attempt: int
    delay: float | None
    reason: str

    @property
    def retrying(self) -> str:
        """``retrying in 1.5 s`` (or just ``retrying``), for a note on the screen."""
        return "retrying" if self.delay is None else f"retrying in {self.delay:.1f} s"


@dataclass(frozen=True, slots=True)
class RunEnded:
    """The run is over. ``status`` is the task's status after it (review, completed, failed, or in_progress
    for a run handed off to a person); ``error`` the one-line reason when it failed; the run's tokens (None:
    not reported), cost (None: unknown) and duration."""

    run_id: str
    task_id: str
    status: str
    error: str | None = None
    handoff: bool = False
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None
    seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class EngineError:
    """Something went wrong outside any one run's control (a commit failed, an agent could not be built)."""

    message: str
    task_id: str | None = None


@dataclass(frozen=True, slots=True)
class PlanRejected:
    """The plan file was changed into one that cannot be used; the last valid plan stays in use.
    ``problems``: every problem, one line each (``FILE:LINE: task ID: field 'F': message``)."""

    problems: tuple[str, ...]


Event = (
    HistoryAppended
    | StateReloaded
    | TaskChanged
    | RunStarted
    | RunOutput
    | RunUsage
    | RunRetry
    | RunEnded
    | EngineError
    | PlanRejected
)


# ------------------------------------------------------------------------------------------ the bus


class _Text:
    """Text waiting in a queue, still open to merging; it becomes one ``RunOutput`` when read."""

    __slots__ = ("parts", "run_id", "source", "task_id")

    def __init__(self, event: RunOutput) -> None:
        self.run_id, self.task_id, self.source = event.run_id, event.task_id, event.source
        self.parts = [event.text]

    def event(self) -> RunOutput:
        return RunOutput(self.run_id, self.task_id, "".join(self.parts), self.source)


class Subscription:
    """One consumer's queue: ``async for event in subscription``, ``await get()``, or ``drain()``."""

    def __init__(self, bus: Bus, maxsize: int) -> None:
        self._bus = bus
        self.maxsize = maxsize
        self._items: deque[Event | _Text] = deque()
        self._open_text: dict[tuple[str, str], _Text] = {}  # (run, source) -> its text still queued
        self._waiter: asyncio.Future[None] | None = None
        self._closed = False
        self.merged = 0  # text events merged into one already queued because the queue was full

    def _put(self, event: Event) -> None:
        """Called under the bus lock."""
        if isinstance(event, RunOutput):
            key = (event.run_id, event.source)
            waiting = self._open_text.get(key)
            tail = self._items[-1] if self._items else None
            if waiting is not None and (waiting is tail or len(self._items) >= self.maxsize):
                waiting.parts.append(event.text)
                if waiting is not tail:
                    self.merged += 1
                return
            item = _Text(event)
            self._open_text[key] = item
            self._items.append(item)
        else:
            self._items.append(event)
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        loop = waiter.get_loop()
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            waiter.set_result(None)
        else:
            loop.call_soon_threadsafe(_resolve, waiter)

    def _pop(self) -> Event:
        item = self._items.popleft()
        if isinstance(item, _Text):
            key = (item.run_id, item.source)
            if self._open_text.get(key) is item:
                del self._open_text[key]
            return item.event()
        return item

    def __len__(self) -> int:
        return len(self._items)

    def drain(self) -> list[Event]:
        """Every event waiting, at once (for consumers that poll at their own refresh rate)."""
        with self._bus._lock:
            return [self._pop() for _ in range(len(self._items))]

    async def get(self) -> Event:
        """The next event; waits for one. Raises ``EOFError`` once closed and empty."""
        while True:
            with self._bus._lock:
                if self._items:
                    return self._pop()
                if self._closed:
                    raise EOFError("subscription closed")
                self._waiter = asyncio.get_running_loop().create_future()
                waiter = self._waiter
            try:
                await waiter
            finally:
                self._waiter = None

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Event]:
        while True:
            try:
                yield await self.get()
            except EOFError:
                return

    def close(self) -> None:
        """Stop receiving; events already queued can still be read, then iteration ends."""
        self._bus._unsubscribe(self)
        with self._bus._lock:
            self._closed = True
            self._wake()

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class Bus:
    """Fan-out of engine events to any number of subscribers. Safe to publish from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: tuple[Subscription, ...] = ()

    def subscribe(self, maxsize: int = 1000) -> Subscription:
        subscription = Subscription(self, max(1, maxsize))
        with self._lock:
            self._subscribers = (*self._subscribers, subscription)
        return subscription

    def _unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            self._subscribers = tuple(s for s in self._subscribers if s is not subscription)

    @property
    def followed(self) -> bool:
        """Whether anyone in this process subscribes (a driver's bus has nobody: its faces read the run's files)."""
        return bool(self._subscribers)

    def publish(self, event: Event) -> None:
        with self._lock:
            for subscription in self._subscribers:
                subscription._put(event)

    def publish_all(self, events: Iterable[Event]) -> None:
        with self._lock:
            for event in events:
                for subscription in self._subscribers:
                    subscription._put(event)

    def watch(self, project: Project) -> None:
        """Publish every history entry of ``project`` (and the status changes in it) from now on."""
        project.listeners.append(lambda entry, changes: self.publish_all(entry_events(entry, changes)))


def entry_events(entry: Entry, changes: list[Change]) -> list[Event]:
    """The events one history entry stands for: a ``TaskChanged`` per status change, then the entry itself."""
    if entry.action == "reload":
        return [StateReloaded(entry.id)]
    events: list[Event] = []
    tasks: list[str] = []
    for change in changes:
        task_id = change["task"]
        if task_id is None:
            continue
        tasks.append(task_id)
        before, after = change["before"], change["after"]
        old = None if before is None else before.get("status")
        new = None if after is None else after.get("status")
        if change["op"] == "update" and "status" not in change["after"]:
            continue
        if old != new:
            reason = after.get("last_error") if after is not None and new == "failed" else None
            events.append(TaskChanged(task_id, old, new, entry.id, entry.actor, reason))
    events.append(HistoryAppended(entry, tuple(tasks)))
    return events
