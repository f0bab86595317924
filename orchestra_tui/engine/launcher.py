"""How a face starts runs: in driver processes of their own (engine/driver.py), so that quitting the face,
a hang-up or a closed terminal ends none of them (docs/ARCHITECTURE.md C10).

The TUI's ``d`` starts a driver for one task (``only``), ``a`` one for the ready tasks that fit under
``parallel_max``, ``A`` one for the whole plan: an autopilot, exactly what ``orchestra run --detach`` starts.
From then on those runs are like any other process's: the face follows them from their files
(``liveruns.RunWatcher``), cancels them with ``liveruns.cancel_run`` and sees their ends in the journal.

The refusals and the choice of ready tasks are the scheduler's own (:meth:`Scheduler.check`,
:meth:`Scheduler.candidates`; this scheduler runs nothing). A slot is taken by every live run of the project,
whoever started it, and by every task handed to a driver started here whose run has not begun yet: a driver
takes a third of a second or more to start, and a second press meanwhile must neither start the task again
nor overfill ``parallel_max``.

The autopilot lives in a driver too, so it outlives the face as its runs do, and every face shows it on
while it lives and is not held (:meth:`Launcher.look`); switching it off (SIGUSR1) lets the runs going finish.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..errors import TransitionError
from ..models import TaskStatus
from .driver import Driver, live_drivers, start_driver
from .liveruns import live_runs
from .project import Project
from .scheduler import Scheduler


class Launcher:
    """Starts one face's runs in detached drivers and keeps track of them and of every autopilot."""

    def __init__(self, project: Project, *, env: Mapping[str, str] | None = None) -> None:
        self.project = project
        self.env = dict(env) if env is not None else None
        self.scheduler = Scheduler(project, env=env)  # its refusals and its choice of ready tasks only
        self.started: list[Driver] = []  # drivers started here, until seen ended
        self.handed: dict[str, Driver] = {}  # task id -> the driver started here for it (``d``, ``a``)
        self.autopilots: dict[str, Driver] = {}  # the autopilots on at the last look, whoever started them
        self.switched_off: set[str] = set()  # autopilots switched off here (their ``held`` may not be made yet)

    # -- runs -----------------------------------------------------------------------------------------

    def pending(self) -> set[str]:
        """The tasks handed to a live driver started here whose run has not begun (they are still ready)."""
        return {
            task_id
            for task_id, driver in self.handed.items()
            if self.project.status_of(task_id) == TaskStatus.READY and driver.alive()
        }

    def running(self) -> int:
        """The slots taken: every live run of the project, plus the tasks :meth:`pending` here."""
        return len(live_runs(self.project.root)) + len(self.pending())

    def mine(self, pid: int | None) -> bool:
        """Whether ``pid`` is a driver started here (a run it owns was started from this face)."""
        return any(driver.pid == pid and driver.alive() for driver in self.started)

    def dispatch(self, task_id: str) -> Driver:
        """Start the task's run in a driver of its own; refused (one line) as :meth:`Scheduler.dispatch` refuses."""
        if task_id in self.pending():
            raise TransitionError(f"{task_id} is already running")
        self.scheduler.check(task_id, running=self.running())
        return self._start([task_id])

    def dispatch_ready(self) -> list[str]:
        """Start the ready tasks, in recommended order, that fit under ``parallel_max`` (one driver for them);
        returns those started. ``scheduler.unusable`` then says which ready tasks were left out, and why."""
        self.project.refresh()
        self.scheduler.unusable = {}
        pending = self.pending()
        free = self.scheduler.parallel - self.running()
        if free <= 0:
            return []
        allowed = {task_id for task_id in self.project.graph.ready() if task_id not in pending} if pending else None
        started = self.scheduler.candidates(free, allowed)
        if started:
            self._start(started)
        return started

    def _start(self, only: list[str] | None) -> Driver:
        driver = start_driver(self.project.root, only=only, env=self.env)
        self.started.append(driver)
        for task_id in only or []:
            self.handed[task_id] = driver
        return driver

    # -- the autopilot --------------------------------------------------------------------------------

    @property
    def autopilot(self) -> Driver | None:
        """An autopilot on (any face's), as of the last :meth:`look` or switch."""
        return next(iter(self.autopilots.values()), None)

    def autopilot_on(self) -> Driver:
        """Start an autopilot: a driver on the whole plan, as ``orchestra run --detach``."""
        driver = self._start(None)
        self.autopilots[driver.driver_id] = driver
        return driver

    def autopilot_off(self) -> None:
        """Stop every autopilot on from dispatching (the runs going finish; each driver then exits)."""
        for driver in self.autopilots.values():
            driver.stop(cancel_runs=False)
            self.switched_off.add(driver.driver_id)
        self.autopilots.clear()

    def look(self) -> list[Driver]:
        """Catch up with the drivers: the autopilots on now, and the drivers that ended since the last look (every
        one started here, and the autopilots seen on), each returned once; none switched off here. An autopilot
        held elsewhere is off from then on, and not followed to its end."""
        ended = [driver for driver in self.started if not driver.alive()]
        gone = {driver.driver_id for driver in ended}
        self.started = [driver for driver in self.started if driver.driver_id not in gone]
        self.handed = {task_id: driver for task_id, driver in self.handed.items() if driver.driver_id not in gone}
        on = {
            driver.driver_id: driver
            for driver in [*live_drivers(self.project.root), *self.started]  # ours: also before they lock
            if driver.autopilot and driver.driver_id not in self.switched_off and not driver.held()
        }
        ended += [
            driver
            for key, driver in self.autopilots.items()
            if key not in on and key not in gone and not driver.alive()
        ]
        self.autopilots = on
        return [driver for driver in ended if driver.driver_id not in self.switched_off]
