"""A project's state files as a test sees them: the state (opened, digested), the journal, what was set
aside in ``damaged/``, and the CLI run as a real process."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from orchestra_tui import __version__
from orchestra_tui.store import Store

from .committer import PROJECT_ID, state_digest


def open_store(root: Path) -> Store:
    """Open (and repair) the state of the project at ``root`` as orchestra does, without the engine."""
    return Store.open(root / ".orchestra", project_id=PROJECT_ID, version=__version__)


def digest_of(store: Store) -> str:
    return state_digest(store.tasks, store.meta)


def journal_bytes(root: Path) -> bytes:
    return (root / ".orchestra" / "journal.log").read_bytes()


def damaged_files(root: Path) -> list[bytes]:
    """The contents of ``.orchestra/damaged/``, oldest first."""
    directory = root / ".orchestra" / "damaged"
    return [path.read_bytes() for path in sorted(directory.iterdir())] if directory.is_dir() else []


def cli(root: Path, *args: str, preexec: Callable[[], None] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orchestra_tui", "-p", str(root), *args],
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=preexec,
    )
