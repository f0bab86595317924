"""Runs the app does not own (issue 10): a run started by ``orchestra run`` in another process shows in the
output panes with its text so far when the app opens, then streams; ``x`` on its task cancels it for real
(the command's process group is gone, checked with ``os.kill(pid, 0)``) and keeps its output. The other
process is a real subprocess; the engine's ``liveruns`` does the following and the cancelling.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestra_tui.engine.liveruns import live_runs
from orchestra_tui.engine.runs import read_output
from orchestra_tui.tui.config import CONFIG_ENV
from orchestra_tui.tui.screens.dialogs import ConfirmDialog
from orchestra_tui.tui.widgets.output import OutputPanes

from ..helpers.plans import task_block, write_plan
from ..helpers.processes import group_alive
from ..helpers.tui import app_on
from ..helpers.waits import until, wait_for

SIZE = (120, 40)
TALKER = "echo first line; while [ ! -f more ]; do sleep 0.02; done; echo second line; while :; do sleep 0.05; done"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def cli_run(tmp_path: Path) -> Iterator[tuple[Path, subprocess.Popen[bytes]]]:
    """``orchestra run`` in a process of its own, on a plan whose one task talks, then waits for ever."""
    root = tmp_path / "p"
    write_plan(root, task_block("A", commands=[TALKER]))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    process = subprocess.Popen(
        [sys.executable, "-m", "orchestra_tui", "-p", str(root), "run"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**env, CONFIG_ENV: str(tmp_path / "config")},
        start_new_session=True,
    )
    try:

        def talked() -> bool:
            runs = live_runs(root)
            return bool(runs) and "first line" in (read_output(root, runs[0].run_id) or "")

        wait_for(lambda: process.poll() is not None or talked(), "first line of the CLI's run", timeout=20)
        assert process.poll() is None and talked(), "the CLI's run did not start"
        yield root, process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, 9)
        process.wait(timeout=10)


async def test_a_run_of_another_process_streams_into_a_pane_and_x_stops_its_process_group(
    cli_run: tuple[Path, subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    root, process = cli_run
    (run,) = live_runs(root)
    assert run.owner_pid not in (None, os.getpid()) and run.pgid is not None and group_alive(run.pgid)
    app = app_on(root, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        panes = app.query_one(OutputPanes)
        await until(pilot, lambda: run.run_id in panes.panes, "a pane for the other process's run")
        pane = panes.panes[run.run_id]
        await until(pilot, lambda: "first line" in "\n".join(pane.lines), "the text so far")
        await pilot.press("o")
        assert not any("no output to show yet" in n.message for n in app._notifications)
        (root / "more").touch()
        await until(pilot, lambda: "second line" in "\n".join(pane.lines), "the text as it comes", 3)
        assert app.selected == "A" and app.session.running_elsewhere("A") is not None
        await pilot.press("escape")
        await pilot.press("x")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the question")
        await pilot.press("y")
        await until(pilot, lambda: app.session.project.tasks["A"].status.value == "cancelled", "A cancelled", 15)
        await until(pilot, lambda: not group_alive(run.pgid), "the command's process group gone", 10)
        assert not pid_alive(run.pgid)  # os.kill(pid, 0): the command itself is gone
        await until(pilot, lambda: not pane.live, "the pane says the run is over", 5)
        assert pane.status == "cancelled"
    assert "second line" in (read_output(root, run.run_id) or "")  # the output is kept
    process.wait(timeout=15)  # the CLI's run saw its task cancelled and ended
