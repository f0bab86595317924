"""The main screen's frame timer (tui/textual_compat.py, used by tui/screens/main.py): a frame at once when asked
for after a quiet spell, never two within one period, and the app's default screen drawn by it."""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path

from textual.app import App

from orchestra_tui.tui.app import create_app
from orchestra_tui.tui.screens.main import MainScreen
from orchestra_tui.tui.textual_compat import GATHER_TURNS, FrameTimer

INTERVAL = 0.2


async def turns(count: int) -> None:
    for _ in range(count):
        await asyncio.sleep(0)


def ticking(app: App, ticks: list[float]) -> FrameTimer:
    """A started, paused timer noting the time of each tick on its own clock (the time it decided to tick,
    so the gaps check its logic, not how late a loaded machine ran the callback); like the screen's, each
    tick pauses it."""
    timer = FrameTimer(app, INTERVAL, callback=lambda: (ticks.append(timer.last_tick), timer.pause()), pause=True)
    timer._start()
    return timer


async def test_a_frame_asked_for_after_a_quiet_spell_comes_within_a_few_turns_of_the_loop() -> None:
    ticks: list[float] = []
    async with App().run_test() as pilot:
        timer = ticking(pilot.app, ticks)
        try:
            await asyncio.sleep(INTERVAL / 4)
            assert ticks == []  # paused: nothing to draw
            for round_ in range(3):
                timer.resume()
                await turns(GATHER_TURNS + 4)  # no sleeping: textual's own timer could wait a whole period here
                assert len(ticks) == round_ + 1
                await asyncio.sleep(INTERVAL * 1.2)  # quiet
        finally:
            timer.stop()


async def test_frames_asked_for_in_a_burst_are_at_least_a_period_apart() -> None:
    ticks: list[float] = []
    async with App().run_test() as pilot:
        timer = ticking(pilot.app, ticks)
        try:
            deadline = time.monotonic() + 5 * INTERVAL
            while time.monotonic() < deadline:  # a widget asking to be drawn every 10 ms
                timer.resume()
                await asyncio.sleep(0.01)
        finally:
            timer.stop()
    gaps = [later - earlier for earlier, later in itertools.pairwise(ticks)]
    assert len(ticks) >= 3 and min(gaps) >= INTERVAL * 0.99


async def test_the_app_draws_its_main_screen_with_a_frame_timer(demo_dir: Path, tmp_path: Path) -> None:
    app = create_app(demo_dir, config_dir=tmp_path / "config")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        timer = app.screen._update_timer
        assert isinstance(timer, FrameTimer) and timer._task is not None and not timer._task.done()


async def test_a_frame_that_was_due_also_waits_for_what_the_same_change_asks_for() -> None:
    """A frame due at the end of a period (runs streaming) drew a key press's first widgets, and the layout the
    others asked for a frame later: the loop turns a few times before any frame."""
    asked: list[str] = []
    seen: list[list[str]] = []

    class Watched(FrameTimer):
        async def sleep(self, seconds: float) -> None:
            await super().sleep(seconds)
            asyncio.get_running_loop().create_task(ask_later())  # a widget telling the screen, a turn or two on

    async def ask_later() -> None:
        await turns(GATHER_TURNS - 2)
        asked.append("layout")

    async with App().run_test() as pilot:
        timer = Watched(pilot.app, INTERVAL, callback=lambda: (seen.append(list(asked)), timer.pause()), pause=True)
        timer._start()
        try:
            for round_ in range(3):
                timer.resume()  # after the first, due a period after the previous tick: the timer sleeps first
                deadline = time.monotonic() + 5 * INTERVAL
                while len(seen) <= round_ and time.monotonic() < deadline:
                    await asyncio.sleep(0.01)
        finally:
            timer.stop()
    assert [len(frame) for frame in seen] == [0, 1, 2]  # each frame after a sleep saw what was asked for with it
