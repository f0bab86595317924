"""The console-script entry sits above the faces: the CLI hands over to the app and the MCP server through
``cli.handoff``, which only ``orchestra_tui.entry`` fills in (the faces import none of each other)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from orchestra_tui.cli import handoff

from ..helpers.cli import user_error
from ..helpers.plans import task_block, write_plan


def test_the_cli_alone_refuses_to_serve_mcp_in_one_line(tmp_path: Path) -> None:
    write_plan(tmp_path, task_block("A"))
    assert handoff.FACES.serve_mcp is None  # nothing in this process ran the entry
    line = user_error(tmp_path, "mcp")
    assert "cannot serve MCP" in line and "orchestra_tui.entry" in line


def test_python_dash_m_is_the_console_script(tmp_path: Path) -> None:
    """``python -m orchestra_tui`` runs the same entry as ``orchestra`` (the tests and benchmarks start it so)."""
    write_plan(tmp_path, task_block("A"))
    done = subprocess.run(
        [sys.executable, "-m", "orchestra_tui", "-p", str(tmp_path), "next", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert '"A"' in done.stdout


def test_the_entry_hands_over_to_both_faces() -> None:
    script = (
        "from orchestra_tui import entry\nfrom orchestra_tui.cli import handoff\nimport sys\n"
        "sys.argv = ['orchestra', '--version']\n"
        "try:\n    entry.main()\nexcept SystemExit:\n    pass\n"
        "print(handoff.FACES.open_app is entry.open_app, handoff.FACES.serve_mcp is entry.serve_mcp,"
        " 'textual' in sys.modules, 'mcp' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-4:] == ["True", "True", "False", "False"]
