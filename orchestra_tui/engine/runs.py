"""Run records under ``.orchestra/runs/<run_id>/``, and finding runs that died (DESIGN.md sections 2 and 6).

A run directory holds ``output.txt`` (every piece of text the agent streamed, appended with one ``write``
as it arrives, so it is whole up to the last piece even if the process is killed), ``verify.txt`` (the
verify commands' output), ``events.jsonl`` (one JSON object per line: the run's start, attempts, usage,
errors, verify results, its end and timings; never a key). The process running the run holds an exclusive
``flock`` on ``events.jsonl`` (the run's live lock) from before the task is started until after its final
state is committed; the kernel drops it when that process dies, however it dies. (A separate lock file
would cost one more file creation per run: a tenth of a run's overhead on instant tasks.)

Interrupted runs: :func:`recover_interrupted` fails (reason ``interrupted``) every ``in_progress`` task
whose current attempt is a run whose lock nobody holds. A task a person started by hand (``orchestra
start``) has no run for its current attempt and is left alone; so is a run handed off to a person
(``interactive``), which records ``handoff`` as its end.

Reading them back: :class:`RunIndex` lists a task's runs (the TUI's detail pane; the CLI could too).
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import TransitionError
from ..models import TaskStatus
from ..store import fsio
from .project import STATE_DIR, Project

RUNS_DIR = "runs"
OUTPUT_FILE = "output.txt"
VERIFY_FILE = "verify.txt"
EVENTS_FILE = "events.jsonl"
INTERRUPTED = "interrupted"


_last_micros = 0
_id_lock = threading.Lock()


def new_run_id() -> str:
    """Sortable by start time (UTC, to the microsecond; strictly increasing within a process) and unique
    across processes by a random suffix: ``20260125T093012.123456Z-3f9a1c``."""
    global _last_micros
    with _id_lock:
        _last_micros = max(time.time_ns() // 1000, _last_micros + 1)
        micros = _last_micros
    moment = datetime.fromtimestamp(micros // 1_000_000, timezone.utc)
    return f"{moment:%Y%m%dT%H%M%S}.{micros % 1_000_000:06d}Z-{secrets.token_hex(3)}"


def runs_dir(root: Path) -> Path:
    return root / STATE_DIR / RUNS_DIR


def run_dir(root: Path, run_id: str) -> Path:
    return runs_dir(root) / run_id


def _utc() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class RunLog:
    """The files of one live run, owned by this process until :meth:`close`."""

    def __init__(self, root: Path, run_id: str) -> None:
        self.run_id = run_id
        self.dir = run_dir(root, run_id)
        for directory in (self.dir.parent.parent, self.dir.parent):  # .orchestra/, runs/
            fsio.private_dir(directory)
        os.mkdir(self.dir, fsio.DIR_MODE)  # a fresh run id: never an existing directory (or a planted link)
        self._events_fd = fsio.open_file(self.dir / EVENTS_FILE, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        fcntl.flock(self._events_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a fresh file: nobody else can hold it
        self._output_fd = fsio.open_file(self.dir / OUTPUT_FILE, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        self._verify_fd: int | None = None
        self.output_bytes = 0
        self._t0 = time.monotonic()

    @property
    def output_path(self) -> Path:
        return self.dir / OUTPUT_FILE

    def elapsed(self) -> float:
        return round(time.monotonic() - self._t0, 3)

    def write_output(self, text: str) -> None:
        data = text.encode()
        _write_all(self._output_fd, data)
        self.output_bytes += len(data)

    def write_verify(self, data: bytes) -> None:
        if self._verify_fd is None:
            self._verify_fd = fsio.open_file(self.dir / VERIFY_FILE, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        _write_all(self._verify_fd, data)

    def event(self, name: str, /, **fields: Any) -> None:
        """One line of ``events.jsonl``: ``{"event": name, "time": ..., "t": seconds since start, ...}``."""
        record = {"event": name, "time": _utc(), "t": self.elapsed(), **fields}
        _write_all(self._events_fd, (json.dumps(record, ensure_ascii=False, default=str) + "\n").encode())

    def sync(self) -> None:
        """Make ``output.txt`` durable (before the task's final state is committed); nothing to do when empty."""
        if self.output_bytes:
            try:
                os.fsync(self._output_fd)
            except OSError:
                pass

    def close(self) -> None:
        """Release the live lock (after the run's final state is committed) and close the files."""
        if self._verify_fd is not None:
            os.close(self._verify_fd)
            self._verify_fd = None
        os.close(self._output_fd)
        os.close(self._events_fd)  # releases the flock


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def is_live(root: Path, run_id: str) -> bool:
    """True while some process (this one included) holds the run's lock."""
    try:
        fd = fsio.open_file(run_dir(root, run_id) / EVENTS_FILE, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as error:
        if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            return True
        raise
    finally:
        os.close(fd)  # also drops the shared lock just taken
    return False


def read_events(root: Path, run_id: str) -> list[dict[str, Any]]:
    """The run's events; a line torn by a crash is skipped."""
    try:
        text = fsio.read_bytes(run_dir(root, run_id) / EVENTS_FILE).decode("utf-8", errors="replace")
    except OSError:
        return []
    events = []
    for line in text.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict):
            events.append(event)
    return events


def read_output(root: Path, run_id: str | None, limit: int = -1) -> str | None:
    """A run's ``output.txt`` (its first ``limit`` bytes when given), or None when there is none."""
    if not run_id:
        return None
    try:
        return fsio.read_bytes(run_dir(root, run_id) / OUTPUT_FILE, 0, limit).decode("utf-8", errors="replace")
    except OSError:
        return None


@dataclass(frozen=True)
class RunSummary:
    """One run of a task, from its ``events.jsonl``."""

    run_id: str
    agent: str
    status: str  # the task's status after the run; "running" while it goes, "interrupted" if it died, "handed off"
    error: str | None
    seconds: float | None


def summarise(root: Path, run_id: str) -> RunSummary:
    """What one run did, or is doing."""
    events = read_events(root, run_id)
    agent = next((str(e.get("agent")) for e in events if e.get("event") == "run"), "?")
    if any(e.get("event") == "handoff" for e in events):
        return RunSummary(run_id, agent, "handed off", None, None)
    end = next((e for e in reversed(events) if e.get("event") == "end"), None)
    if end is not None:
        return RunSummary(run_id, agent, str(end.get("status")), end.get("error"), end.get("seconds"))
    return RunSummary(run_id, agent, "running" if is_live(root, run_id) else "interrupted", None, None)


class RunIndex:
    """The runs of each task of one project, read from its run directories.

    Which task a run belongs to is read once per run (a run's first line never changes), so listing a task's
    runs costs a directory listing plus reading that task's own runs. Removed run directories drop out."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._tasks: dict[str, str] = {}  # run id -> task id, for the run directories seen so far

    def runs_of(self, task_id: str) -> list[RunSummary]:
        """The task's runs, oldest first (run ids sort by start time)."""
        try:
            names = os.listdir(runs_dir(self.root))
        except OSError:
            names = []
        mine = []
        for run_id in sorted(names):
            owner = self._tasks.get(run_id)
            if owner is None:
                first = next((e for e in read_events(self.root, run_id) if e.get("event") == "run"), None)
                if first is None:
                    continue  # being made: its first line is not written yet
                owner = self._tasks[run_id] = str(first.get("task"))
            if owner == task_id:
                mine.append(summarise(self.root, run_id))
        return mine


def is_interrupted(root: Path, task_id: str, run_id: str | None, attempts: int) -> bool:
    """Whether an ``in_progress`` task's current attempt is a run that died (see the module docstring)."""
    if not run_id or not run_dir(root, run_id).is_dir() or is_live(root, run_id):
        return False
    events = read_events(root, run_id)
    if not any(e.get("event") == "run" and e.get("task") == task_id for e in events):
        return False
    if any(e.get("event") == "handoff" for e in events):
        return False
    started = [e.get("attempt") for e in events if e.get("event") == "started"]
    # No "started" line: the process died between committing the start and recording it.
    return not started or started[-1] == attempts


def recover_interrupted(project: Project) -> list[str]:
    """Fail, with reason ``interrupted``, every task whose run died while it was in progress; returns their ids.

    Called where orchestra starts running things (``execute``, ``run``, ``execute_task``, the TUI), not on
    every ``Project.open``: reading commands must not write, and a run can only be judged dead by checking
    its lock, which is only worth doing where runs are about to be started or shown."""
    project.refresh()
    failed = []
    for task in [task for task in project.tasks.values() if task.status == TaskStatus.IN_PROGRESS]:
        if not is_interrupted(project.root, task.task_id, task.last_run_id, task.attempts):
            continue
        # A run commits its final state before it lets go of its lock: catch up now, after seeing the lock
        # free, and the run's own ending (if it had one) is in the state.
        project.refresh()
        now = project.tasks.get(task.task_id)
        if now is None or now.status != TaskStatus.IN_PROGRESS or (now.last_run_id, now.attempts) != (task.last_run_id, task.attempts):
            continue
        try:
            project.fail(task.task_id, INTERRUPTED)
        except TransitionError:  # changed by another process in the meantime
            continue
        failed.append(task.task_id)
    return failed
