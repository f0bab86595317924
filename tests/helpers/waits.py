"""The one place tests wait: every wait is bounded in time and says what it waited for.

``until`` lets an app under Pilot (or, with no app, the event loop) run until a condition holds (a run
dispatched from the app begins in a driver process of its own: :data:`RUN_START` bounds waiting for it);
``wait_for`` is the same from a thread that may block; ``read_until`` reads a process's output until a text
appears; ``running`` says whether a process is still alive.
"""

from __future__ import annotations

import asyncio
import os
import select
import subprocess
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from .processes import stat_fields

if TYPE_CHECKING:
    from textual.pilot import Pilot

T = TypeVar("T")

RUN_START = 15.0  # seconds a run dispatched from the app may take to show: its driver process starts first


def running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    fields = stat_fields(pid)
    return fields is not None and fields[0] != "Z"


def read_until(process: subprocess.Popen[bytes], text: bytes, timeout: float = 30) -> bytes:
    """Read the process's stdout until ``text`` appears (bounded by ``timeout``); returns all that was read."""
    assert process.stdout is not None
    fd, seen, deadline = process.stdout.fileno(), b"", time.monotonic() + timeout
    while text not in seen:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"no {text!r} within {timeout}s; got {seen!r}"
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            chunk = os.read(fd, 4096)
            assert chunk, f"output ended before {text!r}: {seen!r}"
            seen += chunk
    return seen


async def until(pilot: Pilot | None, condition: Callable[[], object], what: str, timeout: float = 5.0) -> None:
    """Let the app (``pilot``), or with ``None`` the event loop, run until ``condition()`` holds, at most
    ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        await (pilot.pause(0.02) if pilot is not None else asyncio.sleep(0.005))


def wait_for(condition: Callable[[], T], what: str, timeout: float = 30) -> T:
    """Block (sleeping 50 ms at a time) until ``condition()`` is truthy, at most ``timeout`` seconds; that value."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.05)
    return value
