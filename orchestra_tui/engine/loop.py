"""asyncio plumbing for a process that runs tasks (``orchestra run``/``execute``, the driver)."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from ..agents.base import close_http_clients


@contextmanager
def pidfd_child_watcher() -> Iterator[None]:
    """On Python 3.11 asyncio watches every subprocess with a thread of its own (about a millisecond each to
    start on a busy machine: a tenth of ``orchestra run``'s cost per instant task); a Linux pidfd needs none,
    and is what 3.12 does by default. The previous watcher comes back afterwards."""
    if sys.version_info >= (3, 12) or not hasattr(os, "pidfd_open"):
        yield
        return
    try:
        os.close(os.pidfd_open(os.getpid()))
    except OSError:  # a kernel or sandbox without pidfds
        yield
        return
    previous = asyncio.get_child_watcher()
    watcher = asyncio.PidfdChildWatcher()
    watcher.attach_loop(asyncio.get_running_loop())
    asyncio.set_child_watcher(watcher)
    try:
        yield
    finally:
        asyncio.set_child_watcher(previous)


async def close_clients() -> None:
    """Close the HTTP client the agents opened on this event loop (if any agent used HTTP at all)."""
    await close_http_clients()
