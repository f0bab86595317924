"""The streaming output panes (tui/widgets/output.py), in a minimal app on a copy of the demo project."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from textual import messages
from textual.app import App, ComposeResult
from textual.message import Message
from textual.pilot import Pilot

from orchestra_tui.engine.project import Project
from orchestra_tui.engine.runs import RunLog, new_run_id
from orchestra_tui.tui.widgets.output import (
    FOLD_WIDTH,
    MAX_FINISHED,
    MAX_LINES,
    OutputPanes,
    RunPane,
    fold,
    tail_output,
)

from ..helpers.waits import until

SIZE = (120, 40)


class PanesApp(App):
    def __init__(self, project: Project | None = None) -> None:
        super().__init__()
        self.project = project
        self.animation_level = "none"  # the tab underline's slide only slows the test

    def compose(self) -> ComposeResult:
        yield OutputPanes(id="output")

    def on_mount(self) -> None:
        if self.project is not None:
            self.query_one(OutputPanes).show_project(self.project, None)


async def settle(pilot, panes: OutputPanes, run_id: str) -> RunPane:
    """Wait until the run's pane is mounted and on show."""

    def in_front() -> bool:
        pane = panes.panes.get(run_id)
        return pane is not None and panes.current is pane and panes.tabs.active == pane.tab_id

    await until(pilot, in_front, f"the pane for {run_id} in front")
    return panes.panes[run_id]


@asynccontextmanager
async def one_run(task_id: str) -> AsyncIterator[tuple[PanesApp, Pilot, OutputPanes, RunPane]]:
    """The panes app running, with run ``r1`` of ``task_id`` started and its pane on show."""
    app = PanesApp()
    async with app.run_test(size=SIZE) as pilot:
        panes = app.query_one(OutputPanes)
        panes.run_started("r1", task_id, "shell")
        yield app, pilot, panes, await settle(pilot, panes, "r1")


def lines_on_screen(panes: OutputPanes) -> list[str]:
    """The lines the pane on show draws."""
    log = panes.log_widget
    return [log.render_line(y).text.rstrip() for y in range(log.scrollable_content_region.height)]


async def test_streamed_text_appears_in_the_runs_pane() -> None:
    app = PanesApp()
    async with app.run_test(size=SIZE) as pilot:
        panes = app.query_one(OutputPanes)
        assert app.query_one("#output-empty").display and not panes.tabs.display and not panes.view.display
        panes.run_started("r1", "DES-001", "shell")
        panes.append("r1", "DES-001", "hello\nwor")  # before the pane is even mounted
        pane = await settle(pilot, panes, "r1")
        panes.append("r1", "DES-001", "ld\nthird")
        await pilot.pause()
        assert list(pane.lines) == ["hello", "world", "third"]
        assert not app.query_one("#output-empty").display
        assert lines_on_screen(panes)[:3] == ["hello", "world", "third"]
        view = panes.view
        header = view.header.visual.plain
        assert "DES-001 · shell" in header and "running" in header
        assert ".orchestra/runs/r1/output.txt" in view.where.visual.plain and view.where.display
        assert panes.tabs.get_tab(pane.tab_id).label.plain == "▶ DES-001"  # type: ignore[union-attr]
        await pilot.resize_terminal(80, 9)  # a short pane: the header keeps to one line, the output gets the rest
        await pilot.pause()
        assert not view.where.display and view.header.size.height == 1
        assert lines_on_screen(panes)[:3] == ["hello", "world", "third"]


async def test_max_lines_caps_what_a_pane_keeps() -> None:
    async with one_run("T") as (_app, pilot, panes, pane):
        for batch in range(30):  # 30 frames of 200 lines: 6,000 lines through a 2,000-line pane
            panes.append("r1", "T", "".join(f"line {batch * 200 + n}\n" for n in range(200)))
        await pilot.pause()
        lines = pane.lines
        assert len(lines) <= MAX_LINES + 1
        assert lines[-2] == "line 5999" and lines[0] == f"line {6000 - len(lines) + 1}"
        assert pane.following
        assert lines_on_screen(panes)[-1] == "line 5999"  # still showing the end after pruning


async def test_scrolled_up_position_holds_while_text_arrives() -> None:
    async with one_run("T") as (_app, pilot, panes, _pane):
        log = panes.log_widget
        panes.append("r1", "T", "".join(f"line {n}\n" for n in range(MAX_LINES)))
        await pilot.pause()
        assert log.is_vertical_scroll_end
        log.focus()
        await pilot.press("pageup", "pageup")
        await pilot.pause()
        assert not log.following
        first_visible = lines_on_screen(panes)[0]
        for batch in range(5):  # old lines are dropped from the top as these arrive
            panes.append("r1", "T", "".join(f"more {batch}.{n}\n" for n in range(20)))
            await pilot.pause()
        assert lines_on_screen(panes)[0] == first_visible
        assert not log.is_vertical_scroll_end
        await pilot.press("end")
        await pilot.pause()
        assert log.following
        panes.append("r1", "T", "the last line\n")
        await pilot.pause()
        assert lines_on_screen(panes)[-1] == "the last line"


async def test_switching_maximising_finishing_and_dismissing_panes() -> None:
    async with one_run("A") as (app, pilot, panes, first):
        panes.run_started("r2", "B", "shell")
        for _ in range(10):
            await pilot.pause()
        assert panes.current is first  # a new run does not push a live pane aside
        panes.log_widget.focus()
        await pilot.press("]")
        await pilot.pause()
        assert panes.current is panes.panes["r2"]
        assert app.focused is panes.log_widget
        await pilot.press("]")
        assert panes.current is first
        await pilot.press("[")
        assert panes.current is panes.panes["r2"]
        await pilot.click("#run-r1")  # a tab clicked
        assert panes.current is first
        await pilot.press("]")
        assert panes.current is panes.panes["r2"]

        await pilot.press("z")
        assert app.screen.maximized is panes
        await pilot.press("z")
        assert app.screen.maximized is None

        panes.run_ended("r2", "B", "failed", "exit status 3")
        await pilot.pause()
        second = panes.panes["r2"]
        assert "✗ failed: exit status 3" in panes.view.header.visual.plain
        assert panes.tabs.get_tab(second.tab_id).label.plain == "✗ B"  # type: ignore[union-attr]
        await pilot.press("[")  # to the live pane: it cannot be dismissed
        await pilot.press("delete")
        assert list(panes.panes) == ["r1", "r2"]
        await pilot.press("]", "delete")
        for _ in range(10):
            await pilot.pause()
        assert list(panes.panes) == ["r1"]
        assert panes.tabs.tab_count == 1
        assert panes.current is first
        assert panes.show("B") is False  # its pane is gone and no project to load from


async def test_the_row_of_tabs_scrolls_only_to_keep_the_active_tab_in_view() -> None:
    """Tabs centred the active tab with an animated scroll of the row on every change: each frame of it reflowed
    the whole screen, on every key press in the Running column. The row scrolls when the tab is out of view."""
    scrolls: list[Message] = []

    def hook(message: Message) -> None:
        if isinstance(message, messages.UpdateScroll):
            scrolls.append(message)

    app = PanesApp()
    async with app.run_test(size=(80, 20), message_hook=hook) as pilot:
        panes = app.query_one(OutputPanes)
        for n in range(12):  # 11 cells a tab: 7 fit in 80 columns
            panes.run_started(f"r{n}", f"TASK-{n:02}", "shell")
        await until(pilot, lambda: panes.tabs.tab_count == 12, "the tabs")
        row = panes.tabs.query_one("#tabs-scroll")
        panes.show("TASK-03")
        await settle(pilot, panes, "r3")
        scrolls.clear()
        for n in (4, 5, 6):  # in view: centred, they scrolled the row
            panes.action_next_pane()
            await settle(pilot, panes, f"r{n}")
            await pilot.pause()
        assert row.scroll_x == 0 and scrolls == []
        panes.action_next_pane()  # half out of view
        await settle(pilot, panes, "r7")
        await pilot.pause()
        assert row.scroll_x == 7 * 11 + 11 - 80 and scrolls == []  # its right edge at the row's; no reflow (below)


async def test_the_row_of_tabs_scrolls_without_laying_out_the_screen() -> None:
    """A scroll of the row made Textual reflow what is visible on the whole screen, on about a third of the key
    presses in the Running column: the row moves its tabs in the compositor's map itself now, to the places a
    layout gives them, and the screen shows what a layout would."""
    app = PanesApp()
    async with app.run_test(size=(80, 20)) as pilot:
        panes = app.query_one(OutputPanes)
        for n in range(12):  # 11 cells a tab: 7 fit in 80 columns
            panes.run_started(f"r{n:02}", f"TASK-{n:02}", "shell")  # ids of one length: the header keeps its width
        await until(pilot, lambda: panes.tabs.tab_count == 12, "the tabs")
        row = panes.tabs.query_one("#tabs-scroll")
        layouts: list[object] = []
        app.screen.screen_layout_refresh_signal.subscribe(app, layouts.append)
        offsets = []
        for n in (7, 11, 2, 0, 9, 8):  # out of view to the right, then the left, then in view
            assert panes.show(f"TASK-{n:02}")
            await settle(pilot, panes, f"r{n:02}")
            await pilot.pause(0.05)
            offsets.append(row.scroll_x)
            tab = panes.tabs.active_tab
            assert tab is not None and row.region.contains_region(tab.region), n
            assert f"TASK-{n:02}" in app.export_screenshot()
        assert layouts == []
        assert offsets == [8, 52, 22, 0, 30, 30]
        shifted = {tab: tab.region for tab in row.query("Tab, Underline")}
        screen = app.export_screenshot()
        app.screen.refresh(layout=True)  # what a layout makes of it
        await until(pilot, lambda: layouts, "a layout")
        await pilot.pause(0.05)
        assert {tab: tab.region for tab in row.query("Tab, Underline")} == shifted
        assert app.export_screenshot() == screen


async def test_a_new_run_of_the_task_on_show_replaces_its_finished_pane_in_front() -> None:
    """One tab per task: the finished pane goes and the new run's comes to the front, not the tab beside it."""
    async with one_run("A") as (_app, pilot, panes, first):
        panes.run_started("r2", "B", "shell")
        panes.run_ended("r1", "A", "completed", None)
        await until(pilot, lambda: panes.tabs.tab_count == 2, "both tabs")
        assert panes.current is first
        panes.run_started("r3", "A", "shell")
        await settle(pilot, panes, "r3")
        for _ in range(5):
            await pilot.pause()
        assert panes.current is panes.panes["r3"] and panes.tabs.active == "run-r3"
        assert list(panes.panes) == ["r2", "r3"] and panes.tabs.tab_count == 2


async def test_finished_panes_beyond_the_limit_are_dismissed_oldest_first() -> None:
    app = PanesApp()
    async with app.run_test(size=SIZE) as pilot:
        panes = app.query_one(OutputPanes)
        count = MAX_FINISHED + 3
        for n in range(count):
            panes.run_started(f"r{n}", f"T{n}", "shell")
            panes.append(f"r{n}", f"T{n}", f"output {n}\n")
            panes.run_ended(f"r{n}", f"T{n}", "completed", None)
        for _ in range(30):
            await pilot.pause()
        assert len(panes.panes) <= MAX_FINISHED + 1
        assert "r0" not in panes.panes and f"r{count - 1}" in panes.panes
        assert panes.tabs.tab_count == len(panes.panes)


async def test_a_full_pane_keeps_its_size_so_writing_needs_no_layout() -> None:
    """At MAX_LINES the oldest lines go before the new ones are written: the virtual size stays put (in
    Textual a change of it lays out the whole screen)."""
    async with one_run("T") as (app, pilot, panes, _pane):
        log = panes.log_widget
        panes.append("r1", "T", "".join(f"line {n}\n" for n in range(MAX_LINES + 10)))
        await pilot.pause()
        full = log.virtual_size
        assert len(log.lines) == MAX_LINES and full.height == log.line_count  # the last line is the unfinished one
        changes: list[object] = []
        app.watch(log, "virtual_size", changes.append, init=False)
        for batch in range(20):
            panes.append("r1", "T", "".join(f"more {batch} {n}\n" for n in range(7)))
        assert changes == [] and log.virtual_size == full
        assert log.lines[-2] == "more 19 6" and len(log.lines) == MAX_LINES
        await pilot.pause()
        assert lines_on_screen(panes)[-1] == "more 19 6"


async def test_a_run_not_on_show_keeps_its_last_lines_and_each_run_its_place() -> None:
    """Text for a run not on show is kept in its pane (bounded), and drawn when it comes to the front; a run the
    user scrolled up in is where they left it when it comes back, one they followed is at its end."""
    async with one_run("A") as (_app, pilot, panes, front):
        back = panes.run_started("r2", "B", "shell")  # r1 is live and on show: r2 stays behind
        panes.append("r1", "A", "".join(f"a {n}\n" for n in range(100)))
        await pilot.pause()
        panes.log_widget.focus()
        await pilot.press("pageup")
        await pilot.pause()
        top = lines_on_screen(panes)[0]
        assert not front.following and top.startswith("a ")
        for batch in range(10):  # 5 x MAX_LINES lines while hidden
            panes.append("r2", "B", "".join(f"b {batch} {n}\n" for n in range(MAX_LINES // 2)))
        assert panes.current is front and len(back.lines) <= MAX_LINES
        assert panes.show("B")
        await settle(pilot, panes, "r2")
        await pilot.pause()
        assert back.lines[-2] == f"b 9 {MAX_LINES // 2 - 1}" and back.following
        assert lines_on_screen(panes)[-1] == f"b 9 {MAX_LINES // 2 - 1}"
        panes.append("r1", "A", "while hidden\n")
        assert "while hidden" in front.lines and "while hidden" not in lines_on_screen(panes)
        assert panes.show("A")
        await settle(pilot, panes, "r1")
        await pilot.pause()
        assert lines_on_screen(panes)[0] == top and not front.following


async def test_show_loads_the_tail_of_a_past_run_from_disk(demo_dir: Path) -> None:
    project = Project.open(demo_dir, actor="tui")
    run_id = new_run_id()
    log = RunLog(project.root, run_id)
    log.write_output("".join(f"old line {n}\n" for n in range(50_000)))  # ~0.7 MB: only the tail is read
    log.close()
    project.start("DES-001", run_id=run_id)
    project.fail("DES-001", "boom")
    app = PanesApp(project)
    try:
        async with app.run_test(size=SIZE) as pilot:
            panes = app.query_one(OutputPanes)
            assert panes.show("DES-002") is False  # never run
            assert panes.show("DES-001") is True
            pane = await settle(pilot, panes, run_id)
            assert pane.finished and pane.status == "failed"
            lines = pane.lines
            assert lines[-2] == "old line 49999"
            assert len(lines) <= MAX_LINES + 1 and lines[0].startswith("old line ")
            assert panes.show("DES-001") is True and len(panes.panes) == 1  # the same pane, not a second one
            newer = new_run_id()  # another process runs the task again
            log = RunLog(project.root, newer)
            log.write_output("second attempt\n")
            log.close()
            project.retry("DES-001")
            project.start("DES-001", run_id=newer)
            project.complete("DES-001")
            assert panes.show("DES-001") is True
            pane = await settle(pilot, panes, newer)
            assert list(pane.lines) == ["second attempt", ""] and pane.status == "completed"
    finally:
        project.close()


def test_fold_breaks_long_lines_across_pieces() -> None:
    text, column = fold("a" * (FOLD_WIDTH + 10), 0)
    assert text.split("\n") == ["a" * FOLD_WIDTH, "a" * 10] and column == 10
    text, column = fold("b" * (FOLD_WIDTH - 5) + "\nshort", 10)
    assert text.split("\n") == ["b" * (FOLD_WIDTH - 10), "b" * 5, "short"] and column == 5
    assert fold("x\r\ny", 3) == ("x\r\ny", 1)


def test_tail_output_starts_at_a_line(tmp_path: Path) -> None:
    log = RunLog(tmp_path, "run")
    log.write_output("first line\nsecond line\nthird\n")
    log.close()
    assert tail_output(tmp_path, "run", limit=14) == "third\n"
    assert tail_output(tmp_path, "run") == "first line\nsecond line\nthird\n"
    assert tail_output(tmp_path, "missing") is None


async def test_many_small_chunks_stay_bounded() -> None:
    """200,000 streamed chunks (batched per frame, as the app does) leave a pane with at most MAX_LINES lines of
    at most FOLD_WIDTH characters, also when the second half never sends a newline."""
    async with one_run("T") as (_app, pilot, panes, pane):
        frames, per_frame = 400, 500
        for frame in range(frames):
            newline = frame < frames // 2
            panes.append(
                "r1",
                "T",
                "".join(f"t{frame}.{n} " + ("\n" if newline and n % 10 == 9 else "") for n in range(per_frame)),
            )
            if frame % 50 == 0:
                await pilot.pause()
        await pilot.pause()
        lines = pane.lines
        assert len(lines) <= MAX_LINES + 1
        assert max(len(line) for line in lines) == FOLD_WIDTH
        assert lines[-1].endswith(f"t{frames - 1}.{per_frame - 1} ")


async def test_a_pane_added_as_the_app_quits_is_left_unmounted_without_an_error() -> None:
    """A run the watcher finds just before the app quits (one that began and ended between two looks): its pane
    was still mounting when the app tore its widgets down, and Textual's tabs raised "No Tab with id"."""
    app = PanesApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.query_one(OutputPanes).run_started("r1", "A", "shell")
        app.exit()
    assert app.return_code == 0
