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
from textual._compositor import Compositor, CompositorMap
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


class DamageKeepingCompositor(Compositor):
    """A ``Compositor`` that keeps the damage of what changed between two layouts.

    Textual's compositor (8.2.8) marks for repainting the places of the widgets whose geometry differs
    between the map of the previous layout and the new one. After a scroll it only marks the previous map
    stale, and whatever asks for a widget's place before the next layout (``find_widget`` for a widget off the
    visible map, ``update_widgets``, the mouse-over check) rebuilds it from the current DOM. A widget removed in
    between (a toast that timed out) is then in neither map, so its cells are never repainted: the toast stays
    on the terminal. Here the rebuild marks the places of what it finds changed, as a layout would.
    """

    @property
    def full_map(self) -> CompositorMap:
        if not self._full_map_invalidated or self.root is None:
            return self._full_map
        before = self._full_map
        after: CompositorMap = Compositor.full_map.fget(self)  # type: ignore[attr-defined]
        if self.size.region not in self._dirty_regions:
            changed = {geometry.clip.intersection(geometry.region) for _, geometry in after.items() ^ before.items()}
            self._dirty_regions.update(region for region in changed if region)
        return after


class MainScreen(Screen[None]):
    """The app's default screen, drawn by a ``FrameTimer``, composed by a ``DamageKeepingCompositor``."""

    _frame_timer: FrameTimer | None = None

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._compositor = DamageKeepingCompositor()

    @property
    def _update_timer(self) -> Timer:  # replaces Screen's own (see the module's docstring)
        if self._frame_timer is None:
            self._frame_timer = FrameTimer(
                self, UPDATE_PERIOD, name="screen_update", callback=self._on_timer_update, pause=True
            )
            self._frame_timer._start()
            self._timers.add(self._frame_timer)
        return self._frame_timer
