"""Textual's private API, as ``tui/textual_compat.py`` uses it (docs/ARCHITECTURE.md §6): every private name
the shims rely on exists in the installed Textual, and frame pacing can be switched off."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyte
import pytest
import textual
from textual import messages
from textual._compositor import CompositorUpdate, LayoutUpdate
from textual.app import App, ComposeResult
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.strip import Strip
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Log, Static

from orchestra_tui.tui import textual_compat
from orchestra_tui.tui.app import create_app
from orchestra_tui.tui.textual_compat import PRIVATE_API, FrameTimer, PacedScreen, line_cells, log_show


@pytest.mark.parametrize(("owner", "make", "name"), PRIVATE_API, ids=[f"{o}.{n}" for o, _, n in PRIVATE_API])
def test_every_private_name_a_shim_uses_exists(owner: str, make: object, name: str) -> None:
    assert callable(make)
    assert hasattr(make(), name), (
        f"textual {textual.__version__} has no {owner}.{name}: the shim in orchestra_tui/tui/textual_compat.py "
        f"that uses it works around upstream behaviour that may have changed; read its note there"
    )


def test_the_shims_cover_every_private_access_in_the_tui() -> None:
    """No module of the TUI but textual_compat touches a private name of Textual's."""
    tui = Path(textual_compat.__file__).parent
    offenders = [
        f"{path.relative_to(tui)}: {line.strip()}"
        for path in sorted(tui.rglob("*.py"))
        if path.name != "textual_compat.py"
        for line in path.read_text().splitlines()
        if "textual._" in line or "textual.widgets._" in line or "from textual import _" in line
    ]
    assert offenders == []


@pytest.mark.parametrize(("value", "paced"), [("", True), ("1", True), ("0", False), ("off", False), ("no", False)])
async def test_frame_pacing_is_switched_off_by_the_environment(
    value: str, paced: bool, demo_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(textual_compat.PACING_ENV, value)
    app = create_app(demo_dir, config_dir=tmp_path / "config")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        timer = app.screen._update_timer
        assert isinstance(timer, Timer) and isinstance(timer, FrameTimer) == paced


# ----------------------------------------------------------------------------------- 3: lines handed to a Log


class LogApp(App[None]):
    def compose(self) -> ComposeResult:
        yield Log()


async def test_a_growing_log_lays_out_the_screen_only_when_its_scrollbar_appears() -> None:
    """``Log.write`` set the virtual size as a reactive that lays out the whole screen, batch after batch; the
    lines handed over are drawn, and another list swapped in is drawn instead."""
    layouts: list[Widget] = []

    def hook(message: Message) -> None:
        if isinstance(message, messages.Layout):
            layouts.append(message.widget)

    app = LogApp()
    async with app.run_test(size=(40, 10), message_hook=hook) as pilot:
        log = app.query_one(Log)
        await pilot.pause()
        layouts.clear()
        lines = [""]
        for n in range(20):
            lines[-1:] = [f"line {n}\t.", ""]  # the tab to column 8: 9 cells
            log_show(log, lines, max(map(line_cells, lines)))
            await pilot.pause()
        assert len([widget for widget in layouts if widget is log]) <= 1  # when the scrollbar appeared, if at all
        assert log.virtual_size == (9, 20) and log.line_count == 20 and log.show_vertical_scrollbar
        log.scroll_end(animate=False, immediate=True)
        assert log.scroll_y == log.max_scroll_y >= log.line_count - 10
        assert any(log.render_line(y).text.startswith("line 19") for y in range(log.size.height))
        log_show(log, ["other", ""], 5)
        await pilot.pause()
        assert log.render_line(0).text.startswith("other") and log.virtual_size == (5, 1)


# ------------------------------------------------------------------------------------- 2: a scroll after a layout


class ScrollApp(App[None]):
    def get_default_screen(self) -> Screen[None]:
        return PacedScreen(id="_default")

    def compose(self) -> ComposeResult:
        yield Static("top", id="top")
        with VerticalScroll(id="scroller"):
            for n in range(40):
                yield Static(f"row {n}")


async def test_a_scroll_after_a_layout_redraws_what_moved_not_the_whole_screen() -> None:
    """Textual compared a scroll's visible map with none after a layout: every frame of it redrew the screen."""
    app = ScrollApp()
    terminal = pyte.Screen(40, 12)
    stream = pyte.Stream(terminal)
    updates: list[object] = []
    display = app._display

    def shown(screen: Screen[Any], renderable: Any) -> None:
        display(screen, renderable)
        if isinstance(renderable, CompositorUpdate):
            updates.append(renderable)
            stream.feed(renderable.render_segments(app.console))

    app._display = shown  # type: ignore[method-assign]
    async with app.run_test(size=(40, 12)) as pilot:
        await pilot.pause()
        app.query_one("#top", Static).update("top, changed")  # a layout
        await pilot.pause()
        for y in (5, 9):
            updates.clear()
            app.query_one("#scroller", VerticalScroll).scroll_to(y=y, animate=False, immediate=True)
            await pilot.pause()
            assert updates and not any(isinstance(update, LayoutUpdate) for update in updates)
            screen = app.screen._compositor.render_full_update()
            expected = [Strip.join(strips).text for strips in screen.strips]
            assert [line.rstrip() for line in terminal.display] == [line.rstrip() for line in expected]
            assert f"row {y}" in terminal.display[1]
