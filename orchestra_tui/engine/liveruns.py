"""Every live run of a project, whoever started it: list, read (and follow), cancel (docs/ARCHITECTURE.md C10).

A run is live while some process holds its live lock (the ``flock`` on ``events.jsonl``, engine/runs.py);
the kernel drops it when that process dies. Nothing here takes a lock another process could need: the only
lock taken is a shared one on the ``events.jsonl`` of a run whose first line is written, which only its
owner ever locks (exclusively, before writing that line).

* :func:`live_runs` lists the live runs (task, agent, the agent's process group, start, bytes of output, tokens
  and cost so far, the owning process and host, where the agent runs: here, or a Ray node and worker), oldest
  first. :func:`find_run` turns a task id or run id into a run id.
* :class:`OutputTail` reads a run's ``output.txt`` (or ``events.jsonl``) from an offset, at most
  :data:`CHUNK` bytes a call (memory stays bounded however much the run writes); :func:`follow` yields new
  bytes as they arrive, polling every :data:`POLL` seconds, until the run is over and the file drained. No
  symlink is followed anywhere from ``.orchestra/`` down (each step is opened ``O_NOFOLLOW`` relative to the
  last). Polling, not inotify: no library for it is installed, and 0.1 s keeps the delay far under 0.5 s.
* :func:`cancel_run` commits the task's ``cancelled`` (only while the task is still in that run), then stops
  the run's recorded process group, checked against the run's live lock and the group leader's start time,
  so a reused pid is never signalled. The owning process sees the commit (the scheduler watches the journal,
  :meth:`Scheduler.drop_superseded`), stops its side of the run and releases the lock; its own end is then
  ``superseded`` and records nothing. The output stays in the run's directory.
* :class:`RunWatcher` publishes the runs other processes own on a :class:`Bus` as if they were local
  (``RunStarted``, ``RunOutput``, ``RunUsage``, ``RunRetry``, ``RunEnded``), so a face follows every run through
  one stream. Usage comes from the ``usage`` lines the runner writes as the agent reports it (a few a second at
  most, engine/runner.py): each is the run's totals so far, so only the newest of a look is published.
"""

from __future__ import annotations

import asyncio
import codecs
import json
import os
import re
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import OrchestraError, RunBusyError, TransitionError
from ..models import TaskStatus
from ..projectfiles import STATE_DIR
from .bus import Bus, RunEnded, RunOutput, RunRetry, RunStarted, RunUsage
from .project import Project
from .runs import (
    EVENTS_FILE,
    INTERRUPTED,
    OUTPUT_FILE,
    RUNS_DIR,
    ProcessGroup,
    RunLog,
    is_live,
    lock_held,
    orphaned,
    runs_dir,
    stop_on_ray,
    usage_of,
)

POLL = 0.1  # seconds between two looks at a followed run
CHUNK = 256 * 1024  # bytes one read returns at most
BACKLOG = 64 * 1024  # bytes of a run's output so far a watcher publishes when it first sees the run
SKIP_AFTER = 4 * 1024 * 1024  # a watcher this far behind a run's output jumps to its last BACKLOG bytes
STOP_WAIT = 5.0  # seconds cancel_run waits for a SIGKILLed group to be gone
CANCEL_WAIT = 10.0  # seconds cancel_run waits for the run's owner to let go of it
HEAD = 1 << 20  # bytes of a run's events.jsonl read for its first lines
TAIL = 64 * 1024  # bytes read from its end for its newest lines, when it is longer than HEAD
RUN_ID = re.compile(r"\d{8}T\d{6}\.\d{6}Z-[0-9a-f]{6}")
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


# ------------------------------------------------------------------------------------ files, safely


def _valid(run_id: str) -> str:
    if not RUN_ID.fullmatch(run_id):
        raise OrchestraError(f"not a run id: {run_id[:80]!r} (run ids look like 20260125T093012.123456Z-3f9a1c)")
    return run_id


def open_run_file(root: Path, run_id: str, name: str) -> int:
    """A read-only fd on ``.orchestra/runs/<run_id>/<name>``, no step of the way a symlink (OSError otherwise)."""
    fds = []
    try:
        fds.append(os.open(root / STATE_DIR, _DIR))
        for step in (RUNS_DIR, _valid(run_id)):
            fds.append(os.open(step, _DIR, dir_fd=fds[-1]))
        return os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fds[-1])
    finally:
        for fd in fds:
            os.close(fd)


def _events(data: bytes) -> list[dict[str, Any]]:
    """The whole lines of ``data`` as events (a torn or foreign line is skipped)."""
    found = []
    for line in data.split(b"\n"):
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict):
            found.append(event)
    return found


# ------------------------------------------------------------------------------------ listing


@dataclass(frozen=True)
class LiveRun:
    """One live run. ``pgid`` is its agent's current process group (None: none started, e.g. an HTTP agent);
    ``owner_pid`` and ``owner_host`` name the process that holds the run (None: not recorded). A run on Ray
    names its node (``node_ip``, ``node_id``) and the worker process running its agent (``worker_pid``) once the
    worker answered; they are None for a local run (and for a remote one not placed yet). ``input_tokens``,
    ``output_tokens`` and ``cost_usd`` are the run's totals so far as its agent reported them (None: not yet, or
    never: not every agent says)."""

    run_id: str
    task_id: str
    agent: str
    started: str
    pgid: int | None
    owner_pid: int | None
    owner_host: str | None
    output_bytes: int
    node_ip: str | None = None
    node_id: str | None = None
    worker_pid: int | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None

    @property
    def where(self) -> str:
        """``local``, or the node and worker of a remote run: ``10.0.0.7 / 3f9a1c2e pid 4242``."""
        if self.node_id is None:
            return "local"
        return f"{self.node_ip} / {self.node_id[:8]} pid {self.worker_pid}"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "where": self.where}


def run_info(root: Path, run_id: str) -> LiveRun | None:
    """The run, when it is live; None when it is over, not begun or not there."""
    info, live = read_run(root, run_id)
    return info if live else None


def read_run(root: Path, run_id: str) -> tuple[LiveRun | None, bool]:
    """The run (None: not there, or not begun: its first line is not written yet) and whether it is live."""
    try:
        fd = open_run_file(root, run_id, EVENTS_FILE)
    except FileNotFoundError:
        return None, True  # being made (or left empty): looked at again
    except OSError:
        return None, False
    try:
        data = _read_head(fd)
        if not data:  # being made: its owner locks it before its first line
            return None, True
        newest = _read_tail(fd) if len(data) >= HEAD else None  # a long run's newest lines are past its head
        live = lock_held(fd)
    finally:
        os.close(fd)
    events = _events(data)
    first = next((e for e in events if e.get("event") == "run"), None)
    if first is None:
        return None, live
    group = next((e for e in reversed(events) if e.get("event") == "process"), None)
    placed: dict[str, Any] = next((e for e in reversed(events) if e.get("event") == "placement"), {})
    owner = next((e for e in reversed(events) if e.get("event") == "reattached"), first)  # who holds it now
    recent = events if newest is None else _events(newest)
    usage = _usage(next((e for e in reversed(recent) if e.get("event") == "usage"), {}))
    info = LiveRun(
        run_id,
        str(first.get("task")),
        str(first.get("agent")),
        str(first.get("time")),
        group.get("pgid") if group is not None and isinstance(group.get("pgid"), int) else None,
        owner.get("pid") if isinstance(owner.get("pid"), int) else None,
        owner.get("host") if isinstance(owner.get("host"), str) else None,
        _size(root, run_id),
        _text(placed.get("node_ip")),
        _text(placed.get("node_id")),
        placed.get("worker_pid") if isinstance(placed.get("worker_pid"), int) else None,
        usage.input_tokens,
        usage.output_tokens,
        usage.cost_usd,
    )
    return info, live


def _usage(event: dict[str, Any], run_id: str = "", task_id: str = "") -> RunUsage:
    """A ``usage`` line as the bus's event."""
    return RunUsage(run_id, task_id, *usage_of(event))


def _read_tail(fd: int) -> bytes:
    """The last :data:`TAIL` bytes of the events file (its first line there may be cut: it is skipped)."""
    return os.pread(fd, TAIL, max(os.fstat(fd).st_size - TAIL, 0))


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _read_head(fd: int, limit: int = HEAD) -> bytes:
    """The first ``limit`` bytes of the events file (a run's events are few; its output is elsewhere)."""
    return os.pread(fd, limit, 0)


def _size(root: Path, run_id: str) -> int:
    try:
        fd = open_run_file(root, run_id, OUTPUT_FILE)
    except OSError:
        return 0
    try:
        return os.fstat(fd).st_size
    finally:
        os.close(fd)


def run_ids(root: Path) -> list[str]:
    """Every run directory's name that is a run id, oldest first."""
    try:
        names = os.listdir(runs_dir(root))
    except OSError:
        return []
    return sorted(name for name in names if RUN_ID.fullmatch(name))


def live_runs(root: Path) -> list[LiveRun]:
    """Every live run of the project, whoever owns it, oldest first."""
    return [info for run_id in run_ids(root) if (info := run_info(root, run_id)) is not None]


def find_run(project: Project, ref: str) -> str:
    """The run ``ref`` names: a run id, or a task id (its live run, else its last run)."""
    if RUN_ID.fullmatch(ref):
        if not (runs_dir(project.root) / ref).is_dir():
            raise OrchestraError(f"no run {ref} in this project")
        return ref
    project.refresh()
    task = project.task(ref)  # unknown: a one-line error with a suggestion
    live = [run.run_id for run in live_runs(project.root) if run.task_id == ref]
    if live:
        return live[-1]
    if not task.last_run_id:
        raise OrchestraError(f"{ref} has no run yet")
    return task.last_run_id


def next_run(project: Project, task_id: str, poll: float = POLL) -> str | None:
    """Wait for a live run of the task, while one may still come: the task is pending or in progress and a
    driver (engine/driver.py) is alive or starting. Its run id, or None once none can come."""
    from .driver import drivers_coming

    while True:
        live = [run.run_id for run in live_runs(project.root) if run.task_id == task_id]
        if live:
            return live[-1]
        project.refresh()
        status = project.task(task_id).status
        if status not in (TaskStatus.PENDING, TaskStatus.IN_PROGRESS) or not drivers_coming(project.root):
            return None
        time.sleep(poll)


# ------------------------------------------------------------------------------------ reading


class OutputTail:
    """Reads one file of a run from ``offset`` on. The file may not exist yet (then nothing is read)."""

    def __init__(self, root: Path, run_id: str, offset: int = 0, name: str = OUTPUT_FILE) -> None:
        self.root, self.run_id, self.name = root, _valid(run_id), name
        self.offset = offset
        self._fd: int | None = None

    def read(self, limit: int = CHUNK) -> bytes:
        """The bytes written since the last read, at most ``limit``; ``b""`` when there are none (yet)."""
        if self._fd is None:
            try:
                self._fd = open_run_file(self.root, self.run_id, self.name)
            except FileNotFoundError:
                return b""
        data = os.pread(self._fd, limit, self.offset)
        self.offset += len(data)
        return data

    def held(self) -> bool:
        """Whether a process holds the file's lock (``events.jsonl``: the run is live), found on the descriptor this
        reader keeps rather than by opening the run's files again; False while the file does not exist."""
        if self._fd is None:
            self.read(0)
        return self._fd is not None and lock_held(self._fd)

    def size(self) -> int:
        """The file's size now (0 while it does not exist)."""
        if self._fd is None:
            self.read(0)
        return 0 if self._fd is None else os.fstat(self._fd).st_size

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> OutputTail:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


async def follow(root: Path, run_id: str, offset: int = 0, poll: float = POLL) -> AsyncIterator[bytes]:
    """The run's output from ``offset``, as it is written, until the run is over and everything was read.
    A run that is already over yields what it wrote and ends."""
    with OutputTail(root, run_id, offset) as tail:
        while True:
            live = is_live(root, run_id)  # looked at before reading: what the run wrote before it let go is read
            while data := tail.read():
                yield data
            if not live:
                return
            await asyncio.sleep(poll)


# ------------------------------------------------------------------------------------ cancelling


@dataclass(frozen=True)
class Cancelled:
    """What :func:`cancel_run` did: whether it committed the task's cancel, the process group it stopped, and
    whether the run was over when it returned. ``stopped`` is None when this call signalled no group: the run's
    owner, seeing the committed cancel, may stop its group first (the group is gone either way once ``ended``)."""

    run_id: str
    task_id: str
    committed: bool
    stopped: int | None
    ended: bool
    remote: bool = False  # a run on Ray nobody followed: it was found on the cluster and stopped there


def cancel_run(project: Project, run_id: str, wait: float = CANCEL_WAIT) -> Cancelled:
    """Cancel a live run whoever owns it (see the module docstring). Refused when the run is not live."""
    info = run_info(project.root, run_id)
    if info is None:
        raise OrchestraError(f"run {run_id} is not running")
    committed = True
    try:
        project.cancel_run(info.task_id, run_id)
    except TransitionError:  # the task moved on already: the run is ending as superseded
        committed = False
    stopped = _stop_group(project.root, run_id)
    deadline = time.monotonic() + wait
    while is_live(project.root, run_id) and time.monotonic() < deadline:  # bounded by ``wait``
        time.sleep(0.05)
    return Cancelled(run_id, info.task_id, committed, stopped, not is_live(project.root, run_id))


def orphan_of(project: Project, ref: str) -> tuple[str, str] | None:
    """The task and run that ``ref`` (a task id or a run id) names when it is a run on Ray that lost its process
    while it may live on (nobody follows it: see :func:`cancel_orphan`)."""
    project.refresh()
    for task in project.tasks.values():
        if ref in (task.task_id, task.last_run_id) and orphaned(project.root, task):
            return task.task_id, str(task.last_run_id)
    return None


def cancel_orphan(project: Project, task_id: str, run_id: str, wait: float = CANCEL_WAIT) -> Cancelled:
    """Cancel a run on Ray whose process died while it runs on. The run is taken over first, its task
    lock and live lock, as a driver reattaching it takes them (whichever comes first has it: a driver that did
    makes this an ordinary :func:`cancel_run`); holding them, the task's cancel is committed while the task is
    still in that run, the run stopped (its agent's stream and process group closed) and forgotten by its host,
    and the run's end recorded. Its output stays."""
    try:
        log = RunLog.reopen(project.root, run_id, task_id)
    except RunBusyError:  # a driver took it over in the meantime: it is a live run now
        return cancel_run(project, run_id, wait)
    try:
        committed = True
        try:
            project.cancel_run(task_id, run_id)
        except TransitionError:  # the task moved on (failed, retried): the run goes all the same
            committed = False
        killed = stop_on_ray(project, log, TaskStatus.CANCELLED.value if committed else "superseded")
    finally:
        log.close()
    return Cancelled(run_id, task_id, committed, None, True, killed)


def _stop_group(root: Path, run_id: str) -> int | None:
    """Stop the run's recorded process group, only while the run is live and the group is that very group."""
    try:
        fd = open_run_file(root, run_id, EVENTS_FILE)
    except OSError:
        return None
    try:
        if not lock_held(fd):
            return None
        events = _events(_read_head(fd))
    finally:
        os.close(fd)
    record = next((e for e in reversed(events) if e.get("event") == "process"), None)
    group = ProcessGroup.from_dict(record)
    if group is None or not is_live(root, run_id):
        return None
    if not group.stop():
        return None
    deadline = time.monotonic() + STOP_WAIT
    while group.alive() and time.monotonic() < deadline:  # SIGKILL sent: bounded wait for it to land
        time.sleep(0.02)
    return group.pgid


# ------------------------------------------------------------------------------------ a bus for all


@dataclass
class _Watched:
    info: LiveRun
    output: OutputTail
    events: OutputTail
    decoder: codecs.IncrementalDecoder = field(default_factory=lambda: codecs.getincrementaldecoder("utf-8")("replace"))
    pending: bytes = b""  # an events line not whole yet
    usage: RunUsage | None = None  # the run's totals as of its newest usage line


class RunWatcher:
    """Publishes on ``bus`` the runs of ``root`` that other processes own (runs whose owner is this process are
    left out: the runner publishes them). Call :meth:`poll` on a timer, or ``await`` :meth:`watch`.

    On first sight a run's last ``backlog`` bytes of output are published, then what it writes; when it ends,
    ``RunEnded`` with the task's status after it (``interrupted`` when it died without a word). Runs with ids
    from ``since`` on (a run id, or a driver's id) that began and ended between two polls are published too
    (start, output, end), so a follower misses none of the runs it started."""

    def __init__(
        self,
        root: Path,
        bus: Bus,
        *,
        backlog: int = BACKLOG,
        exclude_pid: int | None = None,
        since: str | None = None,
    ) -> None:
        self.root, self.bus, self.backlog, self.since = root, bus, backlog, since
        self.exclude_pid = os.getpid() if exclude_pid is None else exclude_pid
        self.runs: dict[str, _Watched] = {}
        self._seen: set[str] = set()

    def poll(self) -> None:
        """One look: new runs, new output, ended runs."""
        for run_id in run_ids(self.root):
            if run_id not in self._seen:
                self._discover(run_id)
        for run_id in list(self.runs):
            self._follow(run_id)

    def _discover(self, run_id: str) -> None:
        info, live = read_run(self.root, run_id)
        recent = self.since is not None and run_id >= self.since
        if info is None or not (live or recent):
            if not live:
                self._seen.add(run_id)  # over, or not a run; one being made is looked at again
            return
        self._seen.add(run_id)
        if info.owner_pid == self.exclude_pid:
            return
        offset = max(0, info.output_bytes - self.backlog)
        self.runs[run_id] = _Watched(
            info, OutputTail(self.root, run_id, offset), OutputTail(self.root, run_id, 0, EVENTS_FILE)
        )
        self.bus.publish(RunStarted(run_id, info.task_id, info.agent))
        if not live:
            self._follow(run_id)

    def _follow(self, run_id: str) -> None:
        watched = self.runs[run_id]
        live = watched.events.held()  # looked at before reading: what the run wrote before it let go is read
        self._publish_output(watched)
        end = self._read_events(watched)
        if end is None and live:
            return
        self._publish_output(watched, final=True)
        watched.output.close()
        watched.events.close()
        del self.runs[run_id]
        status = str(end.get("status")) if end is not None else INTERRUPTED
        error = end.get("error") if end is not None else INTERRUPTED
        seconds = end.get("seconds") if end is not None else 0.0
        usage = watched.usage or RunUsage(run_id, watched.info.task_id, None, None, None)
        self.bus.publish(
            RunEnded(
                run_id,
                watched.info.task_id,
                status,
                error if isinstance(error, str) else None,
                status == TaskStatus.IN_PROGRESS.value,
                usage.input_tokens,
                usage.output_tokens,
                usage.cost_usd,
                float(seconds) if isinstance(seconds, int | float) else 0.0,
            )
        )

    def _publish_output(self, watched: _Watched, final: bool = False) -> None:
        """What the run wrote since the last look; when it is more than ``SKIP_AFTER`` bytes ahead (a run writing
        faster than a face can show), only its last ``backlog`` bytes: memory stays bounded, output.txt has all."""
        tail = watched.output
        if tail.size() - tail.offset > SKIP_AFTER:
            tail.offset = tail.size() - self.backlog
            watched.decoder.reset()
        while data := tail.read():
            text = watched.decoder.decode(data)
            if text:
                self.bus.publish(RunOutput(watched.info.run_id, watched.info.task_id, text))
        if final:
            text = watched.decoder.decode(b"", True)
            if text:
                self.bus.publish(RunOutput(watched.info.run_id, watched.info.task_id, text))

    def _read_events(self, watched: _Watched) -> dict[str, Any] | None:
        """Publish the run's new retries and its newest usage; its ``end`` event once written."""
        end = None
        usage = None
        while data := watched.events.read():
            lines = (watched.pending + data).split(b"\n")
            watched.pending = lines.pop()
            for event in _events(b"\n".join(lines)):
                if event.get("event") == "retry":
                    attempt, delay = event.get("attempt"), event.get("delay")
                    self.bus.publish(
                        RunRetry(
                            watched.info.run_id,
                            watched.info.task_id,
                            attempt if isinstance(attempt, int) else 0,
                            float(delay) if isinstance(delay, int | float) else None,
                            str(event.get("reason", "")),
                        )
                    )
                elif event.get("event") == "usage":
                    usage = event
                elif event.get("event") == "end":
                    end = event
        if usage is not None:  # totals so far: the newest says all the others said
            watched.usage = _usage(usage, watched.info.run_id, watched.info.task_id)
            self.bus.publish(watched.usage)
        return end

    async def watch(self, poll: float = POLL) -> None:
        """Poll until cancelled."""
        try:
            while True:
                self.poll()
                await asyncio.sleep(poll)
        finally:
            self.close()

    def close(self) -> None:
        for watched in self.runs.values():
            watched.output.close()
            watched.events.close()
        self.runs.clear()

    def following(self) -> Iterable[LiveRun]:
        return [watched.info for watched in self.runs.values()]
