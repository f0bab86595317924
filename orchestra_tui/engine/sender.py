"""Starting the webhook sender (``deliver.py``) for a project: one at a time, under ``sender.lock``.

Apart from ``deliver.py`` so that the dispatcher (``webhooks.py``), which starts it, and the sender process,
which runs a dispatcher, do not import each other.
"""

from __future__ import annotations

import fcntl
import os
import sys
import threading
from pathlib import Path

from ..projectfiles import WEBHOOKS_DIR

LOCK_FILE = "sender.lock"


def _lock_path(root: Path) -> Path:
    return root / ".orchestra" / WEBHOOKS_DIR / LOCK_FILE


def try_lock(root: Path) -> int | None:
    """An fd holding the sender lock, or None when another process holds it (or it cannot be made)."""
    try:
        fd = os.open(_lock_path(root), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def start_sender(root: Path) -> None:
    """Start a sender for the project in ``root`` unless one is running. Never waits for it. (``subprocess`` is
    imported here: every process that opens a project imports this module, few of them start a sender.)"""
    import subprocess

    fd = try_lock(root)
    if fd is None:
        return  # a sender is at work: it sees what was just written (see the module docstring)
    os.close(fd)
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "orchestra_tui.engine.deliver", str(root)],
            cwd=root,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            close_fds=True,
        )
    except OSError:
        return  # what waits in the outbox goes with the next change
    # Reaped as soon as it ends (a long-lived process may make no other change for hours); a process that exits
    # first leaves it to init. The daemon thread holds the only reference, so no "still running" warning.
    threading.Thread(target=process.wait, name="orchestra-sender-reaper", daemon=True).start()
