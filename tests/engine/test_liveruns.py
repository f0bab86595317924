"""engine/liveruns.py through real processes: a run owned by one process is listed, read live, watched and
cancelled from another (docs/ARCHITECTURE.md C10)."""

from __future__ import annotations

import asyncio
import fcntl
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from orchestra_tui.engine.bus import Bus, RunEnded, RunOutput, RunStarted
from orchestra_tui.engine.driver import STARTING, SUMMARY_FILE, drivers_coming, drivers_dir
from orchestra_tui.engine.liveruns import (
    OutputTail,
    RunWatcher,
    cancel_run,
    find_run,
    follow,
    live_runs,
    next_run,
    open_run_file,
)
from orchestra_tui.engine.project import Project
from orchestra_tui.engine.runs import EVENTS_FILE, OUTPUT_FILE, new_run_id, run_dir
from orchestra_tui.errors import OrchestraError

from ..helpers.plans import task_block, write_plan
from ..helpers.processes import group_alive
from ..helpers.waits import wait_for

ENTRY_POINT = [sys.executable, "-m", "orchestra_tui"]


def start_run(root: Path) -> subprocess.Popen[bytes]:
    """Process A: ``orchestra run`` in a process of its own."""
    return subprocess.Popen(
        [*ENTRY_POINT, "-p", str(root), "run"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def test_a_run_of_another_process_is_listed_followed_and_cancelled(tmp_path: Path) -> None:
    write_plan(tmp_path, task_block("L", commands=["echo hello; sleep 0.3; echo two; exec sleep 60"]))
    owner = start_run(tmp_path)
    try:
        [run] = wait_for(lambda: [r for r in live_runs(tmp_path) if r.pgid], "the run is live with its group")
        assert (run.task_id, run.agent) == ("L", "shell")
        assert run.owner_pid not in (None, owner.pid, os.getpid())  # the driver `orchestra run` started
        assert run.owner_host and run.started.startswith("20")

        async def read_until_two() -> bytes:
            seen = b""
            async for chunk in follow(tmp_path, run.run_id):
                seen += chunk
                if b"two" in seen:
                    return seen
            return seen

        assert asyncio.run(asyncio.wait_for(read_until_two(), 30)) == b"hello\ntwo\n"
        with Project.open(tmp_path, actor="cli") as project:
            assert find_run(project, "L") == run.run_id
            done = cancel_run(project, run.run_id)
            # the owner's scheduler sees the committed cancel and may stop the group before cancel_run does
            assert done.committed and done.ended and done.stopped in (run.pgid, None)
            wait_for(lambda: not group_alive(run.pgid), "the group is gone", 10)
            project.refresh()
            assert project.task("L").status == "cancelled"
        assert (run_dir(tmp_path, run.run_id) / OUTPUT_FILE).read_bytes() == b"hello\ntwo\n"
        assert live_runs(tmp_path) == []
        owner.wait(timeout=30)
        with pytest.raises(OrchestraError, match="is not running"), Project.open(tmp_path) as project:
            cancel_run(project, run.run_id)
    finally:
        owner.kill() if owner.poll() is None else None


def test_a_watcher_publishes_the_runs_of_other_processes(tmp_path: Path) -> None:
    write_plan(tmp_path, task_block("W", commands=["echo first; sleep 0.5; echo second"]))
    owner = start_run(tmp_path)
    bus = Bus()
    events = bus.subscribe()
    watcher = RunWatcher(tmp_path, bus)
    try:
        ended = None
        deadline = time.monotonic() + 30
        seen: list[object] = []
        while ended is None and time.monotonic() < deadline:
            watcher.poll()
            seen += events.drain()
            ended = next((e for e in seen if isinstance(e, RunEnded)), None)
            time.sleep(0.05)
        assert isinstance(seen[0], RunStarted) and seen[0].task_id == "W"
        assert "".join(e.text for e in seen if isinstance(e, RunOutput)) == "first\nsecond\n"
        assert ended is not None and ended.status == "review" and ended.error is None
        owner.wait(timeout=30)
    finally:
        owner.kill() if owner.poll() is None else None
        watcher.close()


def test_no_symlink_is_followed_to_a_run_file(tmp_path: Path) -> None:
    write_plan(tmp_path, task_block("S", commands=["true"]))
    runs = tmp_path / ".orchestra" / "runs"
    runs.mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / OUTPUT_FILE).write_text("secret")
    run_id = "20260101T000000.000000Z-abcdef"
    (runs / run_id).symlink_to(elsewhere)
    with pytest.raises(OSError):
        open_run_file(tmp_path, run_id, OUTPUT_FILE)
    with pytest.raises(OrchestraError, match="not a run id"):
        OutputTail(tmp_path, "../../elsewhere")
    assert OutputTail(tmp_path, "20260101T000000.000000Z-000000").read() == b""


def test_following_a_task_waits_for_a_driver_still_starting(tmp_path: Path) -> None:
    """``run --detach`` returns before its driver holds its record; ``logs --follow`` right after must wait for it,
    not say "has no run yet". A driver directory with no record is one starting (for a while); one with a
    summary has ended."""
    write_plan(tmp_path, task_block("A", commands=["true"]))
    starting = drivers_dir(tmp_path) / new_run_id()
    starting.mkdir(parents=True)  # as start_driver leaves it until the new process takes its record
    found: list[str | None] = []
    with Project.open(tmp_path) as project:
        waiting = threading.Thread(target=lambda: found.append(next_run(project, "A", poll=0.02)), daemon=True)
        waiting.start()
        waiting.join(timeout=0.5)
        assert waiting.is_alive() and found == []  # still waiting for the driver on its way
        (starting / SUMMARY_FILE).write_text("{}")  # it ended without a run of A
        waiting.join(timeout=30)
    assert not waiting.is_alive() and found == [None]


def test_a_stale_or_planted_driver_directory_is_not_waited_for(tmp_path: Path) -> None:
    write_plan(tmp_path, task_block("A", commands=["true"]))
    old = drivers_dir(tmp_path) / new_run_id()
    old.mkdir(parents=True)
    os.utime(old, (time.time() - STARTING - 5, time.time() - STARTING - 5))  # made long ago: it never started
    (drivers_dir(tmp_path) / "link").symlink_to(tmp_path)  # a planted link is no driver
    assert not drivers_coming(tmp_path)
    with Project.open(tmp_path) as project:
        assert next_run(project, "A", poll=0.02) is None


def test_following_a_run_locked_before_its_first_line_waits_for_its_output(tmp_path: Path) -> None:
    """A run's owner locks its events file before writing its first line: following it in that moment goes on
    until the lock is let go (it used to end at once, the run taken for over until its first line)."""
    run_id = new_run_id()
    directory = run_dir(tmp_path, run_id)
    directory.mkdir(parents=True)
    (directory / OUTPUT_FILE).write_bytes(b"")
    owner = os.open(directory / EVENTS_FILE, os.O_WRONLY | os.O_CREAT, 0o600)
    fcntl.flock(owner, fcntl.LOCK_EX)

    def write_then_let_go() -> None:
        time.sleep(0.3)
        with open(directory / OUTPUT_FILE, "ab") as output:
            output.write(b"late\n")
        time.sleep(0.3)
        os.close(owner)  # releases the lock: the run is over

    async def read_all() -> bytes:
        return b"".join([chunk async for chunk in follow(tmp_path, run_id, poll=0.05)])

    writer = threading.Thread(target=write_then_let_go)
    writer.start()
    try:
        assert asyncio.run(asyncio.wait_for(read_all(), 30)) == b"late\n"
    finally:
        writer.join(timeout=30)
