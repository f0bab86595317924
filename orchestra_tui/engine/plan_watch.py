"""Following the plan file while a face is open (issue 10, docs/ARCHITECTURE.md C8): a saved edit shows at once.

:meth:`PlanWatch.check` looks at the plan files (``orchestra.toml`` and the seed's JSON): one ``stat`` each,
compared by modification time, size and inode (an editor that saves by renaming changes the inode, one that
writes in place the size or the time), so it costs next to nothing on every refresh of a face (the TUI's
is 0.25 s). When they changed, the plan is read again and the state brought in line with it
(``Project.sync_plan``: one history entry, which the bus publishes as any other change).

An invalid plan changes nothing: the last valid plan stays in use and its tasks on show, and the problems
are published once as :class:`~.bus.PlanRejected` (every line, as ``orchestra validate`` gives them). A
problem is published only when the files are the same on the next look: an editor caught half-way through
a write does not raise a false alarm, at the cost of one refresh of delay for a real one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from ..errors import PlanError
from ..plan import load_plan
from ..plan.files import PLAN_FILE, SEED_CONFIG_FILE
from ..projectfiles import STATE_DIR
from .bus import Bus, PlanRejected
from .project import Project

Stamp = tuple[tuple[int, int, int] | None, ...]


class PlanWatch:
    """Watches the plan files of ``project``; problems go to ``bus``."""

    def __init__(self, project: Project, bus: Bus, environ: Mapping[str, str] | None = None) -> None:
        self.project, self.bus, self.environ = project, bus, environ
        self._seen = self._stamp()
        self._pending: Stamp | None = None  # files found invalid once, not yet said
        self._said: Stamp | None = None  # files whose problems were published

    def _stamp(self) -> Stamp:
        stamps: list[tuple[int, int, int] | None] = []
        for name in (PLAN_FILE, SEED_CONFIG_FILE):
            try:
                info = os.stat(self.project.root / name)
            except OSError:
                stamps.append(None)
            else:
                stamps.append((info.st_mtime_ns, info.st_size, info.st_ino))
        return tuple(stamps)

    def check(self) -> bool:
        """Take up a changed plan; True when the plan in use changed. Never raises for a bad plan (it publishes)."""
        stamp = self._stamp()
        if stamp == self._seen:
            if self._pending == stamp and self._said != stamp:
                self._reload(stamp, say=True)
            return False
        self._seen = stamp
        return self._reload(stamp, say=False)

    def _reload(self, stamp: Stamp, say: bool) -> bool:
        project = self.project
        previous = project.plan
        try:
            project.plan = load_plan(project.root, cache_dir=project.root / STATE_DIR, environ=self.environ)
            project.sync_plan()
        except PlanError as error:
            project.plan = previous
            self._pending = stamp
            if say:
                self._said = stamp
                self.bus.publish(PlanRejected(tuple(error.problems)))
            return False
        except BaseException:  # the state could not be brought in line (its lock, the disk): again next time
            project.plan, self._seen = previous, ()
            raise
        self._pending = self._said = None
        return project.plan.sha256 != previous.sha256
