"""A full screen of text read with the pager's keys: j/k a line, g/G the ends, ctrl+d/ctrl+u half a page."""

from __future__ import annotations

from textual.binding import Binding
from textual.containers import ScrollableContainer
from textual.screen import Screen


def reading_bindings(prefix: str) -> list[Binding]:
    """The pager's keys, with ids ``<prefix>.down`` … ``<prefix>.half_up`` (so a keymap can rebind them)."""
    return [
        Binding("j", "scroll(1)", "Down", show=False, id=f"{prefix}.down"),
        Binding("k", "scroll(-1)", "Up", show=False, id=f"{prefix}.up"),
        Binding("g", "top", "Top", show=False, id=f"{prefix}.top"),
        Binding("G", "bottom", "Bottom", show=False, id=f"{prefix}.bottom"),
        Binding("ctrl+d", "half_page(1)", "Half a page down", show=False, id=f"{prefix}.half_down"),
        Binding("ctrl+u", "half_page(-1)", "Half a page up", show=False, id=f"{prefix}.half_up"),
    ]


class ReadingScreen(Screen[None]):
    """A screen whose text scrolls in ``body``; its BINDINGS add ``reading_bindings``."""

    @property
    def body(self) -> ScrollableContainer:
        raise NotImplementedError

    def action_scroll(self, lines: int) -> None:
        self.body.scroll_relative(y=lines, animate=False)

    def action_top(self) -> None:
        self.body.scroll_home(animate=False)

    def action_bottom(self) -> None:
        self.body.scroll_end(animate=False)

    def action_half_page(self, direction: int) -> None:
        self.body.scroll_relative(y=direction * max(1, self.body.size.height // 2), animate=False)
