"""Runs outlive their starter (docs/ARCHITECTURE.md C10), through real processes: `orchestra run` killed with
SIGHUP or SIGKILL, `run --detach`, `ps`, `logs --follow`, cross-process `cancel`, rollback/undo past a run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from orchestra_tui.engine.driver import live_drivers
from orchestra_tui.engine.liveruns import live_runs
from orchestra_tui.engine.project import Project
from orchestra_tui.engine.runs import OUTPUT_FILE, run_dir

from ..helpers.plans import task_block, write_plan
from ..helpers.processes import group_alive
from ..helpers.waits import read_until, wait_for

ENTRY_POINT = [sys.executable, "-m", "orchestra_tui"]


def orchestra(root: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ENTRY_POINT, "-p", str(root), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "COLUMNS": "120"},
    )


def spawn(root: Path, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*ENTRY_POINT, "-p", str(root), *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "COLUMNS": "120"},
    )


def statuses(root: Path) -> dict[str, str]:
    with Project.open(root, repair=False) as project:
        return {task.task_id: task.status.value for task in project.tasks.values()}


def task(root: Path, task_id: str):
    with Project.open(root, repair=False) as project:
        return project.task(task_id)


def no_driver_left(root: Path) -> bool:
    return not live_drivers(root)


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGKILL])
def test_runs_outlive_a_starter_killed_and_commit_their_end(tmp_path: Path, sig: signal.Signals) -> None:
    path = write_plan(
        tmp_path,
        "".join(task_block(f"T{i}", commands=[f"echo begun-{i}; sleep 1; echo done-{i}"]) for i in range(3))
        + task_block("AFTER", ["T0"], commands=["echo after"]),
    )
    path.write_text(path.read_text().replace('name = "Test"', 'name = "Test"\nauto_complete = true'))
    starter = spawn(tmp_path, "run", "-j", "3")
    try:
        read_until(starter, b"started T2")
        starter.send_signal(sig)
        starter.wait(timeout=30)
        # a second process sees the runs go on, their output, and their end
        wait_for(
            lambda: statuses(tmp_path) == dict.fromkeys(("T0", "T1", "T2", "AFTER"), "completed") or None, "all end", 60
        )
        for i in range(3):
            shown = orchestra(tmp_path, "logs", f"T{i}")
            assert shown.returncode == 0 and shown.stdout == f"begun-{i}\ndone-{i}\n", shown
        wait_for(lambda: no_driver_left(tmp_path), "the driver exits once nothing is left to run", 60)
        assert orchestra(tmp_path, "ps").stdout.strip() == "no run is going"
    finally:
        starter.kill() if starter.poll() is None else None


def test_run_detach_returns_at_once_and_ps_logs_cancel_reach_the_run(tmp_path: Path) -> None:
    write_plan(tmp_path, task_block("L", commands=["echo first; sleep 0.5; echo second; exec sleep 60"]))
    started = orchestra(tmp_path, "run", "--detach")
    assert started.returncode == 0 and "started in the background" in started.stdout, started
    follower = spawn(tmp_path, "logs", "L", "--follow")
    try:
        read_until(follower, b"second")
        [row] = wait_for(lambda: json.loads(orchestra(tmp_path, "ps", "--json").stdout) or None, "ps shows the run", 60)
        assert row["task_id"] == "L" and row["agent"] == "shell" and row["pgid"] and row["output_bytes"] >= 6
        assert row["owner_pid"] and row["owner_host"] and row["elapsed_seconds"] >= 0
        assert (row["where"], row["node_id"], row["worker_pid"]) == ("local", None, None)
        table = orchestra(tmp_path, "ps").stdout
        assert table.startswith("TASK") and f" {row['pgid']} " in table and table.splitlines()[1].endswith(" local")
        cancelled = orchestra(tmp_path, "cancel", "L")  # process B; the run is the driver's
        assert cancelled.returncode == 0, cancelled
        assert cancelled.stdout.startswith(f"L cancelled: its run {row['run_id']} was stopped")
        wait_for(lambda: not group_alive(row["pgid"]), "the group is gone", 10)
        assert task(tmp_path, "L").status == "cancelled"
        assert (run_dir(tmp_path, row["run_id"]) / OUTPUT_FILE).read_text() == "first\nsecond\n"
        assert follower.wait(timeout=30) == 0  # the follower ends with the run
        assert orchestra(tmp_path, "ps", "--json").stdout.strip() == "[]"
        wait_for(lambda: no_driver_left(tmp_path), "the driver exits", 60)
        assert task(tmp_path, "L").status == "cancelled"  # the run's own end recorded nothing over it
        again = orchestra(tmp_path, "cancel", row["run_id"])
        assert again.returncode == 1 and again.stderr.strip() == f"error: run {row['run_id']} is not running"
    finally:
        follower.kill() if follower.poll() is None else None
        for run in live_runs(tmp_path):
            if run.pgid:
                os.killpg(run.pgid, signal.SIGKILL)


def test_rollback_and_undo_past_a_run_leave_no_phantom(tmp_path: Path) -> None:
    write_plan(tmp_path, task_block("Q", commands=["echo quick"]) + task_block("L", commands=["echo l; sleep 60"]))
    assert orchestra(tmp_path, "run", "--until", "Q").returncode == 0
    # undo Q's end: back to the moment Q was running, in a run that is over
    undone = orchestra(tmp_path, "undo")
    assert undone.returncode == 0, undone
    q = task(tmp_path, "Q")
    assert (q.status, q.last_error) == ("failed", "interrupted")
    assert (run_dir(tmp_path, q.last_run_id) / OUTPUT_FILE).read_text() == "quick\n"
    # roll back past a run that is going: the run stops and nothing is left in progress
    before = len(Project.open(tmp_path, repair=False).history())
    assert orchestra(tmp_path, "run", "--detach", "--until", "L").returncode == 0
    [run] = wait_for(lambda: [r for r in live_runs(tmp_path) if r.pgid], "L runs", 60)
    assert orchestra(tmp_path, "rollback", str(before), "--yes").returncode == 0
    wait_for(lambda: not live_runs(tmp_path), "the run stops once its task moved on", 60)
    wait_for(lambda: not group_alive(run.pgid), "the group is gone", 10)
    assert task(tmp_path, "L").status == "pending"
    # and undoing that rollback does not bring back a task running with nothing running
    assert orchestra(tmp_path, "undo").returncode == 0
    lt = task(tmp_path, "L")
    assert (lt.status, lt.last_error) == ("failed", "interrupted")
    assert "in_progress" not in statuses(tmp_path).values()


def test_ctrl_c_in_run_on_a_terminal_asks_and_can_leave_the_runs_going(tmp_path: Path) -> None:
    import pty
    import select

    write_plan(tmp_path, task_block("L", commands=["echo going; exec sleep 60"]))
    master, slave = pty.openpty()
    starter = subprocess.Popen(
        [*ENTRY_POINT, "-p", str(tmp_path), "run"],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env={**os.environ, "COLUMNS": "100", "TERM": "dumb"},
    )
    os.close(slave)

    def read_until_pty(text: bytes, timeout: float = 60) -> bytes:
        seen, deadline = b"", time.monotonic() + timeout
        while text not in seen:
            assert time.monotonic() < deadline, f"no {text!r}: {seen!r}"
            ready, _, _ = select.select([master], [], [], 1)
            if ready:
                seen += os.read(master, 65536)
        return seen

    try:
        [run] = wait_for(lambda: [r for r in live_runs(tmp_path) if r.pgid], "L runs", 60)
        starter.send_signal(signal.SIGINT)
        read_until_pty(b"Stop the runs going? [Y/n]")
        os.write(master, b"n\n")
        read_until_pty(b"left going in the background")
        assert starter.wait(timeout=30) == 130
        assert [r.run_id for r in live_runs(tmp_path)] == [run.run_id]  # still going
        assert task(tmp_path, "L").status == "in_progress"
        assert orchestra(tmp_path, "cancel", "L").returncode == 0
        wait_for(lambda: not group_alive(run.pgid), "the group is gone", 10)
        assert task(tmp_path, "L").status == "cancelled"
    finally:
        os.close(master)
        starter.kill() if starter.poll() is None else None
        for left in live_runs(tmp_path):
            if left.pgid:
                os.killpg(left.pgid, signal.SIGKILL)
