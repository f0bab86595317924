"""The webhook sender: a detached process that sends what waits in a project's outbox, then exits.

Faces never send webhooks themselves (docs/ARCHITECTURE.md C7, C13): a change a person makes writes its
deliveries to the outbox (``outbox.py``) and ``sender.start_sender`` starts ``python -m
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

import os
import sys
import time
from pathlib import Path

from .sender import try_lock

LIFETIME = 120.0  # a little more than the default retries take (RetryPolicy: 5 attempts over about a minute)


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
    while time.monotonic() < end and (fd := try_lock(root)) is not None:
        try:
            dispatcher.drain(end)
        finally:
            os.close(fd)
        if not dispatcher.waiting():
            break
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
