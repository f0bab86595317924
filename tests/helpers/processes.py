"""Whether a process group a test started (or saw started) is still there."""

from __future__ import annotations

import os


def group_alive(pgid: int) -> bool:
    """Whether any process of group ``pgid`` exists (signal 0: nothing is sent)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True
