"""Calling a person (issue 14 item 20): a run reaching review, failing, handed to a person, and the autopilot's
end are toasts, and the bell and an OSC 9 desktop notification as config.toml's ``[notify]`` says. The OSC 9
text is ours and printable: what an agent prints never reaches the terminal as a sequence (real app on a
pseudo-terminal, real shell agent).
"""

from __future__ import annotations

import fcntl
import os
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

from orchestra_tui.engine.attention import needs_person
from orchestra_tui.engine.bus import RunEnded, RunStarted
from orchestra_tui.engine.runner import CANCELLED
from orchestra_tui.tui.alerts import desktop_supported, osc9
from orchestra_tui.tui.config import CONFIG_ENV

from ..helpers.plans import task_block, write_plan
from ..helpers.tui import app_on
from ..helpers.waits import until

ENTRY_POINT = [sys.executable, "-m", "orchestra_tui"]
HOSTILE = r"printf '\033]9;pwned\007\033]52;c;cHduZWQ=\007'"  # a desktop notification and a clipboard write


def test_the_runs_that_need_a_person_and_the_line_calling_them() -> None:
    assert needs_person(RunEnded("r", "A", "review")) == "A is ready for review"
    assert needs_person(RunEnded("r", "A", "failed", error="exit 3")) == "A failed: exit 3"
    assert needs_person(RunEnded("r", "A", "in_progress", handoff=True)).startswith("A is waiting for you")
    assert needs_person(RunEnded("r", "A", "failed", error=CANCELLED)) is None  # a person asked for it
    assert needs_person(RunEnded("r", "A", "completed")) is None
    assert needs_person(RunStarted("r", "A", "shell")) is None


def test_osc9_is_one_printable_bounded_line_and_auto_means_a_terminal_known_to_show_it() -> None:
    sequence = osc9("A failed: \x1b]52;c;eA==\x07\nnext\x9c" + "x" * 500)
    assert sequence.startswith("\x1b]9;orchestra: A failed: ␛]52;c;eA==␇ next\\x9c") and sequence.endswith("…\x07")
    assert sequence.count("\x1b") == 1 and sequence.count("\x07") == 1 and len(sequence) < 230
    assert desktop_supported({"TERM_PROGRAM": "WezTerm", "TERM": "xterm-256color"})
    assert desktop_supported({"TERM": "xterm-kitty"})
    assert not desktop_supported({"TERM": "xterm-256color"})
    assert not desktop_supported({"TERM_PROGRAM": "iTerm.app", "TMUX": "/tmp/tmux-0/default,1,0"})
    assert not desktop_supported({"TERM_PROGRAM": "ghostty", "TERM": "screen-256color"})


async def test_a_run_reaching_review_and_one_failing_are_toasts(tmp_path: Path) -> None:
    write_plan(tmp_path / "p", task_block("A", commands=["echo ok"]) + task_block("B", commands=["exit 3"]))
    app = app_on(tmp_path / "p", tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("a")
        messages = lambda: [n.message for n in app._notifications]  # noqa: E731
        await until(pilot, lambda: "A is ready for review" in messages(), "A in review", timeout=10)
        await until(pilot, lambda: any(m.startswith("B failed: ") for m in messages()), "B failed", timeout=10)
        assert not app.alerts.bell and not app.alerts.desktop  # the defaults, off a terminal known to show OSC 9


def terminal_session(args: list[str], env: dict[str, str], steps: list[tuple[bytes, bytes]], seconds: float) -> str:
    """Run ``orchestra ARGS`` on a pseudo-terminal (120x40); for each step, once ``wait_for`` has been written,
    type its keys. Returns everything the app wrote (the app is killed if it has not ended by then)."""
    main, terminal = os.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    clean = {k: v for k, v in os.environ.items() if k not in ("TMUX", "STY", "TERM_PROGRAM", "COLUMNS", "LINES")}
    process = subprocess.Popen(
        [*ENTRY_POINT, *args],
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        env={**clean, **env},
        start_new_session=True,
    )
    os.close(terminal)
    output = b""
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline and process.poll() is None:
            ready, _, _ = select.select([main], [], [], 0.05)
            if ready:
                try:
                    chunk = os.read(main, 65536)
                except OSError:
                    break
                output += chunk
            if steps and steps[0][0] in output:
                os.write(main, steps.pop(0)[1])
        return output.decode(errors="replace")
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        os.close(main)


def test_on_a_terminal_showing_osc9_a_failed_run_is_a_desktop_notification_of_our_text_only(tmp_path: Path) -> None:
    root = tmp_path / "p"
    command = f"{HOSTILE}; {HOSTILE} >&2; exit 3"
    write_plan(root, task_block("A") + f"commands = ['''{command}''']\n")
    config = tmp_path / "config"
    config.mkdir()
    (config / "config.toml").write_text('[notify]\nbell = true\ndesktop = "auto"\n')
    env = {CONFIG_ENV: str(config), "TERM": "xterm-256color", "TERM_PROGRAM": "WezTerm"}
    output = terminal_session(
        [str(root)], env, [(b"Dispatch", b"d"), (b"\x1b]9;orchestra: A failed", b"q")], seconds=30
    )
    assert "\x1b]9;orchestra: A failed: " in output, output[-2000:]
    assert "pwned" in output  # the agent's text is shown ...
    assert "\x1b]9;pwned" not in output and "\x1b]52" not in output  # ... never as a sequence
