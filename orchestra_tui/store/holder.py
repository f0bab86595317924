"""Who holds the state lock: recorded by each holder beside the lock file, read by a process that must wait.

The record is ``lock.holder`` (pid, command, since when), not the lock file itself: a waiter opens the lock
file on every try. It is written after each acquisition without fsync (it informs, it is not state), and
read back only when the lock is busy; a record whose pid no longer runs describes nobody. The command is the
program's name and its subcommand only (``orchestra run``): arguments may hold secrets, and this is a file.
"""

from __future__ import annotations

import json
import os
import re
import sys
from datetime import UTC, datetime
from pathlib import Path

from . import fsio

HOLDER_FILE = "lock.holder"
SHOWN = 80  # characters of a command shown
_SUBCOMMAND = re.compile(r"^[a-z][a-z-]{0,19}$")
_TAKES_VALUE = {"-p", "--project", "--theme"}


def _printable(text: str) -> str:
    text = "".join(char if char.isprintable() else "?" for char in text)
    return text if len(text) <= SHOWN else text[: SHOWN - 3] + "..."


def command(argv: list[str]) -> str:
    """``orchestra complete`` for ``orchestra -p DIR complete DES-001``: the program and the first plain
    lower-case word after it (a subcommand), never the other arguments."""
    program = os.path.basename(argv[0]) if argv and argv[0] else "python"
    if program in ("main.py", "__main__.py", "-c", "-m"):
        program = "orchestra"
    words = iter(argv[1:])
    for word in words:
        if word in _TAKES_VALUE:
            next(words, None)
        elif _SUBCOMMAND.match(word):
            return f"{program} {word}"
        elif not word.startswith("-"):
            break
    return program


def this_process() -> bytes:
    """This process's record, without the time (added at each acquisition)."""
    return json.dumps({"pid": os.getpid(), "command": command(sys.argv)})[:-1].encode()


class HolderRecord:
    """The open record file of one store; ``write`` after each acquisition of the lock."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / HOLDER_FILE
        self._fd: int | None = None
        self._head = this_process()

    def write(self, since: str) -> None:
        data = self._head + b', "since": "' + since.encode() + b'"}'
        try:
            if self._fd is None:
                self._fd = fsio.open_file(self.path, os.O_WRONLY | os.O_CREAT)
            os.pwrite(self._fd, data, 0)
            os.ftruncate(self._fd, len(data))
        except OSError:
            pass  # best effort: a waiter then says it does not know who holds the lock

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def describe(directory: Path, now: datetime | None = None) -> str:
    """``pid 4242 (orchestra run) since 13:05:02 UTC, 40 s ago``, or what is known of the holder."""
    try:
        record = json.loads(fsio.read_bytes(directory / HOLDER_FILE, 0, 4096))
        pid, command, since = int(record["pid"]), _printable(str(record["command"])), str(record["since"])
        started = datetime.fromisoformat(since)
    except (OSError, ValueError, KeyError, TypeError):
        return "another process (no holder recorded)"
    if not _running(pid):
        return f"another process (the last holder recorded, pid {pid}, has ended)"
    age = ((now or datetime.now(UTC)) - started).total_seconds()
    return f"pid {pid} ({command}) since {started.astimezone(UTC):%H:%M:%S} UTC, {max(0, age):.0f} s ago"
