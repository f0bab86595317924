"""Crash safety of detached runs (docs/ARCHITECTURE.md C4, C10): every orchestra process of a project is
SIGKILLed at random moments while `orchestra run --detach` drives 50 shell tasks, over a hundred times.
After each kill, recovery leaves every task in exactly one state, none in progress, and the ones it failed
``interrupted`` are resumable (retried); each round then finishes, and its history never shows a task
completed twice, nor a completed task later failed."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from orchestra_tui.engine.driver import live_drivers
from orchestra_tui.engine.project import Project
from orchestra_tui.engine.runs import is_live, read_events, recover_interrupted, run_dir

from ..helpers.plans import task_block, write_plan

ENTRY_POINT = [sys.executable, "-m", "orchestra_tui"]
TASKS = 50
KILLS = 110
KILLS_PER_ROUND = 10


def plan(root: Path) -> None:
    body = "".join(
        task_block(
            f"T{i:02d}",
            [f"T{i - 10:02d}"] if i >= 10 else [],
            commands=[f"echo start-{i}; sleep 0.0{i % 4}; echo end-{i}"],
        )
        for i in range(TASKS)
    )
    path = write_plan(root, body)
    path.write_text(path.read_text().replace('name = "Test"', 'name = "Test"\nauto_complete = true\nparallel_max = 4'))


def processes_of(root: Path) -> list[int]:
    """Every orchestra process working on ``root`` (its path is on their command line)."""
    found = []
    marker = str(root).encode()
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            cmdline = Path(f"/proc/{name}/cmdline").read_bytes()
        except OSError:
            continue
        if b"orchestra_tui" in cmdline and marker in cmdline:
            found.append(int(name))
    return found


def kill_all(root: Path) -> None:
    """SIGKILL every orchestra process of ``root`` until three looks in a row find none: a process in the middle
    of ``execve`` (a driver being started) shows an empty command line for a moment, so one empty look is not
    proof that none is left."""
    quiet = 0
    for _ in range(200):  # bounded: a starter may be spawning its driver as we look
        pids = processes_of(root)
        quiet = 0 if pids else quiet + 1
        if quiet == 3:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.02)
    raise AssertionError(f"orchestra processes of {root} survive SIGKILL")


def stuck(project: Project) -> list[tuple[object, ...]]:
    """What recovery saw of each task left in progress: its run, whether the run's directory is there and live,
    and the run's event names (a failure says why the task was not judged interrupted)."""
    return [
        (
            task.task_id,
            task.last_run_id,
            task.attempts,
            bool(task.last_run_id) and run_dir(project.root, task.last_run_id).is_dir(),
            bool(task.last_run_id) and is_live(project.root, task.last_run_id),
            [(e.get("event"), e.get("attempt")) for e in read_events(project.root, task.last_run_id)]
            if task.last_run_id
            else [],
        )
        for task in project.tasks.values()
        if task.status.value == "in_progress"
    ]


def check_and_resume(root: Path) -> dict[str, str]:
    """Recover; no task left in progress; every interrupted one retried (resumable). The statuses."""
    with Project.open(root, actor="cli") as project:
        recover_interrupted(project)
        statuses = {task.task_id: task.status.value for task in project.tasks.values()}
        assert "in_progress" not in statuses.values(), (statuses, stuck(project))
        for task_id, status in statuses.items():
            assert status in ("pending", "completed", "failed"), (task_id, status)
            if status == "failed":
                assert project.task(task_id).last_error == "interrupted", project.task(task_id).last_error
                project.retry(task_id)
        return statuses


def check_history(root: Path) -> None:
    with Project.open(root, repair=False) as project:
        completed: set[str] = set()
        for entry in project.history():
            tasks = entry.extra.get("tasks") or []
            if entry.action == "complete":
                for task_id in tasks:
                    assert task_id not in completed, f"{task_id} completed twice ({entry.id})"
                    completed.add(task_id)
            elif entry.action == "fail":
                for task_id in tasks:
                    assert task_id not in completed, f"{task_id} failed after it completed ({entry.id})"
        assert completed == {f"T{i:02d}" for i in range(TASKS)}


@pytest.mark.slow
def test_sigkill_of_every_process_at_random_moments_of_a_detached_run(tmp_path: Path) -> None:
    rng = random.Random(10)
    kills, rounds = 0, 0
    while kills < KILLS:
        root = tmp_path / f"round-{rounds}"
        plan(root)
        for _ in range(KILLS_PER_ROUND):
            subprocess.Popen(
                [*ENTRY_POINT, "-p", str(root), "run", "--detach"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            if kills % 2:  # every other kill lands while the driver runs tasks, the others anywhere from the start
                deadline = time.monotonic() + 20
                while not live_drivers(root) and time.monotonic() < deadline:
                    time.sleep(0.01)
                time.sleep(rng.uniform(0.0, 0.4))
            else:
                time.sleep(rng.uniform(0.0, 1.5))
            kill_all(root)
            kills += 1
            if set(check_and_resume(root).values()) == {"completed"}:
                break
        finish = subprocess.run(
            [*ENTRY_POINT, "-p", str(root), "run"], stdin=subprocess.DEVNULL, capture_output=True, timeout=300
        )
        assert finish.returncode == 0, finish.stderr
        assert set(check_and_resume(root).values()) == {"completed"}
        check_history(root)
        rounds += 1
    assert kills >= 100
