"""The real-terminal smoke test: ``orchestra DIR`` in a detached tmux pane, driven by keys, read back with
``capture-pane``. It runs the installed app as a user would (a real terminal, the real shell agent), so it
catches what Pilot cannot: the entry point, terminal set-up, and drawing to a real screen.

Each test uses its own tmux server (``-L``), so a user's tmux is never touched, and kills it at the end.
Skipped, with the reason, when tmux is not installed (``.ci/run`` installs it).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from orchestra_tui.tui.config import CONFIG_ENV

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (.ci/run installs it)")

WIDTH, HEIGHT = 120, 40
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


def clean_environment() -> dict[str, str]:
    """The environment for tmux (and so the app) and the CLI: ``os.environ`` without COLUMNS and LINES. Under
    pytest, readline is imported and exports COLUMNS=80 LINES=24 with setenv(3): invisible in ``os.environ``,
    inherited by a child started without ``env=``, and Textual takes the terminal size from them first."""
    return {name: value for name, value in os.environ.items() if name not in ("COLUMNS", "LINES")}


def orchestra_command() -> list[str]:
    """The installed ``orchestra`` script next to this Python, else the module."""
    script = Path(sys.executable).with_name("orchestra")
    return [str(script)] if script.exists() else [sys.executable, "-m", "orchestra_tui.cli.main"]


class Pane:
    """One app in a tmux pane of a fixed size, on a private tmux server."""

    def __init__(self, directory: Path) -> None:
        self.socket = f"orchestra-test-{uuid.uuid4().hex[:12]}"
        self.config = directory / "tmux.conf"
        self.config.write_text("set -g remain-on-exit on\nset -g status off\n")
        self.status = directory / "exit-status"
        self.socket_path: Path | None = None

    def start(self, command: list[str], cwd: Path) -> None:
        """Run ``command`` in the pane; the pane's shell then writes its exit status (tmux may be slow to reap)."""
        shell = f"{shlex.join(command)}; echo $? > {shlex.quote(str(self.status))}"
        self.tmux("new-session", "-d", "-s", "app", "-x", str(WIDTH), "-y", str(HEIGHT), "-c", str(cwd), shell)
        self.socket_path = Path(self.tmux("display-message", "-p", "#{socket_path}").strip())

    def close(self) -> None:
        """Kill the server (and the app with it, if still running) and remove its socket, which tmux leaves."""
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], check=False, capture_output=True, timeout=10)
        if self.socket_path is not None:
            self.socket_path.unlink(missing_ok=True)

    def tmux(self, *args: str) -> str:
        done = subprocess.run(
            ["tmux", "-L", self.socket, "-f", str(self.config), *args],
            check=False,
            capture_output=True,
            text=True,
            timeout=10,
            env=clean_environment(),
        )
        assert done.returncode == 0, f"tmux {' '.join(args)}: {done.stderr.strip()}"
        return done.stdout

    def text(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "app")

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "app", *keys)

    def wait(self, condition: Callable[[str], bool], what: str, timeout: float = 10.0) -> str:
        """Poll the screen until ``condition(text)`` holds; fail with the last screen after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.text()
            if condition(text):
                return text
            assert time.monotonic() < deadline, f"not within {timeout} s: {what}; the screen:\n{text}"
            time.sleep(0.05)

    def exit_status(self) -> str | None:
        """The app's exit status once it has ended."""
        try:
            text = self.status.read_text()
        except FileNotFoundError:
            return None
        return text.strip() if text.endswith("\n") else None


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
    pane.wait(lambda s: all(part in s for part in parts) and full_width(s), "the board, across the whole pane")

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
        lambda s: all(part in s for part in ("2/10 tasks", "Done 2", "✓ DES-002")), "the CLI's change", timeout=1.5
    )

    pane.keys("u")  # undo: the last change, the CLI's
    pane.wait(
        lambda s: all(part in s for part in ("1/10 tasks", "Done 1", "● DES-002")) and "✓ DES-002" not in s, "the undo"
    )
    assert json.loads(cli(demo_dir, tmp_path, "show", "DES-002", "--json"))["derived_status"] == "ready"

    pane.keys("q")
    deadline = time.monotonic() + 10
    while (status := pane.exit_status()) is None:
        assert time.monotonic() < deadline, f"the app did not exit on q; the screen:\n{pane.text()}"
        time.sleep(0.05)
    assert status == "0"
