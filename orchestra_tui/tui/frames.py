"""The main screen's frame pacing: a frame as soon as one is asked for, at most one per frame period.

Textual (8.2.8) draws a screen from a timer that is paused while nothing changed and resumed when something
does. Its ticks sit on a fixed grid, and after a pause the first tick comes at once but the next one only at
the grid point after the next: one to two periods later. A key press asks for two frames in quick
succession (the cursor row at once, then the detail pane a few milliseconds later), so the second waited
up to 33 ms, which was most of the key-to-screen time while runs stream (``bench/bench_tui.py``).
``FrameTimer`` keeps textual's limit of one frame per period and drops the grid. A frame asked for after a
quiet spell also lets the event loop turn a few times first, so that what a key press changes in several
widgets (each telling the screen through its own message queue) is drawn in one frame rather than two.
"""

from __future__ import annotations

import asyncio
import math

from textual import _time
from textual.screen import UPDATE_PERIOD, Screen
from textual.timer import EventTargetGone, Timer

GATHER_TURNS = 4  # turns of the event loop a frame waits for the rest of what asked for it


class FrameTimer(Timer):
    """Ticks when active, at least ``interval`` seconds after its previous tick (the screen pauses it on
    every tick and resumes it when a widget needs drawing)."""

    async def _run(self) -> None:
        last = -math.inf
        while True:
            await self._active.wait()
            wait = last + self._interval - _time.get_time()
            if wait > 0:
                await _time.sleep(wait)
            else:
                for _ in range(GATHER_TURNS):
                    await asyncio.sleep(0)
            last = _time.get_time()
            try:
                await self._tick(next_timer=last, count=0)
            except EventTargetGone:
                return


class MainScreen(Screen[None]):
    """The app's default screen, drawn by a ``FrameTimer``."""

    _frame_timer: FrameTimer | None = None

    @property
    def _update_timer(self) -> Timer:  # replaces Screen's own (see the module's docstring)
        if self._frame_timer is None:
            self._frame_timer = FrameTimer(self, UPDATE_PERIOD, name="screen_update", callback=self._on_timer_update, pause=True)
            self._frame_timer._start()
            self._timers.add(self._frame_timer)
        return self._frame_timer
