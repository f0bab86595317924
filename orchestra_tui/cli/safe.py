"""Everything the CLI prints goes through :func:`orchestra_tui.display.printable` (docs/ARCHITECTURE.md C13).

:func:`install` wraps ``sys.stdout`` and ``sys.stderr`` so every plain line (``typer.echo``, ``print``, JSON)
is redacted and has its control characters made visible. Rich output goes to the unwrapped streams through
:class:`~orchestra_tui.cli.safe_console.SafeConsole`. (No rich here: the JSON paths never load it.)
"""

from __future__ import annotations

import io
import sys
from typing import Any, TextIO

from ..display import printable


class SafeStream(io.TextIOBase):
    """A text stream that writes :func:`printable` text to ``raw`` (and otherwise behaves like it)."""

    def __init__(self, raw: TextIO) -> None:
        self.raw = raw

    def write(self, text: str) -> int:
        self.raw.write(printable(text))
        return len(text)

    def flush(self) -> None:
        self.raw.flush()

    def isatty(self) -> bool:
        return self.raw.isatty()

    def fileno(self) -> int:
        return self.raw.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self.raw.encoding

    def __getattr__(self, name: str) -> Any:
        return getattr(self.raw, name)


def install() -> None:
    """Wrap ``sys.stdout`` and ``sys.stderr`` (once)."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is not None and not isinstance(stream, SafeStream):
            setattr(sys, name, SafeStream(stream))


def raw(stream: TextIO) -> TextIO:
    return stream.raw if isinstance(stream, SafeStream) else stream
