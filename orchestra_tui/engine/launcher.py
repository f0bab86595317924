"""How a face starts runs: in driver processes of their own (engine/driver.py), so that quitting the face,
a hang-up or a closed terminal ends none of them (docs/ARCHITECTURE.md C10).

The TUI's ``d`` starts a driver for one task (``only``), ``a`` one for the ready tasks that fit under
``parallel_max``, ``A`` one for the whole plan: an autopilot, exactly what ``orchestra run --detach`` starts.
From then on those runs are like any other process's: the face follows them from their files
(``liveruns.RunWatcher``), cancels them with ``liveruns.cancel_run`` and sees their ends in the journal.
A face that opens on a run on Ray whose process died while it runs on hands it to a driver too
(:func:`take_over`), so it is followed and committed without anyone running ``orchestra run``.

The refusals and the choice of ready tasks are the scheduler's own (:meth:`Scheduler.check`,
:meth:`Scheduler.candidates`). A slot is taken by every live run of the project, whoever started it, and by
every task handed to a driver started here whose run has not begun yet: a driver takes a third of a second
or more to start, and a second press meanwhile must neither start the task again nor overfill
``parallel_max``.

The autopilot lives in a driver too, so it outlives the face as its runs do, and every face shows it on
while it lives and is not held (:meth:`Launcher.look`); switching it off (SIGUSR1) lets the runs going finish.

One exception: agents registered from code (the Python API) exist only in the process that registered them,
and a driver would run the plan's agent of that name instead. While any is registered, everything runs here,
in the face's own process, through its scheduler (the scheduler's jobs, and its driving loop for the
autopilot), as before runs outlived the window; those runs end with the face.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from dataclasses import dataclass

from ..errors import OrchestraError, TransitionError
from ..models import TaskStatus
from .bus import Bus, EngineError
from .driver import Driver, live_drivers, start_driver
from .liveruns import live_runs
from .project import Project
from .runner import RunResult
from .runs import reattachable
from .scheduler import Scheduler, Summary


@dataclass(frozen=True)
class Ended:
    """A driver started here, or an autopilot seen on, that ended. ``autopilot``: it drove the plan and ran out
    of ready tasks (not switched off, not stopped); ``summary`` what it did; ``error`` the one line it died with."""

    autopilot: bool
    summary: Summary | None
    error: str | None = None


def in_process() -> bool:
    """Whether runs must go in this process: agents are registered from code here (see the module docstring)."""
    from ..agents.registry import process_agents

    return bool(process_agents())


class Launcher:
    """Starts one face's runs (in detached drivers, or here: :func:`in_process`) and keeps track of them and of
    every autopilot. ``bus`` and ``env`` are the in-process scheduler's; ``env`` is also the drivers'."""

    def __init__(self, project: Project, *, bus: Bus | None = None, env: Mapping[str, str] | None = None) -> None:
        self.project = project
        self.env = dict(env) if env is not None else None
        self.scheduler = Scheduler(project, bus=bus, env=env)
        self.started: list[Driver] = []  # drivers started here, until seen ended
        self.handed: dict[str, Driver] = {}  # task id -> the driver started here for it (``d``, ``a``)
        self.autopilots: dict[str, Driver] = {}  # the autopilots on at the last look, whoever started them
        self.switched_off: set[str] = set()  # autopilots switched off here (their ``held`` may not be made yet)
        self.drive: asyncio.Task[Summary] | None = None  # the in-process autopilot while it is on

    # -- runs -----------------------------------------------------------------------------------------

    def pending(self) -> set[str]:
        """The tasks handed over here whose run has not begun: to a live driver (they are still ready), or to
        this process's scheduler."""
        handed = {
            task_id
            for task_id, driver in self.handed.items()
            if self.project.status_of(task_id) == TaskStatus.READY and driver.alive()
        }
        return handed | (self.scheduler.jobs.keys() - self.scheduler.runs.keys())

    def running(self) -> int:
        """The slots taken: every live run of the project, plus the tasks :meth:`pending` here."""
        return len(live_runs(self.project.root)) + len(self.pending())

    def mine(self, pid: int | None) -> bool:
        """Whether ``pid`` is a process started here (or this one): a run it owns was started from this face."""
        return pid == os.getpid() or any(driver.pid == pid and driver.alive() for driver in self.started)

    def dispatch(self, task_id: str) -> None:
        """Start the task's run; refused (one line) as :meth:`Scheduler.dispatch` refuses, counting every run."""
        if task_id in self.pending():
            raise TransitionError(f"{task_id} is already running")
        self.scheduler.check(task_id, running=self.running())
        if in_process():
            self._watch(self.scheduler.dispatch(task_id), task_id)
        else:
            self._start([task_id])

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
        if started and in_process():
            for task_id in started:
                self._watch(self.scheduler.dispatch(task_id), task_id)
        elif started:
            self._start(started)
        return started

    def take_over(self) -> list[str]:
        """:func:`take_over` from this face (the driver is followed as ``d``'s); the tasks handed over."""
        driver = take_over(self.project, self.env)
        if driver is None:
            return []
        self.started.append(driver)
        orphans = list(driver.options["only"])
        self.handed.update(dict.fromkeys(orphans, driver))
        return orphans

    def _start(self, only: list[str] | None) -> Driver:
        driver = start_driver(self.project.root, only=only, env=self.env)
        self.started.append(driver)
        for task_id in only or []:
            self.handed[task_id] = driver
        return driver

    def _watch(self, job: asyncio.Task[RunResult | None], task_id: str) -> None:
        """An in-process job that raises (its final commit failed) becomes an ``EngineError`` on the bus."""

        def done(job: asyncio.Task[RunResult | None]) -> None:
            if not job.cancelled() and job.exception() is not None:
                self.scheduler.bus.publish(EngineError(f"the run of {task_id} failed: {job.exception()}", task_id))

        job.add_done_callback(done)

    # -- the autopilot --------------------------------------------------------------------------------

    @property
    def autopilot(self) -> bool:
        """Whether an autopilot is on (any face's, as of the last :meth:`look` or switch)."""
        return bool(self.autopilots) or self.drive is not None

    def autopilot_on(self) -> None:
        """Start an autopilot: a driver on the whole plan, as ``orchestra run --detach`` (here: the scheduler's
        driving loop, when runs must go in this process)."""
        if in_process():
            self.drive = asyncio.create_task(self.scheduler.drive(), name="autopilot")
            return
        driver = self._start(None)
        self.autopilots[driver.driver_id] = driver

    def autopilot_off(self) -> None:
        """Stop every autopilot on from dispatching (the runs going finish; each driver then exits)."""
        for driver in self.autopilots.values():
            driver.stop(cancel_runs=False)
            self.switched_off.add(driver.driver_id)
        self.autopilots.clear()
        if self.drive is not None:
            self.drive.cancel()  # the driving loop only: its runs carry on
            self.drive = None

    def look(self) -> list[Ended]:
        """Catch up with the drivers: the autopilots on now, and what ended since the last look (every driver
        started here, the autopilots seen on, the in-process autopilot), each once; none switched off here.
        An autopilot held elsewhere is off from then on, and not followed to its end."""
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
        found = [_ended(driver) for driver in ended if driver.driver_id not in self.switched_off]
        if self.drive is not None and self.drive.done():
            drive, self.drive = self.drive, None
            error = None if drive.cancelled() else drive.exception()
            summary = None if error is not None or drive.cancelled() else drive.result()
            found.append(Ended(summary is not None, summary, _line(error)))
        return found

    async def close(self) -> None:
        """Stop what runs in this process (its runs fail ``cancelled by user`` and keep their output); the
        drivers carry on."""
        if self.drive is not None:
            self.drive.cancel()
        await self.scheduler.cancel_all()


def take_over(project: Project, env: Mapping[str, str] | None = None) -> Driver | None:
    """Hand the runs on Ray whose process died while they run on (:func:`..runs.reattachable`) to a
    driver, which takes them over as ``orchestra run`` does: it streams the rest and commits each outcome once.
    Called where a face opens, after recovery (a face that finds one, not only a scheduler, gets it followed
    again). None: there were none."""
    orphans = reattachable(project)
    return start_driver(project.root, only=orphans, env=dict(env) if env is not None else None) if orphans else None


def _ended(driver: Driver) -> Ended:
    try:
        summary = driver.result()
    except OrchestraError as error:
        return Ended(False, None, str(error))
    finished = (driver.summary() or {}).get("status") == "done" and not driver.held()
    return Ended(driver.autopilot and finished, summary)


def _line(error: BaseException | None) -> str | None:
    if error is None:
        return None
    return (
        str(error) if isinstance(error, OrchestraError) else f"the autopilot stopped: {type(error).__name__}: {error}"
    )
