"""The state lock: an exclusive ``flock`` on ``.orchestra/lock``, through one descriptor kept open.

Every commit takes and releases it (a run's start and end are two). ``filelock`` opened the file afresh, resolved
its path and tracked forks on every acquisition: about 75 µs of CPU and some 25 system calls each, a tenth of the
scheduler's own work on an instant task. Here one descriptor is opened once (``O_NOFOLLOW``) and each acquisition
is one ``flock`` plus two ``stat`` calls that check the descriptor still names the file at the path (a lock file
removed or replaced, with ``.orchestra/`` moved away and made again, is opened afresh: two processes never hold
locks on two different files). A process forked from the holder does not share its lock: it closes the
descriptor it inherited (which leaves the parent's lock in place) and opens its own.

Re-entrant within the process, as the store's listeners may commit while it is held; callers serialise
through the store's mutex (one thread at a time).
"""

from __future__ import annotations

import errno
import fcntl
import os
import time
from pathlib import Path

from . import fsio


class LockBusy(Exception):
    """Another process held the lock until the deadline."""


class StateLock:
    """``acquire``/``release`` of ``path``'s exclusive ``flock`` (re-entrant: ``depth`` counts the holds)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.depth = 0
        self._fd: int | None = None
        self._pid = os.getpid()  # the process whose descriptor and hold these are

    def acquire(self, timeout: float, poll: float) -> None:
        """Hold the lock, waiting up to ``timeout`` seconds (trying every ``poll``); ``LockBusy`` when it stays
        held. ``OSError`` when the file cannot be opened (no write access)."""
        if self._pid != os.getpid():  # forked: the parent's hold and descriptor are not ours
            self._forget()
        if self.depth:
            self.depth += 1
            return
        deadline = time.monotonic() + timeout
        while not self._try():
            if time.monotonic() >= deadline:
                raise LockBusy(str(self.path))
            time.sleep(poll)
        self.depth = 1

    def release(self) -> None:
        self.depth -= 1
        if self.depth == 0 and self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        """Close the descriptor (releasing the lock if held)."""
        self._forget()

    def _forget(self) -> None:
        """Close the descriptor and forget any hold. (Closing a copy inherited over a fork releases nothing: the
        parent's descriptor keeps its ``flock``.)"""
        if self._fd is not None:
            os.close(self._fd)
        self._fd, self.depth, self._pid = None, 0, os.getpid()

    def _try(self) -> bool:
        fd = self._open()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                return False
            raise
        if self._same_file(fd):
            return True
        fcntl.flock(fd, fcntl.LOCK_UN)  # locked a file no longer at the path: drop it, try the one there now
        os.close(fd)
        self._fd = None
        return self._try()

    def _open(self) -> int:
        if self._fd is None:
            self._fd = fsio.open_file(self.path, os.O_RDWR | os.O_CREAT)
        return self._fd

    def _same_file(self, fd: int) -> bool:
        try:
            there = os.stat(self.path, follow_symlinks=False)
        except FileNotFoundError:
            return False
        held = os.fstat(fd)
        return (held.st_dev, held.st_ino) == (there.st_dev, there.st_ino)
