"""The keys, as they are bound now (a remapped key shows its new keys), grouped by where they work."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

Section = tuple[str, Sequence[tuple[str, str, str]]]  # title, (keys, name, what it does)


def keys_table(sections: Sequence[Section]) -> Table:
    """One table for every section, so the columns line up from one section to the next; sections with the
    same title are one."""
    merged: dict[str, list[tuple[str, str, str]]] = {}
    for title, rows in sections:
        merged.setdefault(title, []).extend(rows)
    table = Table.grid(padding=(0, 2))
    table.add_column(no_wrap=True, style="bold", min_width=12)
    table.add_column(no_wrap=True, min_width=24)
    table.add_column(style="dim")
    for index, (title, rows) in enumerate(merged.items()):
        if index:
            table.add_row("")
        table.add_row(Text(title, style="bold underline"))
        for keys, name, what in rows:
            table.add_row(Text(keys), Text(name), Text(what))
    return table


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 90%; max-width: 110; height: auto; max-height: 90%;
        border: thick $primary; background: $surface; padding: 0 1;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,question_mark,q", "close", "Close", id="help.close")]

    def __init__(self, sections: Sequence[Section]) -> None:
        super().__init__()
        self.sections = sections

    def compose(self) -> ComposeResult:
        with VerticalScroll() as scroll:
            scroll.border_title = "Keys (escape closes; \\[keymap] in config.toml remaps the app's, by id)"
            yield Static(keys_table(self.sections))

    def action_close(self) -> None:
        self.dismiss(None)
