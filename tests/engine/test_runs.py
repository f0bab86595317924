"""Reading runs back (engine/runs.py ``RunIndex``) and counting an entry's tasks as the board showed them
(``Project.status_counts_at``): real run directories written by the real runner and by ``RunLog``."""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

import pytest

from orchestra_tui.engine.project import BOARD_STATUSES, Project
from orchestra_tui.engine.runner import Runner
from orchestra_tui.engine.runs import RunIndex, RunLog, RunSummary, new_run_id, run_dir
from orchestra_tui.errors import OrchestraError

from ..helpers.plans import task_block, write_plan


async def test_runs_of_lists_a_tasks_runs_oldest_first_with_how_each_ended(tmp_path: Path) -> None:
    write_plan(
        tmp_path,
        task_block("A", commands=["echo trying", "test -f ok || exit 4"])
        + task_block("B", commands=["true"])
        + task_block("H", agent="interactive", description="By hand."),
    )
    with Project.open(tmp_path, actor="api") as project:
        runner = Runner(project)
        index = RunIndex(tmp_path)
        assert index.runs_of("A") == []  # no runs directory yet
        failed = await runner.execute("A")
        project.retry("A")
        (tmp_path / "ok").touch()
        passed = await runner.execute("A")
        other = await runner.execute("B")
        handed = await runner.execute(
            "H", env={"PATH": str(tmp_path / "no-clipboard-here")}
        )  # the hand-off only prints
        runs = index.runs_of("A")
        assert [run.run_id for run in runs] == [failed.run_id, passed.run_id]
        assert runs[0] == RunSummary(
            failed.run_id, "shell", "failed", "command 2 of 2 exited with 4: test -f ok || exit 4", runs[0].seconds
        )
        assert (
            runs[1].status == "review"
            and runs[1].error is None
            and runs[1].seconds is not None
            and runs[1].seconds >= 0
        )
        assert [run.run_id for run in index.runs_of("B")] == [other.run_id]
        assert [(run.run_id, run.agent, run.status) for run in index.runs_of("H")] == [
            (handed.run_id, "interactive", "handed off")
        ]
        shutil.rmtree(run_dir(tmp_path, failed.run_id))  # a removed run drops out
        assert [run.run_id for run in index.runs_of("A")] == [passed.run_id]


def test_a_run_going_is_running_one_that_died_is_interrupted_and_one_being_made_waits(tmp_path: Path) -> None:
    index = RunIndex(tmp_path)
    dead = RunLog(tmp_path, new_run_id())
    dead.event("run", task="A", agent="shell")
    dead.close()  # no end: as if its process died
    live = RunLog(tmp_path, new_run_id())
    live.event("run", task="A", agent="shell")
    making = RunLog(tmp_path, new_run_id())  # its first line is not written yet
    assert [(run.run_id, run.status) for run in index.runs_of("A")] == [
        (dead.run_id, "interrupted"),
        (live.run_id, "running"),
    ]
    making.event("run", task="A", agent="http")
    live.event("end", status="completed", error=None, seconds=1.5)
    live.close()
    runs = index.runs_of("A")
    assert [(run.run_id, run.agent, run.status) for run in runs] == [
        (dead.run_id, "shell", "interrupted"),
        (live.run_id, "shell", "completed"),
        (making.run_id, "http", "running"),
    ]
    assert runs[1].seconds == 1.5
    making.close()


def test_status_counts_at_each_entry_are_the_graphs_derived_counts_then(tmp_path: Path) -> None:
    """A random DAG driven through random actions: after every entry, the counts recomputed later for that
    entry equal what the graph (which the board shows) counted at the time."""
    rng = random.Random(5)
    ids = [f"T{n:02d}" for n in range(30)]
    write_plan(
        tmp_path,
        "".join(task_block(t, rng.sample(ids[:n], k=min(n, rng.choice([0, 1, 2, 3])))) for n, t in enumerate(ids)),
    )
    with Project.open(tmp_path, actor="api") as project:
        counted = {}
        for _ in range(60):
            graph_counts = {status: count for status, count in project.graph.counts().items() if count}
            counted[project.history()[-1].seq] = graph_counts
            ready, running = (
                project.graph.ready(),
                [t for t, task in project.tasks.items() if task.status == "in_progress"],
            )
            action = rng.choice(["start"] * 3 + ["finish"] * 3 + ["review", "fail"])
            if action == "start" and ready:
                project.start(rng.choice(ready))
            elif running:
                task_id = rng.choice(running)
                {"finish": project.complete, "review": project.review, "fail": lambda t: project.fail(t, "no")}.get(
                    action, project.complete
                )(task_id)
        assert {"ready", "blocked", "completed"} <= {status for counts in counted.values() for status in counts}
        for seq, expected in counted.items():
            got = project.status_counts_at(seq)
            assert got == expected, f"entry {seq}"
            assert list(got) == [status for status in BOARD_STATUSES if status in got]


def test_a_write_the_kernel_takes_nothing_of_is_an_error_not_an_endless_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write that takes zero bytes (a full device on some filesystems) ends the write with one line: the run
    log retries it at most a bounded number of times here (the fake gives up after 100 calls)."""
    log = RunLog(tmp_path, new_run_id())
    calls = 0
    real_write = os.write

    def write(fd: int, data: bytes | memoryview) -> int:
        nonlocal calls
        if fd != log._output_fd:
            return real_write(fd, data)
        calls += 1
        if calls > 100:
            raise RuntimeError("an endless loop of zero-byte writes")
        return 0

    monkeypatch.setattr(os, "write", write)
    with pytest.raises(OrchestraError, match="No space left on device"):
        log.write_output(b"some output")
    monkeypatch.undo()
    log.close()
    assert calls == 1
