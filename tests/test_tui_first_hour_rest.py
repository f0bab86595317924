"""The rest of issue 14 (the TUI's first hour): screenshots, narrow terminals, help text, the DAG's focus, output
panes' search, tabs and copy. Pilot tests through ``create_app`` on copies of the demo."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.command import CommandPalette

from orchestra_tui.tui.app import OrchestraApp

from .conftest import app_on, until


def notes(app: OrchestraApp) -> list[str]:
    return [str(notification.message) for notification in app._notifications]


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
