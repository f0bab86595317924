"""No control sequence and no markup from a plan, a state file or an agent reaches the terminal (issue 9 item 4).

A title carries an OSC 52 clipboard write and an OSC 2 window title, Rich markup (``[link=...]``, ``[/]``,
``[bold]``); the task's command prints the same sequences. Every CLI command's output bytes are searched for
ESC; the app runs in a real terminal (tmux, with applications allowed to set its clipboard) whose window
title and paste buffers must stay untouched while the screen shows the sequences made visible.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tomli_w

from orchestra_tui.display import one_line, printable

from ..helpers.plans import write_plan
from ..helpers.tmux import Pane, clean_environment, orchestra_command

ESC, BEL = "\x1b", "\x07"
TITLE = f"Evil {ESC}]52;c;aGFja2Vk{BEL} {ESC}]2;PWNED{BEL} [link=http://evil.example]click[/] [bold]x"
MARKUP = "[link=http://evil.example]click[/] [bold]x"
PRINTS = f"printf '{ESC}]2;OWNED{BEL}{ESC}]52;c;aGFja2Vk{BEL}{ESC}[2J{ESC}[31mred\\r\\nlast line\\n'"


def hostile(root: Path) -> Path:
    tasks = [
        {"id": "A", "title": TITLE, "description": f"see {ESC}[8mhidden", "commands": [PRINTS]},
        {"id": "B", "title": f"fails {ESC}]2;ERR{BEL}", "dependencies": ["A"], "commands": [f"exit 3 # {ESC}]2;ERR"]},
    ]
    write_plan(root, tomli_w.dumps({"tasks": tasks}), project_id="hostile")
    return root


def test_printable_makes_controls_visible_and_keeps_lines() -> None:
    assert printable(f"a{ESC}]2;t{BEL}b\r\nc\td\re{chr(0x9B)}{chr(0x7F)}") == "a␛]2;t␇b\nc\td␍e\\x9b␡"
    assert one_line("x\ny\tz") == "x y z"


def test_no_escape_from_the_plan_or_an_output_reaches_the_cli_output(tmp_path: Path) -> None:
    root = hostile(tmp_path / "p")
    env = {**clean_environment(), "ORCHESTRA_CONFIG_DIR": str(tmp_path / "config")}
    outputs: dict[str, bytes] = {}
    for args, code in (
        (["list"], 0),
        (["show", "A"], 0),
        (["next"], 0),
        (["execute", "A"], 0),
        (["complete", "A"], 0),
        (["run"], 1),
        (["show", "B"], 0),
        (["report"], 0),
        (["report", "--markdown"], 0),
        (["graph"], 0),
        (["backups"], 0),
        (["diff", "1"], 0),
        (["retry", "B"], 0),
        ([], 0),
    ):
        done = subprocess.run(
            [sys.executable, "-m", "orchestra_tui", "-p", str(root), *args],
            check=False,
            capture_output=True,
            timeout=120,
            env=env,
        )
        assert done.returncode == code, (args, done.stderr)
        outputs[" ".join(args) or "overview"] = done.stdout + done.stderr
    for command, output in outputs.items():
        assert ESC.encode() not in output and BEL.encode() not in output, (command, output)
    assert MARKUP in outputs["list"].decode() and "␛]2;PWNED" in outputs["list"].decode()  # literally, made visible
    assert MARKUP in outputs["show A"].decode()
    assert "␛]2;OWNED␇" in outputs["execute A"].decode()  # the task's own output, made visible
    assert "␛]2;ERR" in outputs["run"].decode() and "exited with 3" in outputs["run"].decode()  # the error line


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (.ci/run installs it)")
def test_no_escape_reaches_a_real_terminal_from_the_app(tmp_path: Path) -> None:
    root = hostile(tmp_path / "p")
    pane = Pane(tmp_path)
    pane.config.write_text(pane.config.read_text() + "set -g set-clipboard on\nset -g allow-rename on\n")
    try:
        pane.start(
            [
                "env",
                "TERM=xterm-256color",
                f"ORCHESTRA_CONFIG_DIR={tmp_path / 'config'}",
                *orchestra_command(),
                str(root),
            ],
            cwd=tmp_path,
        )
        title_before = pane.tmux("display-message", "-p", "#{pane_title}")
        pane.wait(
            lambda s: "[link=http://evil.example]click[/]" in s and "␛]2;PWNED" in s,
            "the title, shown literally",
            timeout=30,
        )
        pane.keys("a")  # run A: its output (the same sequences) streams into a pane
        pane.wait(lambda s: "␛]2;OWNED␇" in s and "last line" in s, "the output, made visible", timeout=30)
        assert pane.tmux("display-message", "-p", "#{pane_title}") == title_before
        assert "PWNED" not in title_before and "OWNED" not in title_before
        assert pane.tmux("list-buffers") == ""  # no OSC 52 clipboard write reached tmux
    finally:
        pane.close()


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (.ci/run installs it)")
def test_the_sequences_would_reach_tmux_if_printed(tmp_path: Path) -> None:
    """The check above can fail: printed raw, the same bytes set tmux's title and a paste buffer."""
    pane = Pane(tmp_path)
    pane.config.write_text(pane.config.read_text() + "set -g set-clipboard on\nset -g allow-rename on\n")
    script = tmp_path / "raw.py"
    script.write_text(f"import sys, time\nsys.stdout.write({TITLE!r})\nsys.stdout.flush()\ntime.sleep(30)\n")
    try:
        pane.start([sys.executable, str(script)], cwd=tmp_path)
        pane.wait(lambda s: "click" in s, "the raw text", timeout=30)
        assert pane.tmux("display-message", "-p", "#{pane_title}").strip() == "PWNED"
        assert pane.tmux("list-buffers") != ""
    finally:
        pane.close()
