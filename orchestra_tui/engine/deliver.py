"""The webhook sender: a detached process that sends what waits in a project's outbox, then exits.

Faces never send webhooks themselves (docs/ARCHITECTURE.md C7, C13): a change a person makes writes its
deliveries to the outbox (``outbox.py``) and :func:`start_sender` starts ``python -m
orchestra_tui.engine.deliver ROOT`` in its own session, without waiting for it. So a receiver that never
answers costs a command nothing, and a read-only command or an app that is only looked at sends nothing.

One sender per project at a time: it holds ``.orchestra/webhooks/sender.lock``. It sends to the webhooks of
the plan as it is now (a delivery whose webhook left the plan waits, and is dropped after a day), with the
usual retries, until nothing of theirs is left or :data:`LIFETIME` seconds have passed (what is left then
goes out with the next change). Before exiting it lets go of the lock and looks once more, so a delivery
written while it was finishing is never stranded: either the writer saw the lock free and started a
sender, or this one sees the delivery.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import sys
import time
from pathlib import Path

from .outbox import WEBHOOKS_DIR

LOCK_FILE = "sender.lock"
LIFETIME = 120.0  # a little more than the default retries take (RetryPolicy: 5 attempts over about a minute)
_started: list[subprocess.Popen[bytes]] = []  # reaped when the next one starts (no zombie, no warning)


def _lock_path(root: Path) -> Path:
    return root / ".orchestra" / WEBHOOKS_DIR / LOCK_FILE


def _try_lock(root: Path) -> int | None:
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
    """Start a sender for the project in ``root`` unless one is running. Never waits for it."""
    _started[:] = [process for process in _started if process.poll() is None]
    fd = _try_lock(root)
    if fd is None:
        return  # a sender is at work: it sees what was just written (see the module docstring)
    os.close(fd)
    with contextlib.suppress(OSError):  # what waits in the outbox goes with the next change
        _started.append(
            subprocess.Popen(
                [sys.executable, "-m", "orchestra_tui.engine.deliver", str(root)],
                cwd=root,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
                close_fds=True,
            )
        )


def main(argv: list[str]) -> int:
    from ..errors import OrchestraError
    from ..plan import load_plan
    from .webhooks import WebhookDispatcher

    root = Path(argv[0]).resolve()
    try:
        plan = load_plan(root)
    except OrchestraError:
        return 1  # the plan is broken now: the deliveries wait for a command that can load it
    secret_names = [agent.api_key_env for agent in plan.agents.values() if agent.api_key_env]
    dispatcher = WebhookDispatcher(root / ".orchestra", plan.project.id, plan.webhooks, secret_names=secret_names)
    end = time.monotonic() + LIFETIME
    while time.monotonic() < end and (fd := _try_lock(root)) is not None:
        try:
            dispatcher.drain(end)
        finally:
            os.close(fd)
        if not dispatcher.waiting():
            break
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
