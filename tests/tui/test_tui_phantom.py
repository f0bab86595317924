"""No phantom Running task after an undo or a rollback in the app (issue 10): going back to an entry where a
task was in progress, with its run long over, shows it failed ``interrupted`` at once (the engine's rule,
docs/ARCHITECTURE.md C2), not Running with nothing running. Real shell runs on a copy of the demo.
"""

from __future__ import annotations

from pathlib import Path

from orchestra_tui.tui.app import OrchestraApp
from orchestra_tui.tui.screens.rollback import ConfirmRollback
from orchestra_tui.tui.widgets.board import BoardView

from ..helpers.tui import app_on
from ..helpers.waits import until

SIZE = (120, 40)


def status(app: OrchestraApp, task_id: str) -> str:
    return app.session.project.tasks[task_id].status.value


def running(app: OrchestraApp) -> int:
    return app.session.figures()["running"]


async def test_undo_of_a_runs_end_leaves_no_phantom_running_task(demo_dir: Path, tmp_path: Path) -> None:
    app = app_on(demo_dir, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("d")
        await until(pilot, lambda: status(app, "DES-001") == "completed", "DES-001 run and completed", timeout=10)
        await pilot.press("u")  # undoes the run's end: back to the run going, but it is long over
        await until(pilot, lambda: app.session.project.history()[-1].action != "complete", "undone")
        await pilot.pause(0.1)
        task = app.session.project.tasks["DES-001"]
        assert (task.status.value, task.last_error) == ("failed", "interrupted")
        assert running(app) == 0 and app.query_one(BoardView).column_of("DES-001") != "running"


async def test_rollback_to_a_running_entry_leaves_no_phantom_running_task(demo_dir: Path, tmp_path: Path) -> None:
    app = app_on(demo_dir, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("d")
        await until(pilot, lambda: status(app, "DES-001") == "completed", "DES-001 run and completed", timeout=10)
        await pilot.press("3", "left", "enter")  # the entry where DES-001 started
        await until(pilot, lambda: isinstance(app.screen, ConfirmRollback), "the confirmation")
        await until(pilot, lambda: app.screen.changes is not None, "the changes listed")  # type: ignore[attr-defined]
        await pilot.press("y")
        await until(pilot, lambda: app.session.project.history()[-1].action == "rollback", "rolled back")
        await pilot.pause(0.1)
        task = app.session.project.tasks["DES-001"]
        assert (task.status.value, task.last_error) == ("failed", "interrupted")
        assert running(app) == 0
        await pilot.press("1")
        assert app.query_one(BoardView).column_of("DES-001") != "running"
