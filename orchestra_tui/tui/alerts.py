"""Calling the person at the keyboard (issue 14 item 20): a toast always, then the terminal bell and an OSC 9
desktop notification as ``[notify]`` in config.toml says::

    [notify]
    bell = false        # ring the terminal bell too (default: no)
    desktop = "auto"    # OSC 9 desktop notification: "auto" (default), "on" or "off"

``auto`` sends OSC 9 only to a terminal known to show it (iTerm2, WezTerm, Ghostty, kitty, by
``TERM_PROGRAM``/``TERM``) and never inside tmux or screen, which would swallow it or pass it on to a
terminal that prints it. The text is ours (``engine/attention.py``'s lines, the autopilot's end), made one
printable line (``display.one_line``) and bounded before it is framed, so nothing an agent printed can end
the sequence early or add one of its own.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict

from ..display import one_line

if TYPE_CHECKING:
    from textual.app import App

DESKTOP_TERMINALS = frozenset({"iTerm.app", "WezTerm", "ghostty"})  # TERM_PROGRAM values showing OSC 9
DESKTOP_TERMS = frozenset({"xterm-kitty", "xterm-ghostty"})
MAX_DESKTOP_TEXT = 200  # characters of a desktop notification


class NotifyConfig(BaseModel):
    """``[notify]`` in config.toml."""

    model_config = ConfigDict(extra="forbid")

    bell: bool = False
    desktop: Literal["auto", "on", "off"] = "auto"


def desktop_supported(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the terminal is known to show OSC 9 notifications (and no multiplexer sits in between)."""
    environ = os.environ if environ is None else environ
    term = environ.get("TERM", "")
    if environ.get("TMUX") or environ.get("STY") or term.startswith(("screen", "tmux")):
        return False
    return environ.get("TERM_PROGRAM", "") in DESKTOP_TERMINALS or term in DESKTOP_TERMS


def osc9(text: str) -> str:
    """The OSC 9 sequence showing ``text``: one printable line, bounded, after ``orchestra: `` (a message
    starting with digits and ``;`` means something else to some terminals)."""
    line = one_line(text)
    if len(line) > MAX_DESKTOP_TEXT:
        line = line[: MAX_DESKTOP_TEXT - 1] + "…"
    return f"\x1b]9;orchestra: {line}\x07"


class Alerts:
    """How this app calls a person: decided once from the config and the terminal."""

    def __init__(self, config: NotifyConfig, environ: Mapping[str, str] | None = None) -> None:
        self.bell = config.bell
        self.desktop = config.desktop == "on" or (config.desktop == "auto" and desktop_supported(environ))

    def call(self, app: App[Any], text: str, severity: Literal["information", "warning", "error"]) -> None:
        """The toast, then the bell and the desktop notification as configured."""
        app.notify(text, severity=severity, timeout=15, markup=False)
        if self.bell:
            app.bell()
        if self.desktop:
            from .textual_compat import terminal_writer  # textual's internals load with the app, not with the config

            write = terminal_writer(app)
            if write is not None:
                write(osc9(text))
