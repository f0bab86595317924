"""A status as the TUI shows it: its mark and name in the running theme's colour for it (``statuses.py``).

Rich cells (the board's, the table's, the detail pane's) hold concrete styles, so a view takes a ``Palette``
from the theme (``palette``) and draws its cells again when the theme changes; Textual ``Content`` (the output
panes' tabs and headers) names the theme variable and Textual resolves it at render time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from rich.style import Style
from rich.text import Text
from textual.color import Color, ColorParseError
from textual.content import Content
from textual.theme import Theme
from textual.widget import Widget

from ..statuses import LOOKS, STATUS_MARKS, THEME_VARIABLES

Palette = Mapping[str, Style]  # status -> its style in one theme


def theme_colours(theme: Theme) -> dict[str, str]:
    """A theme's variables as Textual computes them (``App.get_css_variables``): generated, then the theme's own."""
    return {**theme.to_color_system().generate(), **theme.variables}


def _colour(value: str | None) -> Color | None:
    try:
        return Color.parse(value) if value else None
    except ColorParseError:
        return None  # a theme variable that is not a colour: the status is drawn in the foreground


def palette(theme: Theme) -> dict[str, Style]:
    colours = theme_colours(theme)
    styles = {}
    for status, look in LOOKS.items():
        variable = THEME_VARIABLES[status]
        colour = _colour(colours.get(variable)) if variable else None
        styles[status] = Style(color=colour.rich_color if colour else None, bold=look.bold or None)
    return styles


def status_text(status: str, colours: Palette) -> Text:
    key = str(status)
    return Text(f"{STATUS_MARKS.get(key, '?')} {status}", style=colours.get(key, ""))


def status_content(status: str) -> Content:
    """The same as Content, coloured by the theme variable itself (resolved when drawn)."""
    key = str(status)
    look, variable = LOOKS.get(key), THEME_VARIABLES.get(key)
    style = " ".join(
        part for part in ("bold" if look and look.bold else "", f"${variable}" if variable else "") if part
    )
    return Content.styled(f"{STATUS_MARKS.get(key, '?')} {status}", style)


class ThemePalette:
    """One widget's palette of the running theme: computed on first use and again on every theme change, after
    which ``recolour`` runs (the widget draws its cells again). ``follow`` subscribes; call it on mount."""

    def __init__(self, widget: Widget, recolour: Callable[[], None]) -> None:
        self.widget, self.recolour = widget, recolour
        self._styles: Palette | None = None

    def follow(self) -> None:
        self.widget.app.theme_changed_signal.subscribe(self.widget, self._changed)

    @property
    def styles(self) -> Palette:
        if self._styles is None:
            self._styles = palette(self.widget.app.current_theme)
        return self._styles

    def _changed(self, theme: Theme) -> None:
        self._styles = palette(theme)
        self.recolour()
