"""The shipped themes are legible (WCAG 2.1 AA) and the cells follow the running theme (tui/status_text.py).

Contrast is computed from each theme's own colours as Textual derives them (``theme_colours``): every status
mark's colour (``$text-<tone>``, ``statuses.THEME_VARIABLES``) against the background and the surface at 4.5:1
(text), the borders (columns and separators: ``$foreground-muted``, blended onto what it is drawn on; a focused
column: ``$primary``) against the same at 3:1 (non-text).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.color import Color

from orchestra_tui.statuses import LOOKS, THEME_VARIABLES
from orchestra_tui.tui.status_text import theme_colours
from orchestra_tui.tui.themes import load_themes
from orchestra_tui.tui.widgets.output import OutputPanes

from ..helpers.tui import app_on, board, drawn_style, screen
from ..helpers.waits import until

THEMES = load_themes()
TEXT, NON_TEXT = 4.5, 3.0  # WCAG 2.1 AA: 1.4.3 text, 1.4.11 user-interface components
GROUNDS = ("background", "surface")


def luminance(colour: Color) -> float:
    """WCAG relative luminance of an opaque colour."""

    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    return 0.2126 * channel(colour.r) + 0.7152 * channel(colour.g) + 0.0722 * channel(colour.b)


def contrast(one: Color, other: Color) -> float:
    high, low = sorted((luminance(one), luminance(other)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def on(colours: dict[str, str], name: str, ground: str) -> tuple[Color, Color]:
    """A theme colour as drawn on a ground colour (its alpha blended onto it), and the ground."""
    base = Color.parse(colours[ground])
    return base + Color.parse(colours[name]), base


def test_the_shipped_themes_are_the_ones_checked() -> None:
    assert {"dark", "light", "nord"} <= set(THEMES)


@pytest.mark.parametrize("theme", sorted(THEMES))
def test_every_status_mark_is_legible_on_the_background_and_the_surface(theme: str) -> None:
    colours = theme_colours(THEMES[theme])
    variables = {variable or "foreground" for variable in THEME_VARIABLES.values()}
    assert len(variables) == len({look.tone for look in LOOKS.values()})
    low = {
        (variable, ground): round(contrast(*on(colours, variable, ground)), 2)
        for variable in sorted(variables)
        for ground in GROUNDS
    }
    assert {pair: ratio for pair, ratio in low.items() if ratio < TEXT} == {}


@pytest.mark.parametrize("theme", sorted(THEMES))
def test_the_borders_stand_out_from_the_background_and_the_surface(theme: str) -> None:
    colours = theme_colours(THEMES[theme])
    low = {
        (border, ground): round(contrast(*on(colours, border, ground)), 2)
        for border in ("foreground-muted", "primary")
        for ground in GROUNDS
    }
    assert {pair: ratio for pair, ratio in low.items() if ratio < NON_TEXT} == {}


@pytest.mark.parametrize("theme", sorted(THEMES))
async def test_the_board_columns_borders_as_drawn_meet_aa(theme: str, demo_dir: Path, tmp_path: Path) -> None:
    """The column's border on screen (its corner's colour against the colour drawn behind it)."""
    app = app_on(demo_dir, tmp_path, theme=theme)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        column = app.query_one("#board-blocked")
        region = column.region
        corner = screen(app)[region.y].crop(region.x, region.x + 1)
        style = next(iter(corner)).style
        assert style is not None and style.color is not None and style.bgcolor is not None
        ratio = contrast(Color.from_rich_color(style.color), Color.from_rich_color(style.bgcolor))
        assert ratio >= NON_TEXT, f"{theme}: the column border is {ratio:.2f}:1"


async def test_switching_the_theme_recolours_a_cards_mark(demo_dir: Path, tmp_path: Path) -> None:
    """The blocked mark takes each theme's ``$text-warning`` (not the terminal's yellow), on the board as drawn."""
    app = app_on(demo_dir, tmp_path, theme="dark")

    def blocked_mark() -> Color | None:
        column = board(app).columns["blocked"]
        region = column.content_region
        for strip in screen(app)[region.y : region.bottom]:
            for segment in strip.crop(region.x, region.right):
                if segment.text.startswith(LOOKS["blocked"].mark) and segment.style and segment.style.color:
                    return Color.from_rich_color(segment.style.color)
        return None

    def warning(theme: str) -> Color:
        return Color.parse(theme_colours(THEMES[theme])["text-warning"])

    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: blocked_mark() == warning("dark"), "the dark theme's warning colour")
        app.theme = "light"
        await until(pilot, lambda: blocked_mark() == warning("light"), "the light theme's warning colour")
        app.theme = "nord"
        await until(pilot, lambda: blocked_mark() == warning("nord"), "the nord theme's warning colour")


async def test_a_search_match_is_the_themes_warning_colour_reversed(demo_dir: Path, tmp_path: Path) -> None:
    """An output pane's matches are each theme's ``$text-warning`` reversed (on it, ``$background``; not black on
    the terminal's yellow), legible (AA), and follow a theme switch."""
    app = app_on(demo_dir, tmp_path, theme="dark")

    def match() -> tuple[Color, Color] | None:
        style = drawn_style(app, "NEEDLE")
        if style is None or style.color is None or style.bgcolor is None:
            return None
        return Color.from_rich_color(style.color), Color.from_rich_color(style.bgcolor)

    def on_warning(theme: str) -> bool:
        drawn = match()
        colours = theme_colours(THEMES[theme])
        expected = Color.parse(colours["background"]), Color.parse(colours["text-warning"])
        return drawn == expected and contrast(*drawn) >= TEXT

    async with app.run_test(size=(120, 40)) as pilot:
        panes = app.query_one(OutputPanes)
        panes.run_started("r1", "DES-001", "shell", "DES-001")
        panes.append("r1", "DES-001", "".join(f"line {n}" + (" NEEDLE" if n == 3 else "") + "\n" for n in range(10)))
        await until(pilot, lambda: panes.current is not None and panes.tabs.active == panes.current.tab_id, "the pane")
        await pilot.press("o", "slash", *"needle", "enter")
        for theme in ("dark", "light", "nord"):
            app.theme = theme
            await until(pilot, lambda theme=theme: on_warning(theme), f"the {theme} theme's warning colour")
