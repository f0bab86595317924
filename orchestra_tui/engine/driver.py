"""The driving loop in a process of its own, so runs outlive whoever started them (docs/ARCHITECTURE.md C10).

``orchestra run``, ``orchestra run --detach`` and the TUI's dispatch keys start a **driver**: ``python -m
orchestra_tui.engine.driver``, a new session (no terminal, so a hang-up or a kill of the starter never reaches
it), that runs :meth:`Scheduler.run` on the project: it keeps up to ``parallel_max`` runs going until nothing
(allowed) is ready and nothing runs, then exits. Each run inside it is an ordinary run (engine/runner.py):
it holds its live lock, writes its output and events to its run directory and commits its own end through
the journal, with the usual durability; a driver killed at any moment leaves its runs' tasks to recovery
(``failed: interrupted``), exactly as for any other process.

Why one process per start rather than one per run or a supervisor: a Python process costs about a third of
a second to start, so one per run would cap instant tasks far below 150/s, while a driver runs its tasks
in-process as fast as ``orchestra run`` ever did; and unlike a per-project supervisor it needs no socket,
no protocol and no idle timer: it exits when its work is done. Everything a face needs from it goes
through files: the runs (engine/liveruns.py reads and cancels any of them), the journal (cancelling a task
anywhere stops its run here: the scheduler watches it), and the driver's directory.

``.orchestra/drivers/<id>/``: ``driver.json`` (pid, start time, what it drives; the driver holds an
exclusive ``flock`` on it while it lives), ``log.txt`` (its stderr: a crash's traceback lands there, never
on a terminal), ``held`` (made when it stops dispatching), ``summary.json`` (written when it ends: results,
cancelled, interrupted, unusable).

Signals: SIGTERM or SIGINT stop it as Ctrl-C stopped ``orchestra run``: the running tasks fail with
``cancelled by user`` and keep their output. SIGUSR1 stops dispatching (autopilot off): the runs going
finish, nothing new starts, then it exits. :meth:`Driver.stop` sends them, checked against the driver's
lock and its start time, so a reused pid is never signalled.

A driver that drives the whole plan (neither ``only`` nor ``until``: ``orchestra run``, ``run --detach``, the
TUI's autopilot) is an **autopilot**: every face that opens shows it on while it lives and is not ``held``.
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import OrchestraError
from ..projectfiles import STATE_DIR
from ..store import fsio
from .runs import ProcessGroup, lock_held, new_run_id

if TYPE_CHECKING:
    from .scheduler import Summary

DRIVERS_DIR = "drivers"
RECORD_FILE = "driver.json"
LOG_FILE = "log.txt"
SUMMARY_FILE = "summary.json"
HELD_FILE = "held"
KEEP = 20  # ended drivers whose directory is kept
STARTING = 30.0  # seconds a driver's directory without its record counts as a driver starting up


def drivers_dir(root: Path) -> Path:
    return root / STATE_DIR / DRIVERS_DIR


# ------------------------------------------------------------------------------------ the starter's side


@dataclass
class Driver:
    """A driver process: started here (``process`` set) or found on disk (:func:`live_drivers`)."""

    root: Path
    driver_id: str
    pid: int
    group: ProcessGroup | None
    options: dict[str, Any]
    process: subprocess.Popen[bytes] | None = None

    @property
    def dir(self) -> Path:
        return drivers_dir(self.root) / self.driver_id

    def alive(self) -> bool:
        """Whether the driver still runs (for one started here: has not exited; else: holds its lock)."""
        if self.process is not None:
            return self.process.poll() is None
        return _locked(self.dir / RECORD_FILE)

    def stop(self, *, cancel_runs: bool = True) -> bool:
        """SIGTERM (cancel the runs going, as Ctrl-C) or SIGUSR1 (``cancel_runs`` False: start nothing more).
        Only a live driver, that very process, is signalled. False when it was not running."""
        sig = signal.SIGTERM if cancel_runs else signal.SIGUSR1
        if self.process is not None:  # our child: its pid cannot be reused before we reap it
            if self.process.poll() is not None:
                return False
            self.process.send_signal(sig)
            return True
        if not self.alive() or self.group is None or not self.group.alive():
            return False
        os.kill(self.pid, sig)
        return True

    async def ended(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for the driver to exit: for one started here, no longer than it takes (its
        pidfd tells), so whoever follows it goes on at once; for another, the time passes."""
        import asyncio

        if self.process is not None and self.process.poll() is not None:
            return
        try:
            fd = os.pidfd_open(self.pid) if self.process is not None else None
        except OSError:  # (an old kernel: no pidfd)
            fd = None
        if fd is None:
            await asyncio.sleep(timeout)
            return
        loop = asyncio.get_running_loop()
        exited: asyncio.Future[None] = loop.create_future()
        loop.add_reader(fd, lambda: None if exited.done() else exited.set_result(None))
        try:
            await asyncio.wait((exited,), timeout=timeout)
        finally:
            loop.remove_reader(fd)
            os.close(fd)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for a driver started here to exit; True when it has."""
        assert self.process is not None
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        return True

    @property
    def autopilot(self) -> bool:
        """Whether it drives the whole plan (no ``only``, no ``until``) until nothing is ready."""
        return self.options.get("only") is None and self.options.get("until") is None

    def held(self) -> bool:
        """Whether it was told to stop dispatching (SIGUSR1): the runs going finish, nothing new starts."""
        return (self.dir / HELD_FILE).exists()

    def summary(self) -> dict[str, Any] | None:
        """What the driver did (``summary.json``), once it has ended; None before, or when it died."""
        try:
            value = json.loads(fsio.read_bytes(self.dir / SUMMARY_FILE))
        except (OSError, ValueError):
            return None
        return value if isinstance(value, dict) else None

    def result(self) -> Summary:
        """The summary as the scheduler's :class:`Summary`; a one-line error when the driver died without one
        (its log is named) or stopped on an error."""
        from .runner import RunResult
        from .scheduler import Summary

        data = self.summary()
        if data is None:
            raise OrchestraError(f"the runs' process ended without a summary; its log is {self.dir / LOG_FILE}")
        if str(data.get("status", "")).startswith("error: "):
            raise OrchestraError(str(data["status"]).removeprefix("error: "))
        return Summary(
            results=[RunResult.from_dict(result) for result in data.get("results", [])],
            cancelled=list(data.get("cancelled", [])),
            interrupted=list(data.get("interrupted", [])),
            skipped=list(data.get("skipped", [])),
            unusable=dict(data.get("unusable", {})),
        )


def start_driver(
    root: Path,
    *,
    parallel: int | None = None,
    until: str | None = None,
    only: Sequence[str] | None = None,
    env: dict[str, str] | None = None,
) -> Driver:
    """Start a driver on the project at ``root`` and return at once. ``until``: only that task and what it
    needs; ``only``: only these tasks (the TUI's ``d``/``a``). Runs see ``env`` (default: this environment)."""
    root = Path(root).resolve()
    fsio.private_dir(root / STATE_DIR)
    fsio.private_dir(drivers_dir(root))
    _prune(root)
    driver_id = new_run_id()
    directory = drivers_dir(root) / driver_id
    os.mkdir(directory, fsio.DIR_MODE)
    options = {"parallel": parallel, "until": until, "only": list(only) if only is not None else None}
    argv = [sys.executable, "-m", "orchestra_tui.engine.driver", str(root), driver_id, json.dumps(options)]
    log = fsio.open_file(directory / LOG_FILE, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        process = subprocess.Popen(
            argv,
            cwd=root,
            env=os.environ if env is None else env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
            close_fds=True,
        )
    except OSError as error:
        raise OrchestraError(f"cannot start the driver: {error.strerror or error}") from None
    finally:
        os.close(log)
    return Driver(root, driver_id, process.pid, ProcessGroup.of(process.pid), options, process)


def _prune(root: Path) -> None:
    """Keep the directories of the last :data:`KEEP` drivers that ended (their log and summary); remove older ones."""
    try:
        names = sorted(os.listdir(drivers_dir(root)))
    except OSError:
        return
    ended = [name for name in names if (drivers_dir(root) / name / SUMMARY_FILE).exists()]
    for name in ended[:-KEEP] if len(ended) > KEEP else []:
        if not _locked(drivers_dir(root) / name / RECORD_FILE):
            shutil.rmtree(drivers_dir(root) / name, ignore_errors=True)


def live_drivers(root: Path) -> list[Driver]:
    """The drivers of the project still running, oldest first."""
    try:
        names = sorted(os.listdir(drivers_dir(root)))
    except OSError:
        return []
    found = []
    for name in names:
        record = drivers_dir(root) / name / RECORD_FILE
        if not _locked(record):
            continue
        try:
            data = json.loads(fsio.read_bytes(record))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and isinstance(data.get("pid"), int):
            group = ProcessGroup.from_dict(data.get("group"))
            found.append(Driver(Path(root), name, data["pid"], group, data.get("options") or {}))
    return found


def drivers_coming(root: Path) -> bool:
    """Whether a driver of the project runs or is starting up. :func:`start_driver` returns before the new
    process holds its record, so a directory made less than :data:`STARTING` seconds ago with no record (or an
    empty one) and no summary is a driver on its way: ``run --detach`` then ``logs --follow`` waits for it."""
    if live_drivers(root):
        return True
    try:
        names = os.listdir(drivers_dir(root))
    except OSError:
        return False
    now = time.time()
    for name in names:
        directory = drivers_dir(root) / name
        try:
            made = os.lstat(directory)
            record = os.lstat(directory / RECORD_FILE).st_size if (directory / RECORD_FILE).exists() else 0
        except OSError:
            continue
        starting = stat.S_ISDIR(made.st_mode) and record == 0 and not (directory / SUMMARY_FILE).exists()
        if starting and 0 <= now - made.st_mtime < STARTING:
            return True
    return False


def _locked(path: Path) -> bool:
    try:
        fd = fsio.open_file(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        return os.fstat(fd).st_size > 0 and lock_held(fd)
    finally:
        os.close(fd)


# ------------------------------------------------------------------------------------ the driver's side


@contextmanager
def _record(root: Path, driver_id: str, options: dict[str, Any]) -> Iterator[Path]:
    """Hold ``driver.json`` (locked, naming this process) for the driver's life."""
    directory = drivers_dir(root) / driver_id
    fd = fsio.open_file(directory / RECORD_FILE, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        group = ProcessGroup.of(os.getpid())
        data = {"pid": os.getpid(), "group": group.to_dict() if group else None, "options": options}
        fsio.write_all(fd, json.dumps(data).encode())
        yield directory
    finally:
        os.close(fd)


async def drive(scheduler: Any, options: dict[str, Any], directory: Path) -> Any:
    """Run the scheduler until done; SIGTERM/SIGINT cancel it, SIGUSR1 stops dispatching (and says so in
    ``directory``, so every face stops showing it as an autopilot)."""
    from .loop import close_clients, pidfd_child_watcher

    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    assert main is not None
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, main.cancel)

    def hold() -> None:
        scheduler.hold()
        fsio.atomic_write(directory / HELD_FILE, b"")

    loop.add_signal_handler(signal.SIGUSR1, hold)
    only = options.get("only")
    try:
        with pidfd_child_watcher():
            return await scheduler.run(options.get("until"), only=set(only) if only is not None else None)
    finally:
        await close_clients()


def _summary(summary: Any, status: str) -> dict[str, Any]:
    results = []
    for result in summary.results if summary is not None else []:
        data = result.to_dict()
        data.pop("output", None)  # in the run's output.txt; a summary stays small
        results.append(data)
    return {
        "status": status,
        "results": results,
        "cancelled": summary.cancelled if summary is not None else [],
        "interrupted": summary.interrupted if summary is not None else [],
        "skipped": summary.skipped if summary is not None else [],
        "unusable": summary.unusable if summary is not None else {},
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="orchestra-driver", description=__doc__.splitlines()[0])
    parser.add_argument("root")
    parser.add_argument("driver_id")
    parser.add_argument("options")
    args = parser.parse_args(argv)
    root, options = Path(args.root), json.loads(args.options)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    from .project import Project
    from .scheduler import Scheduler

    with _record(root, args.driver_id, options) as directory:
        status, summary = "done", None
        project = Project.open(root, actor="scheduler")
        try:
            scheduler = Scheduler(project, parallel=options.get("parallel"))
            try:
                summary = asyncio.run(drive(scheduler, options, directory))
            except (asyncio.CancelledError, KeyboardInterrupt):
                status, summary = "cancelled", scheduler.summary
            except OrchestraError as error:
                status, summary = f"error: {error}", scheduler.summary
            fsio.atomic_write(directory / SUMMARY_FILE, json.dumps(_summary(summary, status)).encode())
        finally:
            with suppress(Exception):
                project.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
