"""Issue 15 item 3: what a command's start-up imports (the figures are in bench/bench_cli.py and README)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ..helpers.plans import task_block, write_plan

LAZY = ("asyncio", "orchestra_tui.engine.integration", "orchestra_tui.workspace", "orchestra_tui.agents", "tomlkit")


def imported(args: list[str], cwd: Path) -> tuple[str, set[str]]:
    """Run ``orchestra ARGS`` in a fresh interpreter: its stdout, and which of ``LAZY`` it imported."""
    script = (
        "import sys\nfrom orchestra_tui.entry import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit:\n"
        f"    pass\nprint(' '.join(m for m in {LAZY!r} if m in sys.modules), file=sys.stderr)"
    )
    done = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=60, cwd=cwd)
    assert done.returncode == 0, done.stderr
    return done.stdout, set(done.stderr.split())


@pytest.mark.parametrize("args", [["--version"], ["--help"]])
def test_version_and_help_import_no_asyncio(args: list[str], tmp_path: Path) -> None:
    out, modules = imported(args, tmp_path)
    assert modules == set() and out


@pytest.mark.parametrize("command", [["next", "--json"], ["list", "--json"]])
def test_reading_commands_import_neither_git_nor_asyncio(command: list[str], tmp_path: Path) -> None:
    """The worktree integration (git, the merge queue, asyncio) loads when a task's workspace is shown or merged."""
    write_plan(tmp_path, task_block("A") + task_block("B", ["A"]))
    out, modules = imported(["-p", str(tmp_path), *command], tmp_path)
    assert '"A"' in out and modules == set()
    out, modules = imported(["-p", str(tmp_path), "show", "A", "--json"], tmp_path)
    assert '"workspace"' in out and "orchestra_tui.engine.integration" in modules


def test_importing_into_a_new_plan_needs_no_tomlkit(tmp_path: Path) -> None:
    """tomlkit edits a person's plan in place (``--merge``); a plan written from nothing does without it."""
    source = tmp_path / "tasks.json"
    source.write_text('{"master": {"tasks": [{"id": 1, "title": "a", "status": "done", "dependencies": []}]}}')
    out, modules = imported(["-p", str(tmp_path), "import", "taskmaster", str(source), "--json"], tmp_path)
    assert '"tasks": 1' in out and "tomlkit" not in modules
