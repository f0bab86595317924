"""Drivers a test leaves going (the TUI's runs outlive the app, by design): stopped at the test's end, by the
process group each recorded, checked against its lock and start time (never by name)."""

from __future__ import annotations

from pathlib import Path

from orchestra_tui.engine.driver import DRIVERS_DIR, live_drivers
from orchestra_tui.engine.liveruns import live_runs
from orchestra_tui.engine.runs import ProcessGroup
from orchestra_tui.projectfiles import STATE_DIR

from .waits import wait_for

STOP_WAIT = 20.0  # seconds a stopped driver gets to cancel its runs and commit their ends


def projects_under(base: Path) -> list[Path]:
    """The projects under ``base`` that started a driver (``.orchestra/drivers`` at most three levels down)."""
    found = []
    for depth in range(4):
        pattern = "/".join(["*"] * depth + [STATE_DIR, DRIVERS_DIR])
        found += [path.parent.parent for path in base.glob(pattern)]
    return found


def stop_drivers(base: Path) -> None:
    """Stop every driver still running on a project under ``base`` (SIGTERM: its runs are cancelled and
    commit their end), then any run group still there (SIGKILL, after the driver's own bounded wait)."""
    for root in projects_under(base):
        drivers = live_drivers(root)
        for driver in drivers:
            driver.stop(cancel_runs=True)
        for driver in drivers:
            wait_for(lambda driver=driver: not driver.alive(), f"driver {driver.pid} stopped", STOP_WAIT)
        for run in live_runs(root):
            group = ProcessGroup.of(run.pgid) if run.pgid is not None else None
            if group is not None:
                group.stop()
