"""Plain tables written row by row, looking as rich's ``Table`` (``box.SIMPLE_HEAD``, no edge) draws them.

A rich Table lays out and renders every cell of every row before it prints anything: ~0.6 ms a row, 6 s for
10,000 tasks. Here rich decides the column widths once, from the header and two rows that carry each column's
widest cell and longest word (which are all its measurement depends on); every row is then cut, padded and
written as it is formatted, in chunks. A cell that may wrap (``no_wrap=False``) and is too long is wrapped by
rich, for that cell only. On a terminal, output taller than the window goes through ``$PAGER`` (``less``, with
``LESS=FRX`` when unset), as git does; piped output never does.
"""

from __future__ import annotations

import functools
import os
import shlex
import subprocess
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import IO, TYPE_CHECKING

from rich.cells import cell_len, set_cell_size
from rich.color import ColorSystem
from rich.style import Style
from rich.text import Text

from ..display import one_line

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Column, Table

Cell = str | Text
_COLOR_SYSTEMS = {
    "standard": ColorSystem.STANDARD,
    "256": ColorSystem.EIGHT_BIT,
    "truecolor": ColorSystem.TRUECOLOR,
    "windows": ColorSystem.WINDOWS,
}
_CHUNK = 256  # rows per write
PAGER_ENV = "ORCHESTRA_PAGER"


def _plain(cell: Cell) -> str:
    return one_line(cell.plain if isinstance(cell, Text) else cell)


def _longest_word(text: str) -> str:
    return max(text.split(), key=cell_len, default="")


def column_widths(console: Console, table: Table, rows: Sequence[Sequence[Cell]]) -> list[int]:
    """Each column's width with its padding, as rich would give the table holding ``rows``."""
    from rich.table import Table

    probe = Table(box=table.box, pad_edge=table.pad_edge, show_edge=table.show_edge, padding=table.padding)
    for column in table.columns:
        probe.add_column(
            column.header,
            justify=column.justify,
            no_wrap=column.no_wrap,
            min_width=column.min_width,
            max_width=column.max_width,
            width=column.width,
            overflow=column.overflow,
        )
    plain = [[_plain(cell) for cell in row] for row in rows]
    columns = range(len(table.columns))
    probe.add_row(*(max((row[i] for row in plain), key=cell_len, default="") for i in columns))
    probe.add_row(*(max((_longest_word(row[i]) for row in plain), key=cell_len, default="") for i in columns))
    # rich computes the widths in Table.__rich_console__; this is that call (rich has no public one).
    options = console.options.update_width(console.options.max_width - probe._extra_width)
    return probe._calculate_column_widths(console, options)


class _Styler:
    """ANSI for a style, or nothing when the console has no colour."""

    def __init__(self, console: Console) -> None:
        self.system = _COLOR_SYSTEMS.get(console.color_system or "")
        self.console = console

    def __call__(self, text: str, style: str | Style | None) -> str:
        if self.system is None or not style or not text:
            return text
        parsed = style if isinstance(style, Style) else self.console.get_style(style)
        return parsed.render(text, color_system=self.system)


def _fit(text: str, width: int, column: Column) -> list[str]:
    """The cell's lines at ``width`` cells, cut or wrapped as the column says, not yet padded."""
    if cell_len(text) <= width:
        return [text]
    if width <= 0:
        return [""]
    if column.no_wrap:
        if column.overflow == "ellipsis" and width > 0:
            return [set_cell_size(text, width - 1) + "…"]
        return [set_cell_size(text, width)]
    return [line.plain for line in Text(text).wrap(_wrap_console(), width, overflow=column.overflow)]


@functools.cache
def _wrap_console() -> Console:
    """One console for the rare cell that wraps (its width and colours do not matter to the wrapping)."""
    from rich.console import Console

    return Console(width=10_000, color_system=None)


def _crop(segments: list[tuple[str, str | Style | None]], width: int) -> Iterator[tuple[str, str | Style | None]]:
    """The segments cut at ``width`` cells: rich crops a table wider than the console."""
    for text, style in segments:
        size = cell_len(text)
        if size > width:
            yield set_cell_size(text, width), style
            return
        yield text, style
        width -= size


class RowWriter:
    """Formats rows at fixed widths: ``header()``, ``rule()``, then ``row(cells)`` lines."""

    def __init__(self, console: Console, table: Table, widths: list[int]) -> None:
        self.columns = table.columns
        self.widths = widths
        self.style = _Styler(console)
        last = len(widths) - 1
        left, right = (1, 1) if table.padding == (0, 1, 0, 1) else (table.padding[3], table.padding[1])
        self.pads = [(0 if i == 0 else left, 0 if i == last else right) for i in range(len(widths))]
        self.header_style = console.get_style("table.header")
        self.max_width = console.width

    def _line(self, cells: Sequence[tuple[str, str | Style | None]]) -> Iterator[str]:
        parts = []
        for (text, style), column, width, (left, right) in zip(
            cells, self.columns, self.widths, self.pads, strict=True
        ):
            inner = max(0, width - left - right)
            parts.append((_fit(text, inner, column), style, column, inner, width))
        height = max(len(lines) for lines, *_ in parts)
        for index in range(height):
            segments: list[tuple[str, str | Style | None]] = []
            for number, (lines, style, column, inner, width) in enumerate(parts):
                if number:
                    segments.append((" ", None))
                text = lines[index] if index < len(lines) else ""
                gap = inner - cell_len(text)
                if column.justify == "right":
                    text = " " * gap + text
                elif column.justify == "center":
                    text = " " * (gap // 2) + text + " " * (gap - gap // 2)
                else:
                    text = text + " " * gap
                left, right = self.pads[number]
                if inner or width >= left + right:
                    segments += [(" " * left, None), (text, style), (" " * right, None)]
                else:  # narrower than its padding: rich shows that many spaces
                    segments.append((" " * width, None))
            yield "".join(self.style(text, style) for text, style in _crop(segments, self.max_width))

    def header(self) -> Iterator[str]:
        styled = []
        for column in self.columns:
            style = self.header_style + self.style.console.get_style(column.header_style or "")
            styled.append((str(column.header), style))
        return self._line(styled)

    def rule(self) -> str:
        return "─" * min(self.max_width, sum(self.widths) + len(self.widths) - 1)

    def row(self, cells: Sequence[Cell]) -> Iterator[str]:
        return self._line(
            [
                (
                    _plain(cell),
                    (cell.style if isinstance(cell, Text) and cell.style else None) or column.style or None,
                )
                for cell, column in zip(cells, self.columns, strict=True)
            ]
        )


def lines(console: Console, table: Table, rows: Sequence[Sequence[Cell]]) -> Iterator[str]:
    """The table's lines, as rich would print them (trailing spaces included)."""
    writer = RowWriter(console, table, column_widths(console, table, rows))
    if table.show_header:
        yield from writer.header()
        yield writer.rule()
    for row in rows:
        yield from writer.row(row)


@contextmanager
def paged(console: Console, height: int) -> Iterator[IO[str]]:
    """Where to write ``height`` lines: ``$PAGER`` when they do not fit the terminal, else the console's file."""
    command = _pager_command() if _on_terminal(console.file) and height > console.height else None
    if command is None:
        yield console.file
        return
    env = dict(os.environ)
    env.setdefault("LESS", "FRX")
    try:
        pager = subprocess.Popen(command, stdin=subprocess.PIPE, env=env, text=True, encoding="utf-8")
    except OSError:
        yield console.file
        return
    assert pager.stdin is not None
    try:
        yield pager.stdin
        pager.stdin.close()
    except BrokenPipeError:  # the person quit the pager before the end
        pass
    finally:
        pager.wait()


def _on_terminal(stream: IO[str]) -> bool:
    """The stream itself is a terminal (not merely coloured, as ``FORCE_COLOR`` makes rich's console)."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _pager_command() -> list[str] | None:
    """``$ORCHESTRA_PAGER``, else ``$PAGER``, else ``less``; None for an empty one or ``cat``."""
    value = os.environ.get(PAGER_ENV, os.environ.get("PAGER", "less"))
    try:
        command = shlex.split(value)
    except ValueError:
        return None
    return None if not command or command == ["cat"] else command


def print_table(console: Console, table: Table, rows: Iterable[Sequence[Cell]]) -> None:
    """Write the table (its columns and ``rows``) row by row, through the pager when it is taller than the terminal."""
    rows = list(rows)
    height = len(rows) + (2 if table.show_header else 0)
    with paged(console, height) as out:
        chunk: list[str] = []
        for line in lines(console, table, rows):
            chunk.append(line)
            if len(chunk) >= _CHUNK:
                out.write("\n".join(chunk) + "\n")
                chunk.clear()
        if chunk:
            out.write("\n".join(chunk) + "\n")
        out.flush()
