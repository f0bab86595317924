"""Runs started from the app outlive it (issue 10 item 1): ``d``, ``a`` and the autopilot start detached drivers
(engine/launcher.py), so quitting the app, a SIGHUP of it or a closed terminal ends no run; the app opened again
shows the runs going with their text so far. Real subprocesses throughout: the drivers, the shell commands,
and in one test the app itself on a pseudo-terminal; whatever a test leaves going is stopped by its process
group (tests/tui/conftest.py)."""

from __future__ import annotations

import asyncio
import fcntl
import os
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from contextlib import suppress
from pathlib import Path

from orchestra_tui.engine.driver import live_drivers
from orchestra_tui.engine.liveruns import LiveRun, live_runs
from orchestra_tui.engine.project import Project
from orchestra_tui.engine.runs import read_output
from orchestra_tui.tui.app import OrchestraApp
from orchestra_tui.tui.config import CONFIG_ENV
from orchestra_tui.tui.widgets.header import ProjectHeader
from orchestra_tui.tui.widgets.output import OutputPanes

from ..helpers.plans import task_block, write_plan
from ..helpers.processes import group_alive
from ..helpers.tui import SIZE, app_on
from ..helpers.waits import RUN_START, running, until, wait_for

SLOW = "echo started; while [ ! -f go ]; do sleep 0.02; done; echo finished"
ENTRY_POINT = [sys.executable, "-m", "orchestra_tui"]


def slow_plan(root: Path) -> Path:
    """One task that prints a line, waits for a file named ``go`` in the project, prints another and completes."""
    plan = write_plan(root, task_block("SLOW", commands=[SLOW]))
    plan.write_text(plan.read_text().replace('name = "Test"\n', 'name = "Test"\nauto_complete = true\n'))
    return root


def status(root: Path, task_id: str) -> str:
    """The task's status as a second process would read it: a project opened afresh on the store."""
    with Project.open(root, repair=False) as project:
        return project.tasks[task_id].status.value


def started_run(root: Path) -> LiveRun | None:
    """The live run once it has printed its first line."""
    runs = live_runs(root)
    return runs[0] if runs and "started" in (read_output(root, runs[0].run_id) or "") else None


def header(app: OrchestraApp) -> str:
    return str(app.query_one(ProjectHeader).render())


def notes(app: OrchestraApp) -> list[str]:
    return [notification.message for notification in app._notifications]


def pane_text(app: OrchestraApp, run_id: str) -> str:
    pane = app.query_one(OutputPanes).panes.get(run_id)
    return "" if pane is None else "\n".join(pane.lines)


async def reopen_and_finish(root: Path, tmp_path: Path, run: LiveRun) -> None:
    """Open the app again: the run going shows with its text so far, then streams to its end."""
    app = app_on(root, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: "started" in pane_text(app, run.run_id), "the text so far", timeout=10)
        assert app.session.running_elsewhere("SLOW") is not None  # a run no process of this app owns
        (root / "go").touch()
        await until(pilot, lambda: "finished" in pane_text(app, run.run_id), "the rest of the text", timeout=15)
        await until(pilot, lambda: app.session.project.tasks["SLOW"].status.value == "completed", "SLOW completed")


async def test_d_then_quitting_the_app_leaves_the_run_going_and_it_commits_its_end(tmp_path: Path) -> None:
    root = slow_plan(tmp_path / "p")
    app = app_on(root, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.selected == "SLOW"
        await pilot.press("d")
        await until(pilot, lambda: started_run(root) is not None, "the run's first line", RUN_START)
        run = started_run(root)
        assert run is not None and run.pgid is not None
        assert run.owner_pid != os.getpid()  # a driver process of its own holds the run, not the app's
        assert app.session.running_here("SLOW")
        await pilot.press("q")  # no question: quitting stops nothing
        await until(pilot, lambda: not app.is_running, "the app quit", timeout=10)
    assert group_alive(run.pgid) and running(run.owner_pid)  # neither the command nor its driver ended with the app
    assert status(root, "SLOW") == "in_progress" and [r.run_id for r in live_runs(root)] == [run.run_id]
    (root / "go").touch()
    wait_for(lambda: status(root, "SLOW") == "completed", "SLOW completed after the app was gone", 20)
    assert read_output(root, run.run_id) == "started\nfinished\n"
    assert not group_alive(run.pgid)
    wait_for(lambda: not live_drivers(root), "the driver gone once nothing is left to run", 15)


class Terminal:
    """``orchestra DIR`` on a pseudo-terminal (120x40), in a session of its own; ``d`` is typed once it has drawn."""

    def __init__(self, root: Path, tmp_path: Path) -> None:
        self.main, terminal = os.openpty()
        fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        clean = {k: v for k, v in os.environ.items() if k not in ("TMUX", "STY", "TERM_PROGRAM", "COLUMNS", "LINES")}
        self.process = subprocess.Popen(
            [*ENTRY_POINT, str(root)],
            stdin=terminal,
            stdout=terminal,
            stderr=terminal,
            env={**clean, CONFIG_ENV: str(tmp_path / "config"), "TERM": "xterm-256color"},
            start_new_session=True,
        )
        os.close(terminal)
        self.output = b""

    def read(self, timeout: float = 0.05) -> None:
        if self.main >= 0 and select.select([self.main], [], [], timeout)[0]:
            with suppress(OSError):  # the app closed the terminal
                self.output += os.read(self.main, 65536)

    def dispatch(self, root: Path) -> LiveRun:
        """Type ``d`` once the footer shows, until the run has printed its first line."""
        pressed, deadline = False, time.monotonic() + 30
        while (run := started_run(root)) is None:
            assert time.monotonic() < deadline and self.process.poll() is None, self.output[-2000:]
            self.read()
            if not pressed and b"Dispatch" in self.output:
                os.write(self.main, b"d")
                pressed = True
        return run

    def close(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        if self.main >= 0:
            os.close(self.main)
            self.main = -1


async def test_a_hang_up_of_the_app_in_a_real_terminal_leaves_the_run_going_and_reopening_shows_it(
    tmp_path: Path,
) -> None:
    """SIGHUP to the app's session and the terminal closed under it; the app opened again shows the run with
    its text so far, then its end."""
    root = slow_plan(tmp_path / "p")
    terminal = Terminal(root, tmp_path)
    try:
        run = terminal.dispatch(root)
        assert run.pgid is not None and run.owner_pid != terminal.process.pid
        os.killpg(terminal.process.pid, signal.SIGHUP)  # the app's whole session, as a hang-up reaches it
        os.close(terminal.main)
        terminal.main = -1
        terminal.process.wait(timeout=15)
    finally:
        terminal.close()
    assert group_alive(run.pgid) and status(root, "SLOW") == "in_progress"
    await reopen_and_finish(root, tmp_path, run)
    assert status(root, "SLOW") == "completed"
    assert read_output(root, run.run_id) == "started\nfinished\n"


def test_q_in_a_real_terminal_quits_at_once_and_says_the_run_goes_on(tmp_path: Path) -> None:
    root = slow_plan(tmp_path / "p")
    terminal = Terminal(root, tmp_path)
    try:
        run = terminal.dispatch(root)
        os.write(terminal.main, b"q")
        deadline = time.monotonic() + 15
        while terminal.process.poll() is None:
            assert time.monotonic() < deadline, terminal.output[-2000:]
            terminal.read()
        terminal.read(0.5)
    finally:
        terminal.close()
    assert terminal.process.returncode == 0
    assert b"1 run still going in the background: `orchestra ps` lists them" in terminal.output
    assert group_alive(run.pgid or 0) and [r.run_id for r in live_runs(root)] == [run.run_id]
    (root / "go").touch()
    wait_for(lambda: status(root, "SLOW") == "completed", "SLOW completed after the app was gone", 20)


async def test_the_autopilot_outlives_the_app_and_an_app_opened_later_shows_it_on_until_it_is_done(
    tmp_path: Path,
) -> None:
    root = tmp_path / "p"
    plan = write_plan(root, task_block("A", commands=[SLOW]) + task_block("B", ["A"], commands=["echo B"]))
    plan.write_text(plan.read_text().replace('name = "Test"\n', 'name = "Test"\nauto_complete = true\n'))
    app = app_on(root, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("A")
        await until(pilot, lambda: app.session.running_here("A"), "A running", RUN_START)
        assert "autopilot" in header(app)
        await pilot.press("q")
        await until(pilot, lambda: not app.is_running, "the app quit", timeout=10)
    again = app_on(root, tmp_path)
    async with again.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: "autopilot" in header(again), "the autopilot on, in an app opened later")
        (root / "go").touch()
        await until(
            pilot,
            lambda: any(n.startswith("autopilot done: 2 runs: 2 completed") for n in notes(again)),
            "the autopilot's end",
            RUN_START,
        )
        assert "autopilot" not in header(again) and not again.autopilot
    assert status(root, "A") == status(root, "B") == "completed"


async def test_with_an_agent_registered_from_code_runs_go_in_the_apps_process_and_q_asks(tmp_path: Path) -> None:
    """The Python API's agents exist only in the script's process (a driver would run the plan's agent of that
    name): there the runs, and the autopilot, go in the app's process, and quitting asks, as it cancels them."""
    from orchestra_tui import AgentRegistry, CustomAgent
    from orchestra_tui.tui.screens.dialogs import ConfirmDialog

    root = tmp_path / "p"
    plan = write_plan(root, task_block("A", commands=["exit 9"]) + task_block("B", ["A"], commands=["exit 9"]))
    plan.write_text(plan.read_text().replace('name = "Test"\n', 'name = "Test"\nauto_complete = true\n'))

    class Waits(CustomAgent):
        async def execute(self, task):  # type: ignore[no-untyped-def]
            while task.task_id == "B" and not (root / "go").exists():
                await asyncio.sleep(0.02)
            return f"code ran {task.task_id}"

    AgentRegistry().register(Waits(name="shell"))
    app = app_on(root, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("A")
        await until(pilot, lambda: app.session.running_here("B"), "B running", RUN_START)
        assert [run.owner_pid for run in live_runs(root)] == [os.getpid()] and not live_drivers(root)
        assert "autopilot" in header(app)
        await pilot.press("q")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the question")
        await pilot.press("n")
        await pilot.pause()
        assert app.is_running and app.session.running_here("B")
        await pilot.press("q")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the question again")
        await pilot.press("y")
        await until(pilot, lambda: not app.is_running, "the app quit", timeout=10)
    with Project.open(root) as project:
        assert project.tasks["A"].status.value == "completed"  # by the registered agent, not `exit 9`
        assert project.tasks["B"].status.value == "failed" and project.tasks["B"].last_error == "cancelled by user"
