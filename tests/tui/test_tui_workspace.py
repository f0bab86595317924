"""The TUI on worktree tasks (issue 11), real repositories and the real ``git``: ``v`` opens a review task's
diff (files, +/-, the patch coloured and scrollable), and a task whose merge conflicted shows so on the board."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import cast

import pytest
from textual.color import Color
from textual.containers import VerticalScroll
from textual.pilot import Pilot
from textual.widgets import Static

from orchestra_tui.engine.project import Project
from orchestra_tui.engine.scheduler import Scheduler
from orchestra_tui.errors import MergeConflictError
from orchestra_tui.tui.app import OrchestraApp
from orchestra_tui.tui.screens.diff import DiffScreen
from orchestra_tui.tui.status_text import theme_colours
from orchestra_tui.tui.themes import load_themes
from orchestra_tui.tui.widgets.board import BoardView
from tests.helpers.gitrepo import git, make_repo
from tests.helpers.tui import app_on, drawn_style
from tests.helpers.waits import until

LONG = "".join(f"line {n}\n" for n in range(1, 121))
PATCH_COLOURS = {'+print("hello")': "text-success", "-print('hi')": "text-error", "@@ -1 +1 @@": "text-primary"}


def _task(task_id: str, commands: list[str]) -> str:
    return f'[[tasks]]\nid = "{task_id}"\ntitle = "Task {task_id}"\ncommands = {json.dumps(commands)}\n\n'


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project whose worktree tasks ran: A (edits, a new file, a long file) and the pair P1/P2 (the same
    line) in review. Commit dates are fixed, so commit ids are the same on every run."""
    for name in ("GIT_AUTHOR_DATE", "GIT_COMMITTER_DATE"):
        monkeypatch.setenv(name, "2025-01-15T09:30:00+00:00")
    root = make_repo(
        tmp_path / "repo",
        {
            "README.md": "# project\n",
            "shared.txt": "one\ntwo\n",
            "src/app.py": "print('hi')\n",
            ".gitignore": ".orchestra/\n",
        },
    )
    edits = ["printf 'print(\"hello\")\\n' > src/app.py", "echo new > 'new file.txt'", f"printf '{LONG}' > long.txt"]
    tasks = (
        _task("A", edits) + _task("P1", ["sed -i 1s/.*/P1/ shared.txt"]) + _task("P2", ["sed -i 1s/.*/P2/ shared.txt"])
    )
    (root / "orchestra.toml").write_text(
        '[project]\nid = "t"\nname = "Worktrees"\nparallel_max = 1\nmax_worktrees = 8\nworkspace = "worktree"\n\n'
        + tasks
    )
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "plan")

    async def run() -> None:
        with Project.open(root, actor="cli") as project:
            await Scheduler(project).run()

    asyncio.run(run())
    return root


def _conflict(root: Path) -> None:
    with Project.open(root, actor="cli") as project:
        project.complete("P1")
        with pytest.raises(MergeConflictError):
            project.complete("P2")


async def _open_diff(pilot: Pilot[None], task_id: str) -> DiffScreen:
    app = cast(OrchestraApp, pilot.app)
    await until(pilot, lambda: app.focused is not None, "the board has the focus")
    app.jump_to(task_id)
    await pilot.press("v")
    await until(pilot, lambda: isinstance(app.screen, DiffScreen), "the diff screen")
    return cast(DiffScreen, app.screen)


async def test_v_shows_the_diff_and_it_scrolls(repo: Path, tmp_path: Path) -> None:
    app = app_on(repo, tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await _open_diff(pilot, "A")
        files = str(screen.query_one("#diff-files", Static).render())
        assert files.startswith("A: 3 files changed, +122 -1")
        assert "new file.txt" in files and "src/app.py" in files and "long.txt" in files
        patch = str(screen.query_one("#diff-patch", Static).render())
        assert '+print("hello")' in patch and "+line 120" in patch
        body = screen.query_one(VerticalScroll)
        await pilot.press("G")
        await until(pilot, lambda: body.scroll_y > 0, "scrolled to the end")
        await pilot.press("g")
        await until(pilot, lambda: body.scroll_y == 0, "back at the top")
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, DiffScreen), "back on the board")


async def test_the_diff_takes_the_running_themes_colours(repo: Path, tmp_path: Path) -> None:
    """Additions in ``$text-success``, deletions in ``$text-error``, hunks in ``$text-primary`` of the theme on
    show (not the terminal's green and red), and again after a theme switch."""

    def colours(theme: str) -> dict[str, Color | None]:
        values = theme_colours(load_themes()[theme])
        return {line: Color.parse(values[variable]) for line, variable in PATCH_COLOURS.items()}

    def drawn() -> dict[str, Color | None]:
        styles = {line: drawn_style(app, line) for line in PATCH_COLOURS}
        return {line: Color.from_rich_color(s.color) if s and s.color else None for line, s in styles.items()}

    app = app_on(repo, tmp_path, theme="dark")
    async with app.run_test(size=(100, 160)) as pilot:  # the whole patch on screen
        await _open_diff(pilot, "A")
        await until(pilot, lambda: drawn() == colours("dark"), "the dark theme's colours")
        app.theme = "light"
        await until(pilot, lambda: drawn() == colours("light"), "the light theme's colours")


async def test_v_on_a_task_without_worktree_says_why(repo: Path, tmp_path: Path) -> None:
    with Project.open(repo, actor="cli") as project:
        project.add_tasks([{"id": "NEW", "title": "Not run yet"}])
    app = app_on(repo, tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.focused is not None, "the board has the focus")
        app.jump_to("NEW")
        await pilot.press("v")
        await until(pilot, lambda: any("has no worktree" in str(n.message) for n in app._notifications), "a notice")
        assert not isinstance(app.screen, DiffScreen)


async def test_a_conflict_shows_on_the_board(repo: Path, tmp_path: Path) -> None:
    _conflict(repo)
    app = app_on(repo, tmp_path)
    async with app.run_test(size=(120, 30)) as pilot:
        board = app.query_one(BoardView)
        await until(pilot, lambda: "P2" in board.rows("review"), "P2 in review")
        column = board.columns["review"]
        cell, title = column.get_row("P2")
        assert cell.text.plain == "! P2"
        assert "conflict in shared.txt: r re-runs, v diff" in title.note
        assert not column.get_row("A")[0].text.plain.startswith("!")


def test_diff_screen_snapshot(repo: Path, tmp_path: Path, snap_compare: Callable[..., bool]) -> None:
    async def open_it(pilot: Pilot[None]) -> None:
        await _open_diff(pilot, "A")

    assert snap_compare(app_on(repo, tmp_path), terminal_size=(100, 30), run_before=open_it)


def test_conflict_on_the_board_snapshot(repo: Path, tmp_path: Path, snap_compare: Callable[..., bool]) -> None:
    _conflict(repo)

    async def settled(pilot: Pilot[None]) -> None:
        app = cast(OrchestraApp, pilot.app)
        await until(pilot, lambda: app.focused is not None, "the board has the focus")
        app.jump_to("P2")
        app.query_one("#lower").display = False  # the detail pane holds run ids and times: the board alone is pinned
        await pilot.pause()

    assert snap_compare(app_on(repo, tmp_path), terminal_size=(120, 30), run_before=settled)
