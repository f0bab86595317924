"""Opening a project for a command, without typer: the typer commands (``context.open_project``) and the ones
``entry.py`` runs directly (``direct.py``) open it the same way and say the same things on stderr."""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import OrchestraError

if TYPE_CHECKING:
    from ..engine.project import Project
    from ..store import Store

LOCK_TIMEOUT_ENV = "ORCHESTRA_LOCK_TIMEOUT"


def lock_timeout() -> float:
    """Seconds a change waits for another process's lock: $ORCHESTRA_LOCK_TIMEOUT, else 30."""
    try:
        return max(0.0, float(os.environ.get(LOCK_TIMEOUT_ENV, "30")))
    except ValueError:
        raise OrchestraError(f"${LOCK_TIMEOUT_ENV} must be a number of seconds") from None


def note_waiting(message: str) -> None:
    """A line on stderr, flushed at once (as ``typer.echo(..., err=True)`` writes it)."""
    print(message, file=sys.stderr, flush=True)


def _notes(store: Store, seen: int) -> int:
    """Print the store's repairs and warnings not printed yet (stderr); returns how many have been printed."""
    lines = store.notes()
    for line in lines[seen:]:
        note_waiting(line)
    return len(lines)


@contextmanager
def opened(root: Path, actor: str = "cli", *, reading: bool = False) -> Iterator[Project]:
    """The open project in ``root``; closing it refreshes the snapshot. Repairs and warnings go to stderr first.

    ``reading``: a read-only command, which repairs nothing (it reports damage and names `orchestra repair`)."""
    from ..engine.project import Project

    project = Project.open(
        root, actor=actor, repair=not reading, lock_timeout=lock_timeout(), on_lock_wait=note_waiting
    )
    # The loaded state lives until the process exits: keep the cyclic GC from rescanning it, and exit
    # without walking it (about 0.2 s of a 5,000-task `orchestra next`).
    gc.freeze()
    seen = _notes(project.store, 0)
    try:
        yield project
    finally:
        project.close()
        _notes(project.store, seen)
