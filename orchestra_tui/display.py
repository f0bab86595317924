"""Text from a plan, a state file or an agent, made safe to show: the one function the CLI and the TUI pass
such text through before it reaches a terminal or a widget.

:func:`printable` redacts every registered secret (:mod:`.redaction`) and makes every control character
except newline and tab visible, so no escape sequence (``ESC ] 52`` clipboard writes, ``ESC ] 2`` window
titles, cursor moves, a bare ``CR`` that overwrites a line) from someone else's text reaches the terminal.
A C0 character is shown as its Unicode control picture (ESC as ``␛``), DEL as ``␡``, a C1 character as
``\\x9b``-style text. ``CR LF`` is a line break and becomes ``LF``. Markup (Rich's ``[bold]``) is the
faces' business: they escape it or show text without parsing it.
"""

from __future__ import annotations

import re

from .redaction import redact

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    if code < 0x20:
        return chr(0x2400 + code)
    if code == 0x7F:
        return "\u2421"
    return f"\\x{code:02x}"


def printable(text: str) -> str:
    """``text`` with secrets redacted and control characters (but newline and tab) made visible."""
    text = redact(text)
    if "\r\n" in text:
        text = text.replace("\r\n", "\n")
    return _CONTROL.sub(_visible, text)


def one_line(text: str) -> str:
    """:func:`printable`, with newlines and tabs shown as spaces: for a title or a cell."""
    return printable(text).replace("\n", " ").replace("\t", " ")
