"""The DAG view in a minimal app (Pilot): what it shows, arrow keys along edges, selection, scrolling."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.app import App, ComposeResult

from bench.generate import write_project
from orchestra_tui.dag_layout import DagLayout, Drawing
from orchestra_tui.engine.project import Project
from orchestra_tui.tui.messages import TaskSelected
from orchestra_tui.tui.widgets.dag import BACKGROUND_LAYOUT_TASKS, DagCanvas, DagView

DEMO_IDS = [
    "DES-001",
    "DES-002",
    "DES-003",
    "DEV-001",
    "DEV-002",
    "DEV-003",
    "DEV-004",
    "TST-001",
    "TST-002",
    "TST-003",
]


class DagApp(App[None]):
    """Mounts the view as the shell does and records what it posts."""

    def __init__(self, project: Project) -> None:
        super().__init__()
        self.project = project
        self.posted: list[str] = []

    def compose(self) -> ComposeResult:
        yield DagView(id="dag")

    def on_mount(self) -> None:
        view = self.query_one(DagView)
        view.show_project(self.project, None)
        view.focus()

    def on_task_selected(self, message: TaskSelected) -> None:
        self.posted.append(message.task_id)


@pytest.fixture
def demo(demo_dir: Path) -> Iterator[Project]:
    with Project.open(demo_dir) as project:
        yield project


@pytest.fixture
def big(tmp_path: Path) -> Iterator[Project]:
    write_project(tmp_path / "big", 500, seed=0)
    with Project.open(tmp_path / "big") as project:
        yield project


def laid_out(canvas: DagCanvas) -> tuple[DagLayout, Drawing]:
    assert canvas.dag_layout is not None and canvas.drawing is not None
    return canvas.dag_layout, canvas.drawing


def screen_lines(canvas: DagCanvas) -> list[str]:
    """What the canvas draws, through its line API."""
    return [canvas.render_line(y).text for y in range(canvas.size.height)]


def info(app: DagApp) -> str:
    return str(app.query_one("#dag-info").render())


async def test_the_demo_is_readable_on_80x24_without_scrolling(demo: Project) -> None:
    app = DagApp(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        canvas = app.query_one(DagCanvas)
        assert canvas.has_focus
        assert canvas.virtual_size.width <= canvas.size.width and canvas.virtual_size.height <= canvas.size.height
        assert canvas.scroll_offset == (0, 0)
        text = "\n".join(screen_lines(canvas))
        for task_id in DEMO_IDS:
            assert task_id in text
        assert "● DES-001" in text and "◌ TST-003" in text  # status marks
        assert "▶" in text and "┐" in text  # arrows and routed edges


async def test_a_narrower_view_gets_compact_boxes(demo: Project) -> None:
    app = DagApp(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        canvas = app.query_one(DagCanvas)
        assert "● DES-001" in "\n".join(screen_lines(canvas))
        await pilot.resize_terminal(76, 24)
        await pilot.pause()
        assert canvas.virtual_size.width <= 76
        text = "\n".join(screen_lines(canvas))
        assert all(task_id in text for task_id in DEMO_IDS)
        assert "●DES-001" in text
        await pilot.resize_terminal(100, 24)
        await pilot.pause()
        assert "● DES-001" in "\n".join(screen_lines(canvas))


async def test_arrows_follow_edges_and_post_the_selection(demo: Project) -> None:
    app = DagApp(demo)
    async with app.run_test(size=(120, 40)) as pilot:
        view, canvas = app.query_one(DagView), app.query_one(DagCanvas)
        view.select_task("DES-001")
        await pilot.pause()
        assert canvas.selected == "DES-001" and app.posted == []  # following another view posts nothing

        await pilot.press("right")
        first = canvas.selected
        assert first in demo.graph.dependents("DES-001")
        assert app.posted == [first]
        layout = laid_out(canvas)[0]
        rows = {
            t: abs(layout.nodes[t].port_y - layout.nodes["DES-001"].port_y) for t in demo.graph.dependents("DES-001")
        }
        assert rows[first] == min(rows.values())  # the nearest by row

        await pilot.press("left")
        assert canvas.selected == "DES-001"
        await pilot.press("left")  # no dependency: stays
        assert canvas.selected == "DES-001" and app.posted == [first, "DES-001"]

        view.select_task("DEV-002")
        await pilot.press("right")
        assert canvas.selected == "DEV-003"  # DEV-002's only dependant
        await pilot.press("left")
        assert canvas.selected in ("DEV-001", "DEV-002")
        layer = layout.layers[layout.layer_of["DEV-002"]]
        view.select_task(layer[0])
        await pilot.press("down")
        assert canvas.selected == layer[1]
        await pilot.press("up", "up")
        assert canvas.selected == layer[0]
        await pilot.press("end")
        assert canvas.selected == "TST-003"
        assert app.posted[-1] == "TST-003"


async def test_info_line_says_what_finishing_the_task_unblocks(demo: Project) -> None:
    app = DagApp(demo)
    async with app.run_test(size=(120, 40)) as pilot:
        app.query_one(DagView).select_task("DES-001")
        await pilot.pause()
        text = info(app)
        assert "DES-001 Write the specification · ready · on the critical path" in text
        assert "finishing it unblocks: DES-002, DES-003, DEV-004 · waits on: nothing" in text
        app.query_one(DagView).select_task("TST-002")
        await pilot.pause()
        assert (
            "finishing it unblocks nothing yet (other tasks also hold up TST-003) · waits on: DES-003, DEV-003"
            in info(app)
        )


async def test_a_click_selects_a_task(demo: Project) -> None:
    app = DagApp(demo)
    async with app.run_test(size=(120, 40)) as pilot:
        canvas = app.query_one(DagCanvas)
        rect = laid_out(canvas)[0].nodes["DEV-002"]
        await pilot.click(DagCanvas, offset=(rect.x + 3, rect.port_y))
        assert canvas.selected == "DEV-002" and app.posted[-1] == "DEV-002"


async def test_a_status_change_repaints_without_a_new_layout(demo: Project) -> None:
    app = DagApp(demo)
    async with app.run_test(size=(120, 40)) as pilot:
        view, canvas = app.query_one(DagView), app.query_one(DagCanvas)
        layout = laid_out(canvas)[0]
        demo.start("DES-001")
        demo.complete("DES-001")
        view.show_project(demo, frozenset({"DES-001"}))
        await pilot.pause()
        assert canvas.dag_layout is layout
        text = "\n".join(screen_lines(canvas))
        assert "✓ DES-001" in text
        assert "● DES-002" in text and "● DES-003" in text  # dependants became ready, though not in `changed`
        rect = layout.nodes["DES-001"]
        assert laid_out(canvas)[1].line(rect.y, rect.x, rect.x + 1)[1] == ["done"]  # done tasks leave the critical path


async def test_styles_come_from_the_theme(demo: Project) -> None:
    app = DagApp(demo)
    async with app.run_test(size=(120, 40)) as pilot:
        app.query_one(DagView).select_task("DEV-004")  # off the critical path
        await pilot.pause()
        canvas = app.query_one(DagCanvas)
        start = laid_out(canvas)[0].nodes["DES-001"]
        y = start.y - canvas.scroll_offset.y
        border = canvas.render_line(y).crop(start.x, start.x + 1)
        critical = canvas.get_component_rich_style("dag--critical")
        assert [segment.style for segment in border] == [critical]
        assert critical != canvas.get_component_rich_style("dag--edge")
        app.theme = "textual-light"
        await pilot.pause()
        light = canvas.get_component_rich_style("dag--critical")
        assert light.color != critical.color
        assert [segment.style for segment in canvas.render_line(y).crop(start.x, start.x + 1)] == [light]


async def test_500_tasks_scroll_to_a_far_task(big: Project) -> None:
    app = DagApp(big)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        view, canvas = app.query_one(DagView), app.query_one(DagCanvas)
        layout = laid_out(canvas)[0]
        assert layout.width > 4 * canvas.size.width and layout.height > 3 * canvas.size.height
        far = max(layout.nodes, key=lambda t: layout.nodes[t].x + layout.nodes[t].y)
        view.select_task(far)
        await pilot.pause()
        rect = layout.nodes[far]
        x, y = canvas.scroll_offset
        assert x > 0 and y > 0
        assert x <= rect.x and rect.x + rect.width <= x + canvas.size.width
        assert y <= rect.y and rect.y + rect.height <= y + canvas.size.height
        assert any(far in line for line in screen_lines(canvas))
        await pilot.press("left")  # and on along an edge, still in view
        moved = canvas.selected
        assert moved in big.graph.dependencies(far)
        await pilot.pause()
        rect, (x, y) = layout.nodes[moved], canvas.scroll_offset
        assert x <= rect.x and rect.x + rect.width <= x + canvas.size.width
        assert y <= rect.y and rect.y + rect.height <= y + canvas.size.height


async def test_a_big_graph_is_laid_out_in_a_thread(tmp_path: Path) -> None:
    write_project(tmp_path / "bigger", BACKGROUND_LAYOUT_TASKS + 300, seed=2)
    with Project.open(tmp_path / "bigger") as project:
        app = DagApp(project)
        async with app.run_test(size=(120, 40)) as pilot:
            canvas = app.query_one(DagCanvas)
            assert canvas.drawing is None
            assert f"Laying out {BACKGROUND_LAYOUT_TASKS + 300} tasks" in canvas.render_line(0).text
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert canvas.drawing is not None and len(laid_out(canvas)[0].nodes) == BACKGROUND_LAYOUT_TASKS + 300
            selected = canvas.selected
            assert selected == project.graph.next_task()
            assert any(selected in line for line in screen_lines(canvas))  # scrolled to it
            assert selected in info(app)


async def test_an_empty_plan_says_so(tmp_path: Path) -> None:
    (tmp_path / "orchestra.toml").write_text('[project]\nid = "empty"\nname = "Empty"\n')
    with Project.open(tmp_path) as project:
        app = DagApp(project)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            assert "The plan has no tasks." in info(app)
            assert set("".join(screen_lines(app.query_one(DagCanvas)))) == {" "}
            await pilot.press("right", "down", "end")
            assert app.posted == []


async def test_space_focuses_on_the_selected_tasks_neighbourhood_at_500_tasks(big: Project) -> None:
    """Issue 14 item 17: only the task, its dependencies and dependants (``+`` a level more), laid out around
    each task selected, every box on the screen, boxes wide enough for the start of the title."""
    graph = big.graph
    task = next(t for t in graph.topological_order() if graph.dependencies(t) and len(graph.dependents(t)) >= 2)
    app = DagApp(big)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        view, canvas = app.query_one(DagView), app.query_one(DagCanvas)
        view.select_task(task)
        await pilot.press("space")
        await pilot.pause()
        layout, drawing = laid_out(canvas)
        assert set(layout.nodes) == {task, *graph.dependencies(task), *graph.dependents(task)}
        assert layout.width <= canvas.size.width and layout.height <= canvas.size.height  # nothing off-screen
        rect = layout.nodes[task]
        title = big.tasks[task].title
        assert title[:5] in drawing.line(rect.port_y)[0][rect.x : rect.x + rect.width]
        assert info(app).startswith("focus ±1")
        await pilot.press("l")  # to a dependant: the focus moves with the selection
        await pilot.pause()
        moved = canvas.selected
        assert moved in graph.dependents(task) and app.posted[-1] == moved
        assert set(laid_out(canvas)[0].nodes) == {moved, *graph.dependencies(moved), *graph.dependents(moved)}
        await pilot.press("plus")
        await pilot.pause()
        two = {moved, *graph.dependencies(moved), *graph.dependents(moved)}
        two |= {far for near in list(two) for far in [*graph.dependencies(near), *graph.dependents(near)]}
        wider = set(laid_out(canvas)[0].nodes)
        assert len(wider) > 3 and wider <= two and info(app).startswith("focus ±2")
        await pilot.press("space")  # the whole graph again
        await pilot.pause()
        assert len(laid_out(canvas)[0].nodes) == 500 and not info(app).startswith("focus")
