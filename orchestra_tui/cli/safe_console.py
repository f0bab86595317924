"""The rich Console of the CLI: text from elsewhere is shown safely (docs/ARCHITECTURE.md C13).

It writes to the unwrapped stream (:mod:`.safe`) and passes the text of each segment it renders through
:func:`~orchestra_tui.display.printable` while keeping its own styling (the colour escapes rich adds
itself); it never parses markup or emoji codes, so ``[link=...]`` or ``[/]`` in a task title prints
literally. Rich offers no public hook at segment level, hence the override of its ``_render_buffer``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

from rich.console import Console
from rich.segment import Segment

from ..display import printable
from .safe import raw


class SafeConsole(Console):
    """A rich Console that shows text from elsewhere safely (see the module docstring)."""

    def __init__(self, *, stderr: bool = False, **options: Any) -> None:
        stream = raw(sys.stderr if stderr else sys.stdout)
        super().__init__(file=stream, markup=False, emoji=False, **options)

    def _render_buffer(self, buffer: Iterable[Segment]) -> str:
        return super()._render_buffer(
            Segment(printable(text), style, control) if control is None and text else Segment(text, style, control)
            for text, style, control in buffer
        )
