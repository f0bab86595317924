"""Full garbage collections while the user is not typing.

The loaded project and the mounted widgets live as long as the app: ``gc.freeze`` takes them out of every later
collection. Streaming runs still leave some 80,000 objects for a full (generation 2) collection to walk, and
Python starts one after a count of young collections, whenever that count is reached: it stops the event loop
for as long as the walk takes (20-30 ms on a quiet machine, 100-400 ms beside a busy neighbour), and a key
pressed meanwhile waits for it. Here Python keeps collecting the young generations itself, and the full
collections, as many as before (one per ``EVERY`` young ones), come from the app's timer once no key has been
pressed and the mouse not used for ``QUIET`` seconds and the frames after the last input are on the screen (on a
loaded machine a key can take longer than that to show); and at the latest after ``LATEST`` young collections
even while input never stops, so the cyclic garbage waiting for one stays bounded.

Python 3.14 collects the old generation a slice at a time (no long pause to move); there only the freeze is done.
"""

from __future__ import annotations

import gc
import math
import sys
import time
from collections.abc import Callable

EVERY = 10 * 10  # young (generation 1) collections between two full ones (Python's default: 10)
LATEST = 4 * EVERY  # ... even while keys keep coming
QUIET = 0.5  # seconds without input before a due full collection runs
CHECK = 0.25  # seconds between two looks (the app's timer)
NEVER = 1 << 30  # Python's own count for a full collection while the app runs: never reached
INCREMENTAL = sys.version_info >= (3, 14)


class IdleCollector:
    """``start`` when the app has mounted, ``input`` on every key or mouse event and ``shown`` once what it changed
    is drawn, ``tick`` every ``CHECK`` seconds, ``stop`` when the app ends (Python's thresholds back as they were)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._last_input = -math.inf
        self._unshown = 0  # inputs whose frames are not drawn yet
        self._saved: tuple[int, int, int] | None = None

    def start(self) -> None:
        gc.freeze()
        if not INCREMENTAL and self._saved is None:
            self._saved = gc.get_threshold()
            young, middle, _ = self._saved
            gc.set_threshold(young, middle, NEVER)

    def stop(self) -> None:
        if self._saved is not None:
            gc.set_threshold(*self._saved)
            self._saved = None

    def input(self) -> None:
        self._last_input = self._clock()
        self._unshown += 1

    def shown(self) -> None:
        self._unshown -= 1

    def tick(self) -> bool:
        """Collect in full if one is due and the user is not typing, or one is overdue. Whether it did."""
        if self._saved is None:
            return False
        young = gc.get_count()[2]  # generation 1 collections since the last full one
        quiet = not self._unshown and self._clock() - self._last_input >= QUIET
        if young >= LATEST or (young >= EVERY and quiet):
            gc.collect()
            return True
        return False
