"""The rest of issue 14 (the TUI's first hour): screenshots, narrow terminals, help text, the DAG's focus, output
panes' search, tabs and copy. Pilot tests through ``create_app`` on copies of the demo."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.command import CommandPalette

from orchestra_tui.tui.app import OrchestraApp
from orchestra_tui.tui.widgets.board import MIN_TITLE, BoardView

from .conftest import app_on, until


def notes(app: OrchestraApp) -> list[str]:
    return [str(notification.message) for notification in app._notifications]


def screen_lines(app: OrchestraApp) -> list[str]:
    """The text of the screen in front, line by line."""
    return ["".join(strip.text for strip in line) for line in app.screen._compositor.render_full_update().strips]


# ------------------------------------------------------------------------------------------ 8: screenshots


async def test_the_palettes_screenshot_is_saved_under_the_project_without_a_downloads_folder(
    demo_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))  # no ~/Downloads
    monkeypatch.delenv("XDG_DOWNLOAD_DIR", raising=False)
    app = app_on(demo_dir, tmp_path)
    async with app.run_test() as pilot:
        await pilot.press("ctrl+p")
        await until(pilot, lambda: isinstance(app.screen, CommandPalette), "the palette")
        await pilot.press(*"screenshot")
        await pilot.pause(0.3)
        await pilot.press("enter")
        folder = demo_dir / ".orchestra" / "screenshots"
        await until(pilot, lambda: folder.is_dir() and any(folder.iterdir()), "a screenshot in .orchestra/screenshots")
        (saved,) = folder.iterdir()
        assert saved.suffix == ".svg" and "<svg" in saved.read_text()
        await until(pilot, lambda: any(str(saved) in note for note in notes(app)), "where it was saved")
        assert not (home / "Downloads").exists()


async def test_a_screenshot_goes_to_the_configured_folder_which_is_created(demo_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    target = tmp_path / "shots" / "orchestra"
    (tmp_path / "config" / "config.toml").write_text(f'screenshots = "{target}"\n')
    app = app_on(demo_dir, tmp_path)
    async with app.run_test() as pilot:
        await pilot.pause()
        app.action_screenshot()
        (saved,) = target.iterdir()
        await until(pilot, lambda: any(str(saved) in note for note in notes(app)), "where it was saved")


async def test_a_screenshot_that_cannot_be_written_says_why_in_one_line(demo_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    (tmp_path / "config" / "config.toml").write_text(f'screenshots = "{blocker / "shots"}"\n')
    app = app_on(demo_dir, tmp_path)
    async with app.run_test() as pilot:
        await pilot.pause()
        app.action_screenshot()
        await until(pilot, lambda: any("screenshot" in note for note in notes(app)), "a notification")
        (line,) = [note for note in notes(app) if "screenshot" in note]
        assert line.startswith("screenshot not saved: cannot write") and "\n" not in line


# ------------------------------------------------------------------------------------------ 10: narrow terminals


async def test_at_80x24_empty_columns_are_narrow_labels_and_every_card_shows_20_characters_of_title(
    demo_dir: Path, tmp_path: Path
) -> None:
    app = app_on(demo_dir, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.focused is not None, "the board has the focus")
        await pilot.pause()
        board = app.query_one(BoardView)
        assert not board.listed()
        for name in ("running", "review", "done"):
            assert app.query_one(f"#board-{name}").size.width <= 3  # the border and a downward label
        for name in ("blocked", "ready"):
            assert board.columns[name].columns["title"].width >= MIN_TITLE  # type: ignore[index]
        text = "\n".join(screen_lines(app))
        assert "Design the module la" in text and "Write the specificati" in text


async def test_at_60_columns_the_board_is_one_list_by_status_and_the_header_does_not_wrap(
    demo_dir: Path, tmp_path: Path
) -> None:
    app = app_on(demo_dir, tmp_path)
    async with app.run_test(size=(60, 24)) as pilot:
        await until(pilot, lambda: app.focused is not None, "the board has the focus")
        board = app.query_one(BoardView)
        await until(pilot, board.listed, "the board as a list")
        await pilot.pause()
        lines = screen_lines(app)
        assert lines[0].split()[:2] == ["wordfreq:", "a"] and "1 Board" in lines[0]
        assert lines[1].startswith(" 0% · 0/10 tasks")
        assert lines[2].startswith("─Blocked 9") and " ◌ DES-002 Design the module layout" in lines[3]
        assert app.selected == "DES-001"
        await pilot.press("k")  # up from the first of Ready: the last of Blocked
        await until(pilot, lambda: app.selected == "TST-003", "the last blocked task selected")
        await pilot.press("j")
        await until(pilot, lambda: app.selected == "DES-001", "down again: the first ready task")
        await pilot.press("k", *["k"] * 8)
        await until(pilot, lambda: app.selected == "DES-002", "the first blocked task")
        await pilot.pause()
        assert any(line.startswith("─Blocked 9") for line in screen_lines(app))  # scrolled back to its title
    app = app_on(demo_dir, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.focused is not None, "the board has the focus")
        assert not app.query_one(BoardView).listed()
