"""The webhook sender a change starts (``engine/sender.py``) is a child of the process that made the change: once
it ends it is reaped at once, not left a zombie until that process makes another change (a TUI or API
process may make none for hours)."""

from __future__ import annotations

import time
from pathlib import Path

from orchestra_tui.engine.sender import start_sender
from orchestra_tui.projectfiles import STATE_DIR, WEBHOOKS_DIR

from ..helpers.plans import task_block, write_plan
from ..helpers.processes import children


def test_a_sender_that_ended_is_reaped_without_waiting_for_the_next_change(tmp_path: Path) -> None:
    write_plan(tmp_path, task_block("A"))
    (tmp_path / STATE_DIR / WEBHOOKS_DIR).mkdir(parents=True)
    before = set(children())
    start_sender(tmp_path)
    started = set(children()) - before
    assert len(started) == 1  # the sender (nothing to send: it ends at once)
    deadline = time.monotonic() + 30
    while started & set(children()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not started & set(children()), children()
