"""The launcher (engine/launcher.py): what a face starts goes in detached drivers, real processes here. A slot
is taken by every live run of the project and by every task handed to a driver that has not begun it; the
autopilot is a driver every face sees on until it is switched off (from any face), and its runs finish."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestra_tui.engine.launcher import Launcher
from orchestra_tui.engine.liveruns import live_runs
from orchestra_tui.engine.project import Project
from orchestra_tui.errors import OrchestraError, TransitionError

from ..helpers.drivers import stop_drivers
from ..helpers.plans import task_block, write_plan
from ..helpers.waits import wait_for

WAIT = "while [ ! -f go ]; do sleep 0.02; done"


def plan(root: Path, body: str, parallel: int) -> Path:
    path = write_plan(root, body)
    path.write_text(
        path.read_text().replace('name = "Test"\n', f'name = "Test"\nparallel_max = {parallel}\nauto_complete = true\n')
    )
    return root


@pytest.fixture
def faces(tmp_path: Path) -> Iterator[list[Project]]:
    """Two faces' handles on one project (another terminal's app is another process; its handle is its own)."""
    opened: list[Project] = []
    yield opened
    for project in opened:
        project.close()
    stop_drivers(tmp_path)


def face(root: Path, opened: list[Project]) -> Launcher:
    project = Project.open(root, actor="tui")
    opened.append(project)
    return Launcher(project)


def status(launcher: Launcher, task_id: str) -> str:
    launcher.project.refresh()
    return launcher.project.tasks[task_id].status.value


def test_a_task_handed_to_a_driver_holds_its_slot_before_its_run_begins_and_every_live_run_counts(
    tmp_path: Path, faces: list[Project]
) -> None:
    root = plan(tmp_path / "p", task_block("A", commands=[WAIT]) + task_block("B", commands=["echo B"]), parallel=1)
    here, there = face(root, faces), face(root, faces)
    here.dispatch("A")
    (driver,) = here.started
    assert here.pending() == {"A"} and driver.options["only"] == ["A"]
    with pytest.raises(TransitionError, match="A is already running"):
        here.dispatch("A")  # a second press while the driver starts
    with pytest.raises(OrchestraError, match="1 tasks are running, the plan's parallel_max; B can start"):
        here.dispatch("B")
    wait_for(lambda: live_runs(root), "A's run", 15)
    assert here.mine(live_runs(root)[0].owner_pid) and not there.mine(live_runs(root)[0].owner_pid)
    there.project.refresh()
    with pytest.raises(OrchestraError, match="1 tasks are running"):
        there.dispatch("B")  # a run another face started takes the slot too
    (root / "go").touch()
    wait_for(lambda: status(there, "A") == "completed", "A completed", 15)
    there.dispatch("B")
    wait_for(lambda: status(there, "B") == "completed", "B completed", 15)
    wait_for(lambda: not here.look() and not here.started, "both drivers seen ended", 15)


def test_a_wave_hands_the_ready_tasks_that_fit_to_one_driver_and_not_again_while_they_start(
    tmp_path: Path, faces: list[Project]
) -> None:
    body = "".join(task_block(task_id, commands=[f"echo {task_id}; {WAIT}"]) for task_id in "ABC")
    root = plan(tmp_path / "p", body, parallel=2)
    here = face(root, faces)
    assert here.dispatch_ready() == ["A", "B"]
    assert here.dispatch_ready() == []  # both slots taken by the tasks handed over
    assert len(here.started) == 1 and set(here.handed) == {"A", "B"}
    wait_for(lambda: len(live_runs(root)) == 2, "A's and B's runs", 15)
    assert here.dispatch_ready() == [] and status(here, "C") == "pending"
    (root / "go").touch()
    wait_for(lambda: status(here, "A") == status(here, "B") == "completed", "A and B completed", 15)
    assert here.dispatch_ready() == ["C"]
    wait_for(lambda: status(here, "C") == "completed", "C completed", 15)


def test_the_autopilot_is_on_for_every_face_until_one_switches_it_off_and_its_runs_finish(
    tmp_path: Path, faces: list[Project]
) -> None:
    root = plan(tmp_path / "p", task_block("A", commands=[WAIT]) + task_block("B", ["A"], commands=["echo B"]), 2)
    here, there = face(root, faces), face(root, faces)
    here.autopilot_on()
    (started,) = here.started
    assert here.autopilot and not here.look()  # on at once here, before its driver is up
    wait_for(lambda: not there.look() and there.autopilot, "the autopilot on for the other face", 15)
    assert list(there.autopilots) == [started.driver_id]
    wait_for(lambda: status(there, "A") == "in_progress", "A running", 15)
    there.autopilot_off()
    assert not there.autopilot
    wait_for(lambda: not here.look() and not here.autopilot, "the autopilot off here too", 15)
    assert started.alive() and status(here, "A") == "in_progress"  # off: the run going carries on
    (root / "go").touch()
    wait_for(lambda: status(here, "A") == "completed", "A completed", 15)
    ended = []
    wait_for(lambda: ended.extend(here.look()) or ended, "the driver ended", 15)
    (one,) = ended
    assert not one.autopilot and one.error is None and started.held()  # it stopped as it was told to: no "done"
    assert one.summary is not None and [r.task_id for r in one.summary.results] == ["A"]
    assert status(here, "B") == "pending"
