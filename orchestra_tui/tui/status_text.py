"""A status as the TUI's cells show it: its mark and name, in its style (``statuses.py``)."""

from __future__ import annotations

from rich.text import Text

from ..statuses import STATUS_MARKS, TERMINAL_STYLES


def status_text(status: str) -> Text:
    key = str(status)
    return Text(f"{STATUS_MARKS.get(key, '?')} {status}", style=TERMINAL_STYLES.get(key, ""))
