"""Plain tables written row by row (cli/rows.py): the same text as rich's Table, and the pager on a terminal."""

from __future__ import annotations

import fcntl
import io
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from orchestra_tui.cli import rows

from ..helpers.plans import task_block, write_plan

WORDS = ["a", "bb", "ccc", "parser", "scheduler", "internationalisation", "日本語", "x" * 30, "T1,", "…"]
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _console(width: int, colour: bool) -> Console:
    return Console(
        file=io.StringIO(),
        width=width,
        color_system="truecolor" if colour else None,
        force_terminal=colour,
        markup=False,
        emoji=False,
        highlight=False,
    )


def _table() -> Table:
    """Columns like `orchestra list` and `orchestra backups` have: fixed, minimum, maximum, cut and wrapped."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    table.add_column("ID", no_wrap=True, style="bold", min_width=6)
    table.add_column("Status", no_wrap=True, min_width=13)
    table.add_column("Hours", justify="right", no_wrap=True, min_width=5)
    table.add_column("Title", min_width=20, no_wrap=True, overflow="ellipsis")
    table.add_column("Deps", max_width=24, no_wrap=True, overflow="ellipsis")
    table.add_column("Summary")
    return table


def rich_table_text(width: int, data: list[list[str | Text]], colour: bool = False) -> str:
    """The oracle: the whole table drawn by rich, as the CLI printed it before."""
    console, table = _console(width, colour), _table()
    for row in data:
        table.add_row(*row)
    console.print(table)
    out = console.file
    assert isinstance(out, io.StringIO)
    return out.getvalue()


phrases = st.lists(st.sampled_from(WORDS), max_size=14).map(" ".join)
row = st.tuples(st.integers(0, 99999), phrases, st.sampled_from(["1", "2.5", "12"]), phrases, phrases)


@settings(max_examples=200, deadline=None)
@given(st.integers(20, 220), st.lists(row, max_size=6), st.booleans())
def test_rows_read_as_richs_table(width: int, data: list[tuple[int, str, str, str, str]], colour: bool) -> None:
    cells: list[list[str | Text]] = [
        [f"T{n:05d}", Text("● ready", style="bold green"), hours, title, deps, summary]
        for n, title, hours, deps, summary in data
    ]
    expected = rich_table_text(width, cells, colour)
    got = "\n".join(rows.lines(_console(width, colour), _table(), cells)) + "\n"
    assert ANSI.sub("", got) == ANSI.sub("", expected)
    if colour and cells and width > 30:
        assert "\x1b[1;32m● ready" in got


def _plan(root: Path, count: int) -> Path:
    write_plan(root, "".join(task_block(f"T{i}") for i in range(count)))
    return root


def _on_a_terminal(root: Path, *args: str, env: dict[str, str], rows_: int = 24) -> str:
    """Run orchestra with stdout on a pseudo-terminal of ``rows_`` lines; what it wrote there (bounded: 60 s)."""
    main, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", rows_, 100, 0, 0))
    command = [sys.executable, "-m", "orchestra_tui", "-p", str(root), *args]
    full_env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "FORCE_COLOR")} | env
    process = subprocess.Popen(command, stdin=child, stdout=child, stderr=subprocess.PIPE, env=full_env)
    os.close(child)
    out = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([main], [], [], 0.5)
        if ready:
            try:
                data = os.read(main, 65536)
            except OSError:
                break
            if not data:
                break
            out += data
        elif process.poll() is not None:
            break
    process.wait(timeout=60)
    os.close(main)
    return out.decode("utf-8", "replace")


def test_a_long_list_on_a_terminal_goes_through_the_pager(tmp_path: Path) -> None:
    root = _plan(tmp_path / "p", 40)
    paged = tmp_path / "paged.txt"
    pager = f"{sys.executable} -c \"import sys; open({str(paged)!r}, 'w').write(sys.stdin.read())\""
    shown = _on_a_terminal(root, "list", env={"PAGER": pager, "NO_COLOR": "1"})
    text = paged.read_text()
    assert "T39" in text and text.count("\n") == 42, text  # header, rule, 40 rows
    assert "T39" not in shown  # the rows went to the pager, not around it


def test_a_short_list_or_a_pipe_is_never_paged(tmp_path: Path) -> None:
    root = _plan(tmp_path / "p", 5)
    paged = tmp_path / "paged.txt"
    pager = f"{sys.executable} -c \"open({str(paged)!r}, 'w').write('pager ran')\""
    shown = _on_a_terminal(root, "list", env={"PAGER": pager, "NO_COLOR": "1"})
    assert "T4" in shown and not paged.exists()
    long_root = _plan(tmp_path / "long", 40)
    piped = subprocess.run(
        [sys.executable, "-m", "orchestra_tui", "-p", str(long_root), "list"],
        capture_output=True,
        text=True,
        timeout=60,
        env=os.environ | {"PAGER": pager, "FORCE_COLOR": "1"},
    )
    assert "T39" in piped.stdout and not paged.exists()


def test_which_pager(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ORCHESTRA_PAGER", raising=False)
    monkeypatch.delenv("PAGER", raising=False)
    assert rows._pager_command() == ["less"]
    monkeypatch.setenv("PAGER", "most -s")
    assert rows._pager_command() == ["most", "-s"]
    monkeypatch.setenv("ORCHESTRA_PAGER", "cat")
    assert rows._pager_command() is None
    monkeypatch.setenv("ORCHESTRA_PAGER", "")
    assert rows._pager_command() is None
