"""The app in a real terminal: a tmux pane driven by keys and read back as text."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

WIDTH, HEIGHT = 120, 40


def clean_environment() -> dict[str, str]:
    """The environment for tmux (and so the app) and the CLI: ``os.environ`` without COLUMNS and LINES. Under
    pytest, readline is imported and exports COLUMNS=80 LINES=24 with setenv(3): invisible in ``os.environ``,
    inherited by a child started without ``env=``, and Textual takes the terminal size from them first."""
    return {name: value for name, value in os.environ.items() if name not in ("COLUMNS", "LINES")}


def orchestra_command() -> list[str]:
    """The installed ``orchestra`` script next to this Python, else the module."""
    script = Path(sys.executable).with_name("orchestra")
    return [str(script)] if script.exists() else [sys.executable, "-m", "orchestra_tui"]


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
