"""The top lines (the project, its progress figures, and which view is on show) and the bottom one (the keys)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.cells import cell_len
from textual.app import ComposeResult
from textual.content import Content
from textual.geometry import Size
from textual.widgets import Footer, Static

from ...agents.pricing import format_total
from ...formatting import count, hours
from ..bindings import FOOTER_DROP, FOOTER_LABELS
from ..textual_compat import FooterKey


def figures_line(figures: Mapping[str, Any]) -> Content:
    done, total = figures["hours_done"], figures["hours_total"]
    parts = [
        Content.styled(f"{figures['completion_percentage']:g}%", "bold $success"),
        Content(f"{figures['completed_tasks']}/{figures['total_tasks']} tasks"),
        Content(f"{hours(round(done, 2))} h done"),
        Content(f"{hours(round(total - done, 2))} h left"),
        Content.styled(f"{figures['running']} running", "bold $accent" if figures["running"] else ""),
        *[
            Content.styled(f"{number} {status}", "bold $error")
            for status in ("failed", "cancelled")
            if (number := figures.get("by_status", {}).get(status, 0))
        ],
    ]
    unpriced = figures.get("unpriced_runs", 0)
    if (
        figures["tokens"] is not None or figures["cost_usd"] is not None or unpriced
    ):  # nothing known: nothing shown, never a 0
        parts += [Content(f"{count(figures['tokens'])} tokens"), Content(format_total(figures["cost_usd"], unpriced))]
    return Content(" · ").join(parts)


AUTOPILOT = " ⟳ autopilot "  # the header's tag while the autopilot is on


class ProjectHeader(Static):
    """Two lines that never wrap: the project's name and the view tabs (on a narrow terminal the tabs not on
    show keep only their key, then the name is cut with "…"), and the figures (cut with "…")."""

    DEFAULT_CSS = """
    ProjectHeader { height: 2; padding: 0 1; background: $panel; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._shown: tuple[str, Mapping[str, Any], Sequence[tuple[str, str, str]], str, bool] | None = None

    def show(
        self,
        name: str,
        figures: Mapping[str, Any],
        views: Sequence[tuple[str, str, str]],
        current: str,
        *,
        autopilot: bool = False,
    ) -> None:
        """``views``: (id, key, title) of each view mounted; ``current`` the id on show; ``autopilot``: it is on."""
        self._shown = (name, figures, views, current, autopilot)
        self._draw()

    def on_resize(self) -> None:
        if self._shown is not None:
            self._draw()

    def _draw(self) -> None:
        assert self._shown is not None
        name, figures, views, current, autopilot = self._shown
        width = self.content_region.width or 10_000
        pilot = Content.assemble("  ", (AUTOPILOT, "bold reverse $accent")) if autopilot else Content("")
        tabs = Content.assemble(_tabs(views, current, short=False), pilot)
        if cell_len(name) + 2 + tabs.cell_length > width:
            tabs = Content.assemble(_tabs(views, current, short=True), pilot)
        room = max(width - 2 - tabs.cell_length, 1)
        top = Content.assemble(Content.styled(name, "bold").truncate(room, ellipsis=True), "  ", tabs)
        self.update(Content("\n").join([top.truncate(width), figures_line(figures).truncate(width, ellipsis=True)]))


def _tabs(views: Sequence[tuple[str, str, str]], current: str, *, short: bool) -> Content:
    """The view tabs: key and title (``short``: the key only, but for the view on show)."""
    return Content.assemble(
        *[
            Content.styled(
                f" {key} " if short and view != current else f" {key} {title} ",
                "reverse bold" if view == current else "$text-muted",
            )
            for view, key, title in views
        ]
    )


class KeyFooter(Footer):
    """Textual's footer, compact and kept to its width: when the keys do not fit, keys leave it in
    ``FOOTER_DROP`` order (the focused widget's keys stay, and so do ``?``, which lists every key, and ``q``).
    Fitted after each recompose (the keys change with the focus) and on resize. Some keys have a shorter
    label here (``FOOTER_LABELS``) than in the palette and the help."""

    DEFAULT_CSS = """
    KeyFooter { padding: 0 0 0 1; }
    """

    def __init__(self) -> None:
        super().__init__(compact=True)
        self._ids: dict[str, str] = {}  # key -> the id of its binding, as composed

    def compose(self) -> ComposeResult:
        self._ids = {key: active.binding.id for key, active in self.screen.active_bindings.items() if active.binding.id}
        for widget in super().compose():
            if isinstance(widget, FooterKey) and widget.description:
                widget.description = FOOTER_LABELS.get(self._ids.get(widget.key, ""), widget.description)
            yield widget

    async def recompose(self) -> None:
        await super().recompose()
        self.fit()

    def on_resize(self) -> None:
        self.fit()

    def fit(self) -> None:
        keys = list(self.query_children(FooterKey))
        for key in keys:
            key.display = True
        need = sum(map(_width, keys))
        rank = {binding_id: index for index, binding_id in enumerate(FOOTER_DROP)}
        droppable = [key for key in keys if self._ids.get(key.key) in rank]
        for key in sorted(droppable, key=lambda key: rank[self._ids[key.key]]):
            if need <= self.size.width:
                break
            key.display = False
            need -= _width(key)


def _width(key: FooterKey) -> int:
    """The columns a key takes in the footer, from its styles (applied once mounted); a docked key's margin
    takes none."""
    styles = key.styles
    margin = 0 if styles.dock != "none" else styles.margin.width
    return key.get_content_width(Size(0, 0), Size(0, 0)) + styles.gutter.width + margin
