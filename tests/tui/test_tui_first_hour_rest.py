"""The rest of issue 14 (the TUI's first hour): screenshots, narrow terminals, help text, the DAG's focus, output
panes' search, tabs and copy. Pilot tests through ``create_app`` on copies of the demo."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from textual.binding import Binding
from textual.command import CommandPalette
from textual.strip import Strip
from textual.widgets import Static

from orchestra_tui.tui.app import OrchestraApp
from orchestra_tui.tui.screens.dialogs import ChoiceDialog, ConfirmDialog, ReasonDialog
from orchestra_tui.tui.screens.task import TaskScreen
from orchestra_tui.tui.widgets.board import MIN_TITLE, BoardView
from orchestra_tui.tui.widgets.output import OutputPanes

from ..helpers.plans import REPO, task_block, write_plan
from ..helpers.tui import app_on
from ..helpers.waits import RUN_START, until


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


# ------------------------------------------------------------------------------------------ 19: output panes


def marked(app: OrchestraApp) -> list[str]:
    """The text drawn on another background than the rest of its line, on the lines holding "found a"."""
    found = []
    for line in app.screen._compositor.render_full_update().strips:
        segments = list(Strip.join(line))
        around = next((s.style for s in segments if "found a" in s.text), None)
        if around is not None:
            found += [s.text for s in segments if s.style and s.text.strip() and s.style.bgcolor != around.bgcolor]
    return found


async def test_slash_in_a_pane_searches_marks_the_matches_and_n_goes_to_the_next(
    demo_dir: Path, tmp_path: Path
) -> None:
    app = app_on(demo_dir, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.selected == "DES-001" and app.focused is not None, "DES-001 selected")
        panes = app.query_one(OutputPanes)
        panes.run_started("r1", "DES-001", "shell", "DES-001")
        lines = [f"line {n}" + (" found a NEEDLE here" if n in (5, 60, 120) else "") for n in range(200)]
        panes.append("r1", "DES-001", "\n".join(lines) + "\n")
        await until(pilot, lambda: panes.current is not None and panes.tabs.active == panes.current.tab_id, "the pane")
        pane = panes.current
        assert pane is not None
        await pilot.press("o", "slash")
        await until(pilot, lambda: panes.has_class("-searching"), "the search line")
        await pilot.press(*"needle", "enter")
        count = panes.query_one("#output-search-count")
        await until(pilot, lambda: "1/3" in str(count.visual), "the first of three matches")
        await pilot.pause()
        log = panes.log_widget
        assert app.focused is log
        assert "NEEDLE" in marked(app)
        assert log.scroll_y <= 5 <= log.scroll_y + log.size.height
        await pilot.press("n")
        await until(pilot, lambda: "2/3" in str(count.visual), "the second match")
        assert log.scroll_y <= 60 <= log.scroll_y + log.size.height
        await pilot.press("n", "n")  # past the last: back to the first
        await until(pilot, lambda: "1/3" in str(count.visual), "around to the first")
        await pilot.press("N")
        await until(pilot, lambda: "3/3" in str(count.visual), "back to the last")
        await pilot.press("escape")  # the search ends; n is the app's "next task" again
        await until(pilot, lambda: not panes.has_class("-searching") and not panes.needle, "the search ended")
        await pilot.pause()
        assert "NEEDLE" not in marked(app)


async def test_a_task_has_one_tab_its_older_runs_are_reachable_from_its_screen_and_y_copies(
    demo_dir: Path, tmp_path: Path
) -> None:
    plan = demo_dir / "orchestra.toml"  # DES-001 fails the first time, then succeeds
    plan.write_text(
        plan.read_text().replace('"mkdir -p build"', '"test -e once || { touch once; exit 3; }", "mkdir -p build"', 1)
    )
    app = app_on(demo_dir, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.selected == "DES-001" and app.focused is not None, "DES-001 selected")
        panes = app.query_one(OutputPanes)
        for outcome in ("failed", "completed"):
            await pilot.press("d")
            await until(
                pilot,
                lambda want=outcome: app.session.project.tasks["DES-001"].status.value == want,
                outcome,
                RUN_START,
            )
            await until(
                pilot,
                lambda: (
                    panes.current is not None
                    and panes.current.finished
                    and panes.current.run_id == app.session.project.tasks["DES-001"].last_run_id
                ),
                "the newest run's pane finished",
            )
            if outcome == "failed":
                await pilot.press("r")
                await until(pilot, lambda: app.session.project.tasks["DES-001"].status.value == "pending", "reopened")
        runs = [run.run_id for run in app.session.runs_of("DES-001")]
        assert len(runs) == 2
        await pilot.pause(0.2)
        assert [pane.task_id for pane in panes.panes.values()] == ["DES-001"]  # one tab, its newest run
        assert panes.current is not None and panes.current.run_id == runs[-1]
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, TaskScreen), "the task's screen")
        await pilot.press("o")
        await until(pilot, lambda: isinstance(app.screen, ChoiceDialog), "the runs to choose from")
        await pilot.press("down", "enter")  # newest first: down is the older run
        await until(pilot, lambda: panes.current is not None and panes.current.run_id == runs[0], "the older run")
        await until(pilot, lambda: app.focused is panes.log_widget, "its pane focused")
        assert len(panes.panes) == 1
        pane = panes.current
        assert pane is not None
        await pilot.press("y")
        copied = demo_dir / ".orchestra" / "copied.txt"
        await until(pilot, copied.exists, "the copy on disk")
        assert app.clipboard == copied.read_text() == "\n".join(pane.lines)
        await until(pilot, lambda: any("copied" in note and "to the clipboard" in note for note in notes(app)), "said")


# ------------------------------------------------------------------------------------------ every key, in ? and README


PUNCTUATION = {"slash": "/", "plus": "+", "minus": "-", "equals_sign": "="}


def readme_tui_section() -> str:
    text = (REPO / "README.md").read_text()
    start = text.index("## The TUI")
    return text[start : text.index("\n## ", start + 1)]


async def test_every_key_is_in_help_and_in_the_readme(demo_dir: Path, tmp_path: Path) -> None:
    """Item 7 of the brief: each binding of the app, its views, the output panes and a task's screen is listed by
    ``?`` (with its id) and each of its keys is named in README's TUI section (as `key`)."""
    from textual.keys import key_to_character

    from orchestra_tui.tui.app import _declared_bindings

    app = app_on(demo_dir, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.focused is not None, "the board has the focus")
        widgets = [*app.views.values(), app.main.query_one(OutputPanes)]
        found = [*app.BINDINGS, *(b for widget in widgets for b in _declared_bindings(widget)), *TaskScreen.BINDINGS]
        help_names = " ".join(name for _title, rows in app.help_sections() for _keys, name, _what in rows)
        readme = readme_tui_section()
        missing_help, missing_readme = [], []
        for binding in found:
            assert isinstance(binding, Binding) and binding.id, binding
            if f"[{binding.id}]" not in help_names:
                missing_help.append(binding.id)
            for key in binding.key.split(","):
                character = PUNCTUATION.get(key) or key_to_character(key)
                shown = character if character and character.isprintable() and not character.isspace() else key
                if f"`{shown}`" not in readme:
                    missing_readme.append(f"{binding.id}: {shown}")
        assert not missing_help, missing_help
        assert not missing_readme, "\n".join(missing_readme)


# ------------------------------------------------------------------------------------------ issue 12: e, plan, expand

EDITOR = """
import json, pathlib, sys
line, path = int(sys.argv[1].lstrip("+")), pathlib.Path(sys.argv[2])
pathlib.Path(sys.argv[0]).with_name("editor-args.json").write_text(json.dumps(sys.argv[1:]))
lines = path.read_text().split("\\n")
at = next(n for n in range(line - 1, len(lines)) if lines[n].startswith("title ="))
lines[at] = 'title = "Edited in the editor"'
path.write_text("\\n".join(lines))
"""


async def test_e_opens_the_task_in_the_editor_at_its_line_and_the_board_follows_the_saved_file(
    demo_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    editor = tmp_path / "editor.py"
    editor.write_text(EDITOR)
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.setenv("EDITOR", f"{sys.executable} {editor}")
    plan = demo_dir / "orchestra.toml"
    line = plan.read_text().split("\n").index('id = "DES-002"')  # the [[tasks]] header is the line above it
    app = app_on(demo_dir, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.focused is not None, "the board has the focus")
        app.jump_to("DES-002")
        await pilot.press("e")
        args = tmp_path / "editor-args.json"
        await until(pilot, args.exists, "the editor ran")
        assert json.loads(args.read_text()) == [f"+{line}", str(plan)]
        assert 'title = "Edited in the editor"' in plan.read_text()
        board = app.query_one(BoardView)  # the saved file is taken up (the plan watch): the card's new title
        await until(pilot, lambda: "Edited in the editor" in "\n".join(screen_lines(app)), "the board follows")
        assert board.column_of("DES-002") == "blocked"


async def test_e_on_a_task_not_in_the_plan_file_says_so_in_one_line(tmp_path: Path) -> None:
    from orchestra_tui.engine.project import Project

    root = tmp_path / "p"
    write_plan(root, task_block("A"))
    with Project.open(root, actor="cli") as project:
        project.add_tasks([{"id": "API-1", "title": "From the API"}])
    app = app_on(root, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.focused is not None, "the board has the focus")
        app.jump_to("API-1")
        await pilot.press("e")
        await until(pilot, lambda: any("API-1 is not in orchestra.toml" in note for note in notes(app)), "refused")


async def test_the_palette_plans_from_a_document_and_expands_a_task_writing_only_on_yes(tmp_path: Path) -> None:
    from ..helpers.planner import GOOD, project

    subtasks = {
        "tasks": [{"id": "a", "title": "First half"}, {"id": "b", "title": "Second half", "dependencies": ["a"]}]
    }
    root = project(tmp_path / "p", GOOD, subtasks)
    app = app_on(root, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.focused is not None, "the board has the focus")
        await pilot.press("ctrl+p")
        await until(pilot, lambda: isinstance(app.screen, CommandPalette), "the palette")
        await pilot.press(*"plan from document")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ReasonDialog), "which document")
        await pilot.press(*"req.md", "enter")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the proposal", timeout=30)
        question = " ".join(str(widget.visual) for widget in app.screen.query(Static))
        assert "Write 2 tasks into orchestra.toml? (2 new, 0 changed" in question
        assert "REQ-1  Write the parser" in question and "REQ-2  Test the parser  (after REQ-1)" in question
        await pilot.press("y")
        await until(pilot, lambda: "REQ-2" in (root / "orchestra.toml").read_text(), "written")
        assert "# keep this comment" in (root / "orchestra.toml").read_text()
        assert app.session.project.store.meta.get("planning", {}).get("requests") == 1  # its cost recorded
        app.jump_to("DES-1")
        app.action_expand_task()
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the subtasks", timeout=30)
        question = " ".join(str(widget.visual) for widget in app.screen.query(Static))
        assert "DES-1.1  First half" in question, question
        before = (root / "orchestra.toml").read_text()
        await pilot.press("n")  # nothing written
        await until(pilot, lambda: not isinstance(app.screen, ConfirmDialog), "the answer")
        assert (root / "orchestra.toml").read_text() == before
