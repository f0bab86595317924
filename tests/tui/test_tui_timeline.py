"""The timeline view and the rollback dialog (tui/widgets/timeline.py), in a minimal app on a copy of the demo."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.app import App, ComposeResult

from orchestra_tui.engine.project import Project
from orchestra_tui.store import Mutation
from orchestra_tui.store.changes import diff_record
from orchestra_tui.tui.app import create_app
from orchestra_tui.tui.messages import ActionRequested
from orchestra_tui.tui.screens.rollback import ConfirmRollback
from orchestra_tui.tui.widgets.board import BoardView
from orchestra_tui.tui.widgets.timeline import EntryList, Scrubber, TimelineView

from ..helpers.waits import until

SIZE = (120, 40)


class TimelineApp(App):
    """Stands in for the shell: shows the project, and on a rollback request confirms and calls the engine."""

    def __init__(self, project: Project, confirm: bool = False) -> None:
        super().__init__()
        self.project, self.confirm = project, confirm
        self.requests: list[tuple[str, str | None]] = []
        self.answers: list[bool] = []

    def compose(self) -> ComposeResult:
        yield TimelineView(id="timeline")

    def on_mount(self) -> None:
        view = self.query_one(TimelineView)
        view.show_project(self.project, None)
        view.focus()

    def on_action_requested(self, message: ActionRequested) -> None:
        self.requests.append((message.action, message.target))
        if self.confirm and message.action == "rollback":
            self.push_screen(ConfirmRollback(self.project, message.target or ""), self.answered)

    def answered(self, yes: bool | None) -> None:
        self.answers.append(bool(yes))
        if yes:
            self.project.rollback(self.requests[-1][1] or "")
            self.query_one(TimelineView).show_project(self.project, None)


@pytest.fixture
def project(demo_dir: Path) -> Iterator[Project]:
    """The demo with a little history: plan, DES-001 started and completed, DES-002 started and failed."""
    project = Project.open(demo_dir, actor="tui")
    project.start("DES-001")
    project.complete("DES-001")
    project.start("DES-002")
    project.fail("DES-002", "boom")
    yield project
    project.close()


async def diff_of(pilot, view: TimelineView) -> list[str]:
    """The preview's diff once its worker has delivered it."""
    await until(pilot, lambda: view.diff_lines is not None, "the diff")
    return view.diff_lines


def preview_text(view: TimelineView) -> str:
    return "\n".join(view.query_one(f"#timeline-{part}").visual.plain for part in ("entry", "diff"))


async def test_scrubber_keys_move_the_cursor(project: Project) -> None:
    app = TimelineApp(project)
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(TimelineView)
        ids = [entry.id for entry in project.history()]
        assert len(ids) == 5 and view.entry.id == ids[-1]  # opens on the newest entry
        await pilot.press("left")
        assert view.entry.id == ids[-2]
        await pilot.press("home")
        assert view.entry.id == ids[0]
        await pilot.press("left")  # stays at the first
        assert view.entry.id == ids[0]
        await pilot.press("right", "right")
        assert view.entry.id == ids[2]
        await pilot.press("end")
        assert view.entry.id == ids[-1]
        await pilot.press("pageup")
        assert view.entry.id == ids[0]
        await pilot.press("pagedown")
        assert view.entry.id == ids[-1]
        marks = app.query_one(Scrubber).render().plain.splitlines()
        assert marks[0] == "≡▶✓▶✗"
        assert marks[1] == "    ▲"
        assert marks[2].startswith(ids[-1]) and "5 of 5" in marks[2]


async def test_preview_shows_the_entry_and_its_diff_against_now(project: Project) -> None:
    app = TimelineApp(project)
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(TimelineView)
        assert await diff_of(pilot, view) == []
        assert "no difference: this is the current state" in preview_text(view)
        await pilot.press("home")
        plan = project.history()[0]
        lines = await diff_of(pilot, view)
        assert lines[0].startswith("DES-001: pending → completed")
        assert any(line.startswith("DES-002: pending → failed") for line in lines)
        text = preview_text(view)
        assert f"Entry {plan.id}" in text and "by tui" in text and "≡ plan" in text and plan.summary in text
        assert "then  0% complete · 0/10 tasks" in text
        assert "now   10% complete · 1/10 tasks" in text
        assert "DES-002: pending → failed" in text
        await pilot.press("right", "right")  # after DES-001 completed: only DES-002 differs
        lines = await diff_of(pilot, view)
        assert [line.split(",")[0] for line in lines] == ["DES-002: pending → failed"]


async def test_then_counts_ready_and_blocked_as_the_board_showed_them_then(demo_dir: Path, tmp_path: Path) -> None:
    """The state stores ``pending``; the board shows ready or blocked from the dependencies, and so must the
    preview of an older entry (DES-002 in review keeps DEV-001 and DEV-002 blocked, as the board did)."""
    app = create_app(demo_dir, config_dir=tmp_path / "config")
    async with app.run_test(size=SIZE) as pilot:
        project, board = app.session.project, app.query_one(BoardView)
        seen: dict[int, dict[str, int]] = {}  # entry seq -> the board's column sizes right after it

        async def board_shows(task_id: str, column: str) -> None:
            await until(pilot, lambda: board.column_of(task_id) == column, f"{task_id} in {column}")
            seen[project.history()[-1].seq] = {
                name: len(board.rows(name)) for name in ("blocked", "ready", "running", "review", "done")
            }

        await board_shows("DES-001", "ready")
        for act, task_id, column in [
            (project.complete, "DES-001", "done"),
            (project.start, "DES-002", "running"),
            (project.review, "DES-002", "review"),
            (project.complete, "DES-002", "done"),
        ]:
            act(task_id)
            await board_shows(task_id, column)
        assert [(c["blocked"], c["ready"]) for _seq, c in sorted(seen.items())] == [
            (9, 1),
            (6, 3),
            (6, 2),
            (6, 2),
            (4, 4),
        ]
        await pilot.press("3")
        view = app.query_one(TimelineView)
        await pilot.press("home")
        for seq, columns in sorted(seen.items()):
            assert view.entry.seq == seq
            await until(pilot, lambda: view.counts is not None, f"the counts of entry {seq}")
            then = view.counts
            assert "pending" not in then
            assert {
                "blocked": then.get("blocked", 0),
                "ready": then.get("ready", 0),
                "running": then.get("in_progress", 0),
                "review": then.get("review", 0),
                "done": then.get("completed", 0) + then.get("failed", 0) + then.get("cancelled", 0),
            } == columns
            text = view.query_one("#timeline-entry").visual.plain
            assert f"blocked {columns['blocked']}" in text and (
                f"ready {columns['ready']}" in text or not columns["ready"]
            )
            await pilot.press("right")


async def test_enter_requests_a_rollback_of_the_entry_under_the_cursor(project: Project) -> None:
    app = TimelineApp(project)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("left", "left", "enter")
        assert app.requests == [("rollback", project.history()[-3].id)]
        assert len(project.history()) == 5  # the view only asks


async def test_confirmed_rollback_is_a_new_entry_and_undo_reverses_it(project: Project) -> None:
    app = TimelineApp(project, confirm=True)
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(TimelineView)
        await pilot.press("home", "right", "right", "enter")  # back to just after DES-001 completed
        dialog = app.screen
        assert isinstance(dialog, ConfirmRollback)
        await until(pilot, lambda: dialog.changes is not None, "the rollback's changes")
        assert dialog.changes is not None and dialog.changes[0].startswith("DES-002: failed → pending")
        body = dialog.query_one("#confirm-changes").visual.plain
        assert body.startswith("1 change, recorded as a new entry (undo with u):")
        await pilot.press("y")
        assert app.answers == [True]
        entries = project.history()
        assert entries[-1].action == "rollback" and entries[-1].extra["target"] == entries[2].id
        assert project.task("DES-002").status.value == "pending"
        assert view.entry.id == entries[2].id  # the cursor stayed where it was
        assert len(view.entries) == 6
        undo = project.undo()
        assert undo is not None and undo.action == "undo"
        assert project.task("DES-002").status.value == "failed"


async def test_cancelled_or_empty_rollback_changes_nothing(project: Project) -> None:
    app = TimelineApp(project, confirm=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("left", "enter")
        assert isinstance(app.screen, ConfirmRollback)
        await pilot.press("escape")
        assert app.answers == [False]
        await pilot.press("end", "enter")  # the newest entry: nothing to roll back
        dialog = app.screen
        assert isinstance(dialog, ConfirmRollback)
        await until(
            pilot,
            lambda: "nothing to roll back" in dialog.query_one("#confirm-changes").visual.plain,
            "the empty rollback",
        )
        await pilot.press("y")  # refused: there is nothing to do
        assert app.screen is dialog
        await pilot.press("n")
        assert app.answers == [False, False]
        assert len(project.history()) == 5


async def test_new_entries_keep_the_cursor_unless_it_was_on_the_last(project: Project) -> None:
    app = TimelineApp(project)
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(TimelineView)
        project.retry("DES-002")
        view.show_project(project, frozenset({"DES-002"}))
        assert view.entry.action == "retry"  # was on the last entry: follows the new one
        await pilot.press("left", "left")
        kept = view.entry.id
        project.start("DES-002")
        view.show_project(project, frozenset({"DES-002"}))
        assert view.entry.id == kept and len(view.entries) == 7
        await pilot.pause()
        assert "7 of 7" not in app.query_one(Scrubber).render().plain


async def test_select_task_underlines_the_entries_that_touched_it(project: Project) -> None:
    app = TimelineApp(project)
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(TimelineView)
        view.select_task("DES-002")
        await pilot.pause()
        first_line = app.query_one(Scrubber).render().split()[0]
        underlined = [
            index
            for index in range(len(first_line.plain))
            if any(span.start <= index < span.end and "underline" in str(span.style) for span in first_line.spans)
        ]
        assert underlined == [0, 3, 4]  # DES-002 added by the plan, started, failed


@pytest.fixture(scope="module")
def long_history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the demo with 10,000 history entries, made once with plain Store commits."""
    root = tmp_path_factory.mktemp("long") / "demo"
    shutil.copytree(
        Path(__file__).resolve().parents[2] / "sample_projects" / "demo",
        root,
        ignore=shutil.ignore_patterns(".orchestra", "build"),
    )
    actions = ["start", "run", "complete", "fail", "retry", "update", "review", "cancel"]
    with Project.open(root, actor="cli") as project:
        store, task_ids = project.store, sorted(project.tasks)
        for n in range(1, 10_000):
            task_id = task_ids[n % len(task_ids)]

            def compute(task_id: str = task_id, n: int = n) -> Mutation:
                old = store.tasks[task_id]
                return Mutation(
                    [diff_record(task_id, old, {**old, "notes": f"note {n}"})],
                    actions[n % len(actions)],
                    f"{task_id} note {n}",
                    {"tasks": [task_id]},
                )

            store.commit(compute, actor="cli")
        assert len(project.history()) == 10_000
    return root


async def test_ten_thousand_entries_draw_one_screenful_and_every_key_reaches_its_entry(long_history: Path) -> None:
    with Project.open(long_history, actor="tui") as project:
        app = TimelineApp(project)
        async with app.run_test(size=SIZE) as pilot:
            view = app.query_one(TimelineView)
            await pilot.pause()
            assert view.entry.seq == 10_000
            scrubber = app.query_one(Scrubber)
            assert len(scrubber.render().plain.splitlines()[0]) == scrubber.span  # one screenful drawn, not 10,000
            listed = app.query_one(EntryList)
            rows = listed.render().plain.splitlines()
            assert len(rows) == listed.content_size.height and project.history()[-1].summary in rows[0]  # newest on top
            for _ in range(1000):  # what holding a key does: the view's own work, the screen drawn once after
                view.action_move(-1)
            assert view.entry.seq == 9_000
            await pilot.press("left", "pageup", "pageup", "home", "right", "pagedown")
            assert view.entry.seq == 2 + max(10, scrubber.span)
            lines = await diff_of(pilot, view)
            assert len(lines) == 10  # every demo task's notes changed since then
            text = scrubber.render().plain.splitlines()[2]
            assert f"{view.cursor + 1:,} of 10,000" in text and "earlier" in text and "later" in text
            await pilot.press("end")
            assert view.entry.seq == 10_000
