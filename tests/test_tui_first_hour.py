"""What a new user hit in the TUI's first hour (issue 14): each defect with the test that found it.

Pilot tests go through ``create_app`` on copies of the demo. ``Terminal`` reads what the app draws the way
a terminal would: every update the compositor sends, as the escape sequences a real run writes, fed to a
terminal emulator (pyte); so a region left unpainted shows as it would on the user's screen.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyte
from textual._compositor import CompositorUpdate
from textual.screen import Screen

from orchestra_tui.tui.app import OrchestraApp
from orchestra_tui.tui.widgets.detail import TaskDetail

from .conftest import app_on, until


class Terminal:
    """The screen a terminal would show for ``app``: installed before the app runs, it sees every frame."""

    def __init__(self, app: OrchestraApp, size: tuple[int, int]) -> None:
        self.screen = pyte.Screen(*size)
        self.stream = pyte.Stream(self.screen)
        display = app._display

        def shown(screen: Screen[Any], renderable: Any) -> None:
            display(screen, renderable)
            if isinstance(renderable, CompositorUpdate) and not app._batch_count:  # App._display skips batches too
                self.stream.feed(renderable.render_segments(app.console))

        app._display = shown  # type: ignore[method-assign]

    @property
    def text(self) -> str:
        return "\n".join(self.screen.display)


# ------------------------------------------------------------------------------------------ 1: toasts


async def test_a_toast_that_timed_out_leaves_the_terminal_after_a_scroll(demo_dir: Path, tmp_path: Path) -> None:
    """Textual lost the damage of a toast removed after a scroll: its cells stayed painted until a view switch."""
    app = app_on(demo_dir, tmp_path)
    terminal = Terminal(app, (80, 24))
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await until(pilot, lambda: app.focused is not None, "the board has the focus")
        app.notify("GHOST-TOAST here", timeout=0.5)
        await until(pilot, lambda: "GHOST-TOAST" in terminal.text, "the toast on the terminal")
        app.query_one(TaskDetail).scroll_end(animate=False)  # a scroll: the compositor's fast path
        await until(pilot, lambda: not app.screen.query("Toast"), "the toast removed from the screen")
        for _ in range(10):  # a few frames after its removal
            await pilot.pause(0.05)
        assert "GHOST-TOAST" not in terminal.text, terminal.text
