"""Run records under ``.orchestra/runs/<run_id>/``, and finding runs that died (docs/ARCHITECTURE.md C2, C6).

A run directory holds ``output.txt`` (every piece of text the agent streamed, appended with one ``write``
as it arrives, so it is whole up to the last piece even if the process is killed), ``verify.txt`` (the
verify commands' output), ``events.jsonl`` (one JSON object per line: the run's start, attempts, usage,
errors, verify results, its end and timings; never a key). The process running the run holds an exclusive
``flock`` on ``events.jsonl`` (the run's live lock) from before the task is started until after its final
state is committed; the kernel drops it when that process dies, however it dies. (A separate lock file
would cost one more file creation per run: a tenth of a run's overhead on instant tasks.)

One live run per task: the run also holds an exclusive ``flock`` on ``.orchestra/run-locks/<task>.lock``
(:class:`TaskLock`) for its whole life, so a second run of the same task, from this process or another,
is refused (:class:`~orchestra_tui.errors.RunBusyError`). The lock file names the run and its current
process group (pid = pgid, the leader's start time from ``/proc/PID/stat`` and the boot id): each
process an agent starts is recorded there and as a ``process`` line in ``events.jsonl``.

Processes that outlive their run: task processes run in their own session, so a SIGKILL of orchestra
leaves them going. Whoever takes a task's lock next (a new run of it, or recovery) finds the group the
file names; if that very group is still alive (same boot, same leader start time, or, with the leader
gone, members of the same session started no earlier) it is stopped, SIGTERM then SIGKILL, before
anything else happens: never two copies of a task. The lock being free is what says the owner is dead,
so a live run's group is never touched, and a reused pid never matches.

Interrupted runs: :func:`recover_interrupted` fails (reason ``interrupted``) every ``in_progress`` task
whose current attempt is a run whose lock nobody holds, after stopping what is left of its processes. A
task a person started by hand (``orchestra start``) has no run for its current attempt and is left alone;
so is a run handed off to a person (``interactive``), which records ``handoff`` as its end; so is a run on
Ray that still lives on its project's run host (agents/ray_remote.py): the next scheduler takes it over
(:func:`reattachable`, :meth:`RunLog.reopen`) and reads the rest of it from the host.

Reading them back: :class:`RunIndex` lists a task's runs (the TUI's detail pane; the CLI could too).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import json
import os
import secrets
import signal
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from ..errors import OrchestraError, RunBusyError, TransitionError
from ..models import TaskStatus
from ..projectfiles import STATE_DIR
from ..redaction import redact_tree
from ..store import fsio

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from ..agents.base import Placement
    from ..models import AgentTask
    from ..plan.loader import Plan
    from ..store import Entry


class _Recovering(Protocol):
    """What recovery needs of an open project (``Project``; not imported: the project imports this module)."""

    @property
    def root(self) -> Path: ...

    @property
    def tasks(self) -> Mapping[str, AgentTask]: ...

    @property
    def plan(self) -> Plan: ...

    def refresh(self) -> bool: ...

    def fail(self, task_id: str, reason: str) -> Entry: ...


RUNS_DIR = "runs"
LOCKS_DIR = "run-locks"
OUTPUT_FILE = "output.txt"
VERIFY_FILE = "verify.txt"
EVENTS_FILE = "events.jsonl"
INTERRUPTED = "interrupted"
STOP_GRACE = 2.0  # seconds a leftover process group gets between SIGTERM and SIGKILL


_last_micros = 0
_id_lock = threading.Lock()


def new_run_id() -> str:
    """Sortable by start time (UTC, to the microsecond; strictly increasing within a process) and unique
    across processes by a random suffix: ``20260125T093012.123456Z-3f9a1c``."""
    global _last_micros
    with _id_lock:
        _last_micros = max(time.time_ns() // 1000, _last_micros + 1)
        micros = _last_micros
    moment = datetime.fromtimestamp(micros // 1_000_000, UTC)
    return f"{moment:%Y%m%dT%H%M%S}.{micros % 1_000_000:06d}Z-{secrets.token_hex(3)}"


# One encoder for every line of events.jsonl (five a run): ``json.dumps`` with options builds one per call.
_EVENT_LINE = json.JSONEncoder(ensure_ascii=False, default=str)


def runs_dir(root: Path) -> Path:
    return root / STATE_DIR / RUNS_DIR


def run_dir(root: Path, run_id: str) -> Path:
    return runs_dir(root) / run_id


def _utc() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


# ------------------------------------------------------------------------------------ process groups


@functools.cache  # a process lives in one boot: read once, not once per run (a file read on a busy disk)
def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _stat(pid: int) -> tuple[str, int, int, int] | None:
    """State, process group, session and start time (clock ticks since boot) of ``pid``, from ``/proc``."""
    try:  # (os.open, not open(): a buffered file object costs more than the read, once per command a run starts)
        fd = os.open(f"/proc/{pid}/stat", os.O_RDONLY)
    except OSError:
        return None
    try:
        text = os.read(fd, 4096).decode("ascii", "replace")
    except OSError:
        return None
    finally:
        os.close(fd)
    fields = text[text.rindex(")") + 2 :].split()  # the name in parentheses may hold spaces
    return fields[0], int(fields[2]), int(fields[3]), int(fields[19])


@dataclass(frozen=True)
class ProcessGroup:
    """A process group an agent started: its leader's pid (= pgid = session id, ``start_new_session``), the
    leader's start time and the boot it ran in: together they name this group, not a later one with the same id."""

    pgid: int
    start: int
    boot: str

    @classmethod
    def of(cls, pid: int) -> ProcessGroup | None:
        """The group ``pid`` leads, or None where ``/proc`` cannot tell (then it is never signalled)."""
        stat = _stat(pid)
        return None if stat is None else cls(pid, stat[3], _boot_id())

    @classmethod
    def from_dict(cls, data: object) -> ProcessGroup | None:
        if not isinstance(data, dict):
            return None
        pgid, start, boot = data.get("pgid"), data.get("start"), data.get("boot")
        if isinstance(pgid, int) and pgid > 1 and isinstance(start, int) and isinstance(boot, str):
            return cls(pgid, start, boot)
        return None

    def to_dict(self) -> dict[str, Any]:
        return {"pid": self.pgid, "pgid": self.pgid, "start": self.start, "boot": self.boot}

    def alive(self) -> bool:
        """Whether a process of this very group still runs (a zombie does not count)."""
        if not self.boot or self.boot != _boot_id():
            return False
        leader = _stat(self.pgid)
        if leader is not None and leader[3] == self.start:
            return leader[0] != "Z" or self._members()
        if leader is not None and leader[0] != "Z":
            return False  # the id now names another process: a later group
        return self._members()

    def _members(self) -> bool:
        """With the leader gone, the group's id cannot be reused while a member lives: look for members of the
        same session started no earlier than the leader."""
        for name in os.listdir("/proc"):
            if name.isdigit() and int(name) != self.pgid:
                stat = _stat(int(name))
                if stat is not None and stat[0] != "Z" and stat[1] == self.pgid == stat[2] and stat[3] >= self.start:
                    return True
        return False

    def stop(self, grace: float = STOP_GRACE) -> bool:
        """SIGTERM the group, SIGKILL it after ``grace`` seconds if it is still there. False: nothing was alive."""
        if not self.alive():
            return False
        _killpg(self.pgid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while self.alive() and time.monotonic() < deadline:  # bounded by the grace
            time.sleep(0.05)
        if self.alive():
            _killpg(self.pgid, signal.SIGKILL)
        return True


def _killpg(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


class TaskLock:
    """``.orchestra/run-locks/<task>.lock``: held (``flock``) by the process that owns the task's live run.

    Taking it refuses a second live run of the task (:class:`RunBusyError`), then stops what a dead owner
    left running (see the module docstring); ``stopped`` is that group, if any. ``run_id`` None: taken
    only to clean up (recovery), the file is left as it was."""

    def __init__(self, root: Path, task_id: str, run_id: str | None) -> None:
        directory = root / STATE_DIR / LOCKS_DIR
        self.path = directory / f"{task_id}.lock"
        self._fd = _made(lambda: fsio.open_file(self.path, os.O_RDWR | os.O_CREAT), directory)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            holder = _load(os.pread(self._fd, 4096, 0)).get("run_id")
            os.close(self._fd)
            if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                which = f"its run {holder} is" if isinstance(holder, str) else "another run of it is"
                raise RunBusyError(f"cannot start {task_id}: {which} still going; wait for it to end") from None
            raise
        left = ProcessGroup.from_dict(_load(os.pread(self._fd, 4096, 0)).get("group"))
        self.stopped = left if left is not None and left.stop() else None
        self.run_id = run_id
        if run_id is not None:
            self.record(None)

    def record(self, group: ProcessGroup | None) -> None:
        """Name the run's current process group (written over the old content, then cut: never empty)."""
        data = json.dumps({"run_id": self.run_id, "group": group.to_dict() if group else None}).encode()
        os.pwrite(self._fd, data, 0)
        os.ftruncate(self._fd, len(data))

    def close(self) -> None:
        os.close(self._fd)


_T = TypeVar("_T")
_checked: set[Path] = set()  # directories of run files this process has found private (or made so)


def _made(make: Callable[[], _T], *directories: Path) -> _T:
    """``make()`` a file or directory in ``directories[-1]``, each of ``directories`` checked private
    (:func:`fsio.private_dir`) once per process rather than once per run: six system calls of each run's start, in
    the thread that makes its files (each call hands the GIL over once). Gone since (``.orchestra/`` moved away):
    checked, and made, again."""
    for directory in directories:
        if directory not in _checked:
            fsio.private_dir(directory)
            _checked.add(directory)
    try:
        return make()
    except FileNotFoundError:
        _checked.difference_update(directories)
        for directory in directories:
            fsio.private_dir(directory)
            _checked.add(directory)
        return make()


def _load(data: bytes) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


# ------------------------------------------------------------------------------------ run files


class RunLog:
    """The files of one live run, owned by this process until :meth:`close`. With ``task_id``, the task's
    :class:`TaskLock` is taken first (nothing is created when another run of the task is live).

    A write that fails (disk full) raises an ``OrchestraError`` naming the file."""

    def __init__(self, root: Path, run_id: str, task_id: str | None = None) -> None:
        self.run_id = run_id
        self.dir = run_dir(root, run_id)
        self.task_lock = TaskLock(root, task_id, run_id) if task_id is not None else None
        try:  # a fresh run id: never an existing directory (or a planted link)
            _made(lambda: os.mkdir(self.dir, fsio.DIR_MODE), self.dir.parent.parent, self.dir.parent)
            self._events_fd = fsio.open_file(self.dir / EVENTS_FILE, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
            fcntl.flock(self._events_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a fresh file: nobody else can hold it
            self._output_fd = fsio.open_file(self.dir / OUTPUT_FILE, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        except BaseException:
            if self.task_lock is not None:
                self.task_lock.close()
            raise
        self._verify_fd: int | None = None
        self.output_bytes = 0
        self._direct = False  # an agent's processes write output.txt themselves (``output_file``)
        self._t0 = time.monotonic()
        if self.task_lock is not None and self.task_lock.stopped is not None:
            self.event("stopped_leftover", **self.task_lock.stopped.to_dict())

    @classmethod
    def reopen(cls, root: Path, run_id: str, task_id: str) -> RunLog:
        """The files of a run whose process died while its agent runs on (on Ray), taken over by this process:
        the task's lock and the run's live lock are taken again and its files appended to. ``RunBusyError``:
        another process has it."""
        log = cls.__new__(cls)
        log.run_id, log.dir = run_id, run_dir(root, run_id)
        log.task_lock = TaskLock(root, task_id, run_id)
        try:
            log._events_fd = fsio.open_file(log.dir / EVENTS_FILE, os.O_WRONLY | os.O_APPEND)
            try:
                fcntl.flock(log._events_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(log._events_fd)
                raise RunBusyError(f"cannot take over run {run_id}: another process has it") from None
            log._output_fd = fsio.open_file(log.dir / OUTPUT_FILE, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        except BaseException:
            log.task_lock.close()
            raise
        log._verify_fd = None
        log._direct = False
        log.output_bytes = os.fstat(log._output_fd).st_size
        log._t0 = time.monotonic()
        return log

    def record_process(self, pid: int) -> None:
        """An agent started process group ``pid``: recorded in ``events.jsonl`` and the task's lock file."""
        group = ProcessGroup.of(pid)
        if group is None:
            return
        self.event("process", **group.to_dict())
        if self.task_lock is not None:
            self.task_lock.record(group)

    def record_placement(self, placement: Placement) -> None:
        """A remote agent's worker answered: its node and pid, a ``placement`` line (``orchestra ps`` reads it)."""
        self.event("placement", node_id=placement.node_id, node_ip=placement.node_ip, worker_pid=placement.pid)

    @property
    def output_path(self) -> Path:
        return self.dir / OUTPUT_FILE

    def elapsed(self) -> float:
        return round(time.monotonic() - self._t0, 3)

    def write_output(self, data: bytes | str) -> None:
        """Append the bytes the agent produced, exactly as they came (text is written as UTF-8)."""
        if isinstance(data, str):
            data = data.encode()
        self._write(self._output_fd, data, OUTPUT_FILE)
        self.output_bytes += len(data)

    def output_file(self) -> int:
        """``output.txt``'s descriptor (appending), for an agent's processes to write into themselves; from then on
        ``output_bytes`` is the file's size, read back by :meth:`count_output` (and by :meth:`sync`)."""
        self._direct = True
        return self._output_fd

    def count_output(self) -> None:
        """``output_bytes`` from the file, when processes write it themselves (else it is counted as written)."""
        if self._direct:
            self.output_bytes = os.fstat(self._output_fd).st_size

    def write_verify(self, data: bytes) -> None:
        if self._verify_fd is None:
            self._verify_fd = fsio.open_file(self.dir / VERIFY_FILE, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        self._write(self._verify_fd, data, VERIFY_FILE)

    def event(self, name: str, /, **fields: Any) -> None:
        """One line of ``events.jsonl``: ``{"event": name, "time": ..., "t": seconds since start, ...}``."""
        record = {"event": name, "time": _utc(), "t": self.elapsed(), **redact_tree(fields)}
        self._write(self._events_fd, (_EVENT_LINE.encode(record) + "\n").encode(), EVENTS_FILE)

    def _write(self, fd: int, data: bytes, name: str) -> None:
        try:
            fsio.write_all(fd, data)
        except OSError as error:  # disk full, file too large: one line, not a traceback
            raise OrchestraError(fsio.describe_os_error(error, self.dir / name)) from None

    def sync(self) -> None:
        """Make ``output.txt`` durable (before the task's final state is committed); nothing to do when empty."""
        self.count_output()
        if self.output_bytes:
            with contextlib.suppress(OSError):
                os.fsync(self._output_fd)

    def close(self) -> None:
        """Release the live lock (after the run's final state is committed) and close the files."""
        if self._verify_fd is not None:
            os.close(self._verify_fd)
            self._verify_fd = None
        os.close(self._output_fd)
        os.close(self._events_fd)  # releases the flock
        if self.task_lock is not None:
            self.task_lock.close()


def lock_held(fd: int) -> bool:
    """Whether another process holds an exclusive ``flock`` on the file of ``fd`` (a shared one is taken and
    dropped at once to find out: only ever do this on a file whose owner locked it before writing to it)."""
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as error:
        if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            return True
        raise
    fcntl.flock(fd, fcntl.LOCK_UN)
    return False


def is_live(root: Path, run_id: str) -> bool:
    """True while some process (this one included) holds the run's lock."""
    try:
        fd = fsio.open_file(run_dir(root, run_id) / EVENTS_FILE, os.O_RDONLY)
    except OSError:
        return False
    try:
        return lock_held(fd)
    finally:
        os.close(fd)


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


def output_tail(root: Path, run_id: str, limit: int) -> tuple[bytes, int]:
    """The last ``limit`` bytes of a run's ``output.txt`` and its whole size (``b"", 0`` when there is none)."""
    try:
        with open(run_dir(root, run_id) / OUTPUT_FILE, "rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, size - limit))
            return handle.read(), size
    except OSError:
        return b"", 0


@dataclass(frozen=True)
class RunSummary:
    """One run of a task, from its ``events.jsonl``; its tokens and cost as of its newest ``usage`` line (so far,
    while it runs; None: not reported)."""

    run_id: str
    agent: str
    status: str  # the task's status after the run; "running" while it goes, "interrupted" if it died, "handed off"
    error: str | None
    seconds: float | None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None


def summarise(root: Path, run_id: str) -> RunSummary:
    """What one run did, or is doing."""
    events = read_events(root, run_id)
    agent = next((str(e.get("agent")) for e in events if e.get("event") == "run"), "?")
    spent = usage_of(next((e for e in reversed(events) if e.get("event") == "usage"), {}))
    if any(e.get("event") == "handoff" for e in events):
        return RunSummary(run_id, agent, "handed off", None, None, *spent)
    end = next((e for e in reversed(events) if e.get("event") == "end"), None)
    if end is not None:
        return RunSummary(run_id, agent, str(end.get("status")), end.get("error"), end.get("seconds"), *spent)
    return RunSummary(run_id, agent, "running" if is_live(root, run_id) else "interrupted", None, None, *spent)


def usage_of(event: Mapping[str, Any]) -> tuple[int | None, int | None, float | None]:
    """A ``usage`` line's input and output tokens and cost (the run's totals as of that line); a value of the
    wrong type is unknown (None)."""
    tokens_in, tokens_out, cost = event.get("input_tokens"), event.get("output_tokens"), event.get("cost_usd")
    return (
        tokens_in if isinstance(tokens_in, int) and not isinstance(tokens_in, bool) else None,
        tokens_out if isinstance(tokens_out, int) and not isinstance(tokens_out, bool) else None,
        float(cost) if isinstance(cost, int | float) and not isinstance(cost, bool) else None,
    )


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


def recover_interrupted(project: _Recovering) -> list[str]:
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
        if (
            now is None
            or now.status != TaskStatus.IN_PROGRESS
            or (now.last_run_id, now.attempts) != (task.last_run_id, task.attempts)
        ):
            continue
        if _remote_lives(project, task.last_run_id):
            continue  # its agent runs on: the next scheduler takes it over
        stop_leftovers(project.root, task.task_id)
        try:
            project.fail(task.task_id, INTERRUPTED)
        except TransitionError:  # changed by another process in the meantime
            continue
        failed.append(task.task_id)
    return failed


def executor_of(root: Path, run_id: str | None) -> str:
    """Where the run's agent ran (its first line says): ``local`` or ``ray``."""
    first = next((e for e in read_events(root, run_id) if e.get("event") == "run"), {}) if run_id else {}
    return str(first.get("executor") or "local")


def _remote_lives(project: _Recovering, run_id: str | None) -> bool:
    """Whether a dead run's agent runs on, on Ray: its host still has it."""
    if run_id is None or executor_of(project.root, run_id) != "ray":
        return False
    from ..agents.ray_remote import remote_alive

    settings = project.plan.project
    return remote_alive(settings.ray_address, settings.id, run_id)


def reattachable(project: _Recovering) -> list[str]:
    """The ``in_progress`` tasks whose run on Ray lost its process while it lived on (left so by
    :func:`recover_interrupted`), to be taken over."""
    return [task.task_id for task in project.tasks.values() if orphaned(project.root, task)]


def orphaned(root: Path, task: AgentTask) -> bool:
    """Whether the task is in a run on Ray that lost its process (nobody holds the run; it may live on)."""
    return (
        task.status == TaskStatus.IN_PROGRESS
        and is_interrupted(root, task.task_id, task.last_run_id, task.attempts)
        and executor_of(root, task.last_run_id) == "ray"
    )


def stop_stray(project: _Recovering, task_id: str, run_id: str) -> bool:
    """Stop a run on Ray that lost its process and that its task has since left: it is taken as a reattaching
    driver takes it (one that has it already is left to it), stopped on the cluster and dropped by its host, and
    its end recorded ``superseded``; its output stays. Whether it was there to stop."""
    try:
        log = RunLog.reopen(project.root, run_id, task_id)
    except (RunBusyError, OSError):
        return False
    try:
        return stop_on_ray(project, log, "superseded")
    finally:
        log.close()


def stop_on_ray(project: _Recovering, log: RunLog, status: str) -> bool:
    """Stop a run taken over from its dead process (``log``, from :meth:`RunLog.reopen`) on its Ray worker, drop it
    from its host and record its end as ``status``; whether it was there to stop."""
    settings = project.plan.project
    from ..agents.ray_remote import stop_remote

    stopped = stop_remote(settings.ray_address, settings.id, log.run_id)
    log.event("end", status=status, error=None, seconds=None)
    return stopped


def stop_leftovers(root: Path, task_id: str) -> ProcessGroup | None:
    """Stop the processes a dead run of ``task_id`` left going (see the module docstring); the group stopped.
    Nothing is done while a run of the task is live."""
    try:
        lock = TaskLock(root, task_id, None)
    except (RunBusyError, OSError):
        return None
    lock.close()
    return lock.stopped
