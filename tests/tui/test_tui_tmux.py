"""The real-terminal smoke test: ``orchestra DIR`` in a detached tmux pane, driven by keys, read back with
``capture-pane``. It runs the installed app as a user would (a real terminal, the real shell agent), so it
catches what Pilot cannot: the entry point, terminal set-up, and drawing to a real screen.

Each test uses its own tmux server (``-L``), so a user's tmux is never touched, and kills it at the end.
Skipped, with the reason, when tmux is not installed (``.ci/run`` installs it).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestra_tui.tui.config import CONFIG_ENV

from ..helpers.tmux import WIDTH, Pane, clean_environment, orchestra_command

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (.ci/run installs it)")

DEMO_IDS = (
    "DES-001",
    "DES-002",
    "DES-003",
    "DEV-001",
    "DEV-002",
    "DEV-003",
    "DEV-004",
    "TST-001",
    "TST-002",
    "TST-003",
)
BOX_DRAWING = set("─│┌┐└┘├┤┬┴┼╭╮╰╯")


@pytest.fixture
def pane(demo_dir: Path, tmp_path: Path) -> Iterator[Pane]:
    pane = Pane(tmp_path)
    try:
        pane.start(
            ["env", "TERM=xterm-256color", f"{CONFIG_ENV}={tmp_path / 'config'}", *orchestra_command(), str(demo_dir)],
            cwd=tmp_path,
        )
        yield pane
    finally:
        pane.close()


def full_width(screen: str) -> bool:
    """Whether the app draws across the whole pane (it would not if it took its size from COLUMNS/LINES)."""
    return max(len(line) for line in screen.splitlines()) == WIDTH


def cli(demo_dir: Path, tmp_path: Path, *args: str) -> str:
    env = {**clean_environment(), CONFIG_ENV: str(tmp_path / "config")}
    done = subprocess.run(
        [*orchestra_command(), "-p", str(demo_dir), *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_app_in_a_real_terminal(pane: Pane, demo_dir: Path, tmp_path: Path) -> None:
    # Each wait names everything the screen must show: a capture can catch a frame half written.
    parts = ("wordfreq", "0/10 tasks", "Ready 1", "● DES-001", "Blocked 9")  # empty columns: labels downwards
    pane.wait(
        lambda s: all(part in s for part in parts) and full_width(s), "the board, across the whole pane", timeout=30
    )  # the app's start-up: imports and the first frame, slow on a loaded machine

    pane.keys("a")  # dispatch all ready: DES-001 alone; the shell agent runs it and it completes itself
    pane.wait(
        lambda s: all(part in s for part in ("1/10 tasks", "Done 1", "✓ DES-001", "Ready 3")),
        "DES-001 done",
        timeout=15,
    )
    assert (demo_dir / "build" / "SPEC.md").is_file()

    pane.keys("2")
    dag = pane.wait(
        lambda s: all(task_id in s for task_id in DEMO_IDS) and "✓ DES-001" in s and "Blocked" not in s, "the DAG"
    )
    assert len(BOX_DRAWING & set(dag)) >= 6, dag  # boxes and edges: corners, lines, tees

    pane.keys("3")
    timeline = pane.wait(
        lambda s: "DES-001 completed" in s and "no difference: this is the current state" in s, "the timeline"
    )
    position = re.search(r"\b(\d{8})  (\d+) of (\d+)\b", timeline)  # the cursor starts on the last entry
    assert position and position[2] == position[3] and int(position[1]) == int(position[3]), timeline

    pane.keys("1")
    pane.wait(lambda s: "Ready 3" in s and "Done 1" in s, "the board again")
    cli(demo_dir, tmp_path, "complete", "DES-002")  # another process changes the project while the app is open
    pane.wait(
        lambda s: all(part in s for part in ("2/10 tasks", "Done 2", "✓ DES-002")), "the CLI's change"
    )  # how soon it shows is a figure (README), not asserted here

    pane.keys("u")  # undo: the last change, the CLI's
    pane.wait(
        lambda s: all(part in s for part in ("1/10 tasks", "Done 1", "● DES-002")) and "✓ DES-002" not in s, "the undo"
    )
    assert json.loads(cli(demo_dir, tmp_path, "show", "DES-002", "--json"))["derived_status"] == "ready"

    pane.keys("q")
    pane.wait(lambda _screen: pane.exit_status() is not None, "the app's exit on q", timeout=10)
    assert pane.exit_status() == "0"


def test_one_press_of_A_in_a_real_terminal_finishes_the_demo(pane: Pane, demo_dir: Path) -> None:
    pane.wait(lambda s: "0/10 tasks" in s and "Ready 1" in s and full_width(s), "the board")
    pane.keys("A")  # the autopilot: the real shell agent runs the ten tasks, three at a time
    pane.wait(
        lambda s: all(part in s for part in ("100%", "10/10 tasks", "Done 10", "autopilot done")) and "⟳" not in s,
        "the ten tasks done and the autopilot off",
        timeout=60,
    )
    assert (demo_dir / "build").is_dir()
