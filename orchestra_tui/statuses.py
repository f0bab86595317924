"""Every task status and how it is shown, in one table that every face reads.

A status reads the same without colour everywhere: a plain mark before it (the CLI prints ``✗ failed``, the
board and the DAG show ``✗`` before the id). Its colour is a role (``tone``) rather than a colour: the TUI
takes the theme's ``$text-<tone>`` for it, the CLI an ANSI colour, so a theme changes every view at once.
The board puts it in a column; the DAG styles its box by a key (the widget's ``dag--<key>`` class); an
exported graph (Mermaid, dot) fills its node with a light colour. The orders below are the ones the faces list
statuses in.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Look:
    mark: str  # a plain character
    tone: str  # success, warning, primary, secondary, error, or foreground (no colour of its own)
    bold: bool  # drawn bold where the face has bold
    column: str  # the board's column
    dag: str  # the DAG's style key
    fill: str  # the node's fill in an exported graph


LOOKS: dict[str, Look] = {
    "ready": Look("●", "success", True, "ready", "ready", "#d4edda"),
    "blocked": Look("◌", "warning", False, "blocked", "blocked", "#fff3cd"),
    "pending": Look("○", "foreground", False, "blocked", "blocked", "#ffffff"),
    "in_progress": Look("▶", "primary", True, "running", "running", "#cce5ff"),
    "review": Look("◆", "secondary", False, "review", "review", "#e2d9f3"),
    "completed": Look("✓", "success", False, "done", "done", "#c3e6cb"),
    "failed": Look("✗", "error", True, "done", "failed", "#f5c6cb"),
    "cancelled": Look("⊘", "error", False, "done", "cancelled", "#e2e3e5"),
}
STATUS_MARKS: dict[str, str] = {status: look.mark for status, look in LOOKS.items()}
STATUS_ORDER = ("ready", "blocked", "in_progress", "review", "completed", "failed", "cancelled")  # counts lines
BOARD_ORDER = ("blocked", "ready", "in_progress", "review", "completed", "failed", "cancelled")  # the board's
URGENCY = ("failed", "cancelled", "in_progress", "review", "ready", "blocked", "pending", "completed")  # the table's

# A tone as a theme variable, for a face with a theme (the TUI): Textual's ``text-<tone>``, the tone made legible
# on the theme's background and surface (tests/tui/test_theme_contrast.py checks the shipped themes). None: the
# foreground (no colour of its own).
THEME_VARIABLES: dict[str, str | None] = {
    status: None if look.tone == "foreground" else f"text-{look.tone}" for status, look in LOOKS.items()
}

# A tone as a terminal colour, for a face without a theme (the CLI).
TERMINAL_COLOURS = {"success": "green", "warning": "yellow", "primary": "cyan", "secondary": "magenta", "error": "red"}
TERMINAL_STYLES: dict[str, str] = {
    status: " ".join(part for part in ("bold" if look.bold else "", TERMINAL_COLOURS.get(look.tone, "")) if part)
    for status, look in LOOKS.items()
}
