"""The app for Pilot tests (``app_on``, through the CLI's own factory) and what its views show."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from textual.pilot import Pilot

    from orchestra_tui.tui.app import OrchestraApp

from rich.style import Style
from textual.strip import Strip
from textual.visual import Visual, visualize

from orchestra_tui.tui.app import OrchestraApp
from orchestra_tui.tui.widgets.board import BoardView
from orchestra_tui.tui.widgets.detail import TaskDetail


def app_on(root: Path, tmp_path: Path, **options: Any) -> OrchestraApp:
    """The app through the CLI's own factory, with its config.toml under ``tmp_path``."""
    from orchestra_tui.tui.app import create_app  # textual is loaded only by the tests that use it

    return create_app(root, config_dir=tmp_path / "config", **options)


SIZE = (120, 40)


def board(app: OrchestraApp) -> BoardView:
    return app.query_one(BoardView)


def detail_text(detail: TaskDetail) -> str:
    """The text of the detail pane at its width, all its lines (scrolled out of view or not)."""
    width = detail.scrollable_content_region.width
    strips = Visual.to_strips(detail, visualize(detail, detail.renderable), width, None, detail.visual_style)
    return "\n".join(strip.text for strip in strips)


def screen(app: OrchestraApp) -> list[Strip]:
    """The screen as a terminal would show it, a strip per line."""
    update = app.screen._compositor.render_full_update()
    return [Strip.join(line) for line in update.strips]


def drawn_style(app: OrchestraApp, text: str) -> Style | None:
    """The style of the first cells on screen that start with ``text`` (None: not on screen)."""
    for strip in screen(app):
        for segment in strip:
            if segment.text.startswith(text):
                return segment.style
    return None


async def first_ready_selected(app: OrchestraApp, pilot: Pilot[Any], task_id: str) -> TaskDetail:
    """Focus the Ready column on its first row (``task_id``) and wait until the app has it selected and has
    settled; the detail pane, for the presses that follow."""
    from .waits import until

    ready = board(app).columns["ready"]
    ready.focus()
    ready.move_cursor(row=0, animate=False)
    await until(pilot, lambda: app.selected == task_id, f"{task_id} selected")
    await pilot.pause(0.2)
    return app.query_one(TaskDetail)
