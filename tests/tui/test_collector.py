"""Full garbage collections between key presses (tui/collector.py): none while keys come, one soon after they
stop, one anyway when long overdue; Python's thresholds back as they were when the app ends."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import pytest

from orchestra_tui.tui.collector import EVERY, INCREMENTAL, LATEST, QUIET, IdleCollector

from ..helpers.tui import SIZE, app_on
from ..helpers.waits import until

pytestmark = pytest.mark.skipif(INCREMENTAL, reason="Python 3.14 collects the old generation a slice at a time")


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class FullCollections:
    """The moments (on ``clock``) full collections started, while in a ``with``."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.started: list[float] = []

    def _note(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start" and info["generation"] == 2:
            self.started.append(self.clock.now)

    def __enter__(self) -> FullCollections:
        gc.callbacks.append(self._note)
        return self

    def __exit__(self, *_: object) -> None:
        gc.callbacks.remove(self._note)


async def test_no_full_collection_while_keys_are_pressed_and_one_soon_after(demo_dir: Path, tmp_path: Path) -> None:
    """Python started a full collection whenever its count of young ones was reached, a key press or not."""
    clock = Clock()
    app = app_on(demo_dir, tmp_path)
    app.collector = IdleCollector(clock)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("down")  # input: the clock stands still, so the user is typing from now on
        kept = [[] for _ in range(300_000)]  # survivors of young collections, as streaming leaves: a full one is due
        with FullCollections(clock) as full:
            for _ in range(EVERY + 10):
                gc.collect(1)
            for key in ("down", "up") * 5:
                await pilot.press(key)
                garbage = [[] for _ in range(20_000)]  # the young collections go on (and Python's full one is due)
                del garbage
            assert full.started == []
            clock.now += QUIET
            await until(pilot, lambda: full.started, "a full collection once the keys stopped")
        del kept


def test_a_due_full_collection_waits_for_a_pause_after_the_last_key_is_drawn() -> None:
    """On a loaded machine a key can take longer than the pause to show: its frames are waited for too."""
    clock = Clock()
    collector = IdleCollector(clock)
    collector.start()
    try:
        collector.input()
        for _ in range(EVERY):
            gc.collect(1)
        clock.now += QUIET
        assert not collector.tick()  # the key is not on the screen yet
        collector.shown()
        assert collector.tick()
        assert gc.get_count()[2] == 0
    finally:
        collector.stop()


def test_an_overdue_full_collection_runs_while_keys_keep_coming() -> None:
    clock = Clock()
    collector = IdleCollector(clock)
    before = gc.get_threshold()
    collector.start()
    try:
        collector.input()
        collector.shown()
        for _ in range(EVERY):
            gc.collect(1)
        assert not collector.tick()  # due, but a key came just now
        for _ in range(LATEST - EVERY):
            gc.collect(1)
        assert collector.tick()  # overdue: collected whatever the keys
        assert gc.get_count()[2] == 0
    finally:
        collector.stop()
    assert gc.get_threshold() == before
