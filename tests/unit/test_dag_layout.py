"""The DAG layout (pure): geometry invariants, reading the drawing back as a person would, speed."""

from __future__ import annotations

import itertools
import math
import random
import subprocess
import sys
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.generate import plan_document
from orchestra_tui.dag_layout import (
    ARROW,
    BOX_HEIGHT,
    DUMMY_BUDGET,
    DagLayout,
    Drawing,
    _bound_dummies,
    _fit_rows,
    _Highways,
    _inversions,
    _layering,
    _Proper,
    draw,
    layout_dag,
)
from orchestra_tui.engine.project import Project
from orchestra_tui.graph import natural_key
from orchestra_tui.statuses import STATUS_MARKS

LINE_GLYPHS = set("─│┌┐└┘├┤┬┴┼") | {ARROW}


def graph_of(project: Project) -> tuple[list[str], list[tuple[str, str]]]:
    ids = project.graph.ids()
    return ids, [(dep, task_id) for task_id in ids for dep in project.graph.dependencies(task_id)]


def generated(n_tasks: int, seed: int) -> tuple[list[str], list[tuple[str, str]]]:
    tasks = plan_document(n_tasks, seed)["tasks"]
    return [t["id"] for t in tasks], [(dep, t["id"]) for t in tasks for dep in t.get("dependencies", [])]


def drawn(ids: list[str], edges: list[tuple[str, str]], critical: list[str] | None = None) -> Drawing:
    return draw(layout_dag(ids, edges), dict.fromkeys(ids, "ready"), critical or [])


def text(drawing: Drawing) -> list[str]:
    return [drawing.line(y)[0] for y in range(drawing.height)]


def style(drawing: Drawing, x: int, y: int) -> str:
    return drawing.line(y, x, x + 1)[1][0]


@pytest.fixture
def demo(demo_dir: Path) -> Iterator[Project]:
    with Project.open(demo_dir) as project:
        yield project


# ------------------------------------------------------------------------------------ reading it back

_STROKES = {
    "─": "lr",
    "│": "ud",
    "┌": "dr",
    "┐": "dl",
    "└": "ur",
    "┘": "ul",
    "├": "udr",
    "┤": "udl",
    "┬": "dlr",
    "┴": "ulr",
    "┼": "udlr",
    ARROW: "l",
}
_STEP = {"u": (0, -1), "d": (0, 1), "r": (1, 0)}
_BACK = {"u": "d", "d": "u"}


def reached(drawing: Drawing, chars: list[str], source: str) -> set[str]:
    """The boxes whose arrows a reader reaches from ``source``'s port, following only the characters.

    The reading rules: a line leaving a box may branch at any junction; after a vertical stretch the line
    runs right into an arrow without branching (junctions there are merges), except that a horizontal
    stretch with a corner at both ends is a dogleg to follow; a line crossing a layer where there is no box
    is one long edge and does not branch either; a vertical line continues under a ``─`` crossing it.
    """
    layout = drawing.layout
    in_layer = {x0 + dx for x0 in {rect.x for rect in layout.nodes.values()} for dx in range(layout.box_width)}
    box_at = {(rect.x, rect.port_y): task_id for task_id, rect in layout.nodes.items()}

    def glyph(x: int, y: int) -> str:
        return chars[y][x] if 0 <= y < drawing.height and 0 <= x < drawing.width else " "

    def strokes(x: int, y: int) -> str:
        return _STROKES.get(glyph(x, y), "")

    def dogleg_end(x: int, y: int) -> bool:
        x -= 1
        while {"l", "r"} <= set(strokes(x, y)):
            x -= 1
        return glyph(x, y) in "┌└"

    rect = layout.nodes[source]
    stack = [(rect.x + rect.width - 1, rect.port_y, "r", "out")]
    seen: set[tuple[int, int, str, str]] = set()
    found: set[str] = set()
    while stack:
        state = stack.pop()
        if state in seen:
            continue
        seen.add(state)
        x, y, move, phase = state
        x, y = x + _STEP[move][0], y + _STEP[move][1]
        here = strokes(x, y)
        if move != "r":
            if _BACK[move] not in here:
                if glyph(x, y) == "─":
                    stack.append((x, y, move, phase))  # under a crossing
                continue
            if move in here:
                stack.append((x, y, move, phase))
            if "r" in here:
                stack.append((x, y, "r", "in"))
            continue
        if glyph(x, y) == ARROW:
            found.add(box_at[(x + 1, y)])
            continue
        if "l" not in here:
            continue
        if x in in_layer:
            phase = "long"
        if "r" in here:
            stack.append((x, y, "r", phase))
        if phase == "out" or ("r" not in here and (phase == "long" or dogleg_end(x, y))):
            stack.extend((x, y, turn, "vertical") for turn in "ud" if turn in here)
    return found


def misread(drawing: Drawing, edges: list[tuple[str, str]]) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """Per source: the dependants a reader cannot reach, and the tasks a reader wrongly reaches."""
    dependants: dict[str, set[str]] = {task_id: set() for task_id in drawing.layout.nodes}
    for source, target in edges:
        dependants[source].add(target)
    missing, extra = {}, {}
    chars = text(drawing)
    for source, expected in dependants.items():
        found = reached(drawing, chars, source)
        if expected - found:
            missing[source] = expected - found
        if found - expected:
            extra[source] = found - expected
    return missing, extra


# ------------------------------------------------------------------------------------ invariants


def assert_geometry(layout: DagLayout, edges: list[tuple[str, str]]) -> None:
    rects = sorted(layout.nodes.values(), key=lambda r: (r.x, r.y))
    for rect in rects:
        assert rect.x >= 0 and rect.x + rect.width <= layout.width
        assert rect.y >= 0 and rect.y + rect.height <= layout.height
        assert rect.height == BOX_HEIGHT and rect.width == layout.box_width
    for upper, lower in pairwise(rects):  # one column per layer: boxes in a column must not touch
        if upper.x == lower.x:
            assert lower.y >= upper.y + upper.height + 1, (upper, lower)
        else:
            assert lower.x >= upper.x + upper.width + 1, (upper, lower)
    assert set(layout.routes) == set(edges)
    for source, target in edges:
        points = layout.routes[(source, target)]
        src, dst = layout.nodes[source], layout.nodes[target]
        assert layout.layer_of[source] < layout.layer_of[target]
        assert points[0] == (src.x + src.width - 1, src.port_y), "leaves from the source's right border"
        assert points[-1] == (dst.x - 1, dst.port_y), "arrives next to the target's left border"
        for (x0, y0), (x1, y1) in pairwise(points):
            assert (x0 == x1) != (y0 == y1), f"{source}->{target} is not orthogonal"
            assert x1 >= x0, f"{source}->{target} runs backwards"


def assert_lines_drawn(drawing: Drawing, edges: list[tuple[str, str]]) -> None:
    boxes = {
        (x, y)
        for rect in drawing.layout.nodes.values()
        for x in range(rect.x, rect.x + rect.width)
        for y in range(rect.y, rect.y + rect.height)
    }
    chars = text(drawing)
    for edge in edges:
        for x, y in drawing.route_cells(edge):
            assert chars[y][x] in LINE_GLYPHS, (edge, x, y, chars[y][x])
            assert (x, y) not in boxes, f"{edge} runs through a box at {x},{y}"


def test_the_demo_fits_80x24_with_room_for_the_app(demo: Project) -> None:
    ids, edges = graph_of(demo)
    layout = layout_dag(ids, edges)
    assert layout.width <= 80 and layout.height <= 18
    assert len(layout.layers) == 6 and max(len(layer) for layer in layout.layers) == 3
    assert_geometry(layout, edges)


def test_the_demo_reads_back_exactly(demo: Project) -> None:
    ids, edges = graph_of(demo)
    drawing = drawn(ids, edges)
    assert_lines_drawn(drawing, edges)
    assert misread(drawing, edges) == ({}, {})
    for task_id in ids:
        assert sum(f"● {task_id}" in line for line in text(drawing)) == 1


@pytest.mark.parametrize(("n_tasks", "seed"), [(500, 0), (500, 1), (120, 4)])
def test_generated_plans_read_back(n_tasks: int, seed: int) -> None:
    """Every edge can be followed to its arrow; a false reading needs a vertical between two straight
    lines (documented in dag_layout), so it stays rare."""
    ids, edges = generated(n_tasks, seed)
    drawing = drawn(ids, edges)
    assert_geometry(drawing.layout, edges)
    assert_lines_drawn(drawing, edges)
    missing, extra = misread(drawing, edges)
    assert missing == {}
    assert len(extra) <= n_tasks // 100


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(1, 30), st.floats(0.0, 0.5), st.randoms(use_true_random=False))
def test_random_dags(n_tasks: int, density: float, rng: random.Random) -> None:
    ids = [f"T{i}" for i in range(n_tasks)]
    edges = [(ids[i], ids[j]) for j in range(n_tasks) for i in range(j) if rng.random() < density]
    drawing = drawn(ids, edges)
    assert_geometry(drawing.layout, edges)
    assert_lines_drawn(drawing, edges)
    assert misread(drawing, edges)[0] == {}


def test_deterministic_whatever_the_input_order(demo: Project) -> None:
    ids, edges = generated(200, 3)
    first = layout_dag(ids, edges)
    shuffled_ids, shuffled_edges = ids[:], edges[:]
    random.Random(7).shuffle(shuffled_ids)
    random.Random(8).shuffle(shuffled_edges)
    again = layout_dag(shuffled_ids, shuffled_edges)
    assert (again.width, again.height, again.nodes, again.routes) == (
        first.width,
        first.height,
        first.nodes,
        first.routes,
    )


def test_barycenter_ordering_removes_an_avoidable_crossing() -> None:
    # In natural order the edges cross (A above B, C above D); ordering puts D level with A.
    layout = layout_dag(["A", "B", "C", "D"], [("A", "D"), ("B", "C")])
    assert layout.nodes["D"].y < layout.nodes["C"].y
    assert layout.nodes["A"].port_y == layout.nodes["D"].port_y  # and the edges run straight
    assert layout.routes[("A", "D")] == (
        (layout.nodes["A"].x + layout.box_width - 1, layout.nodes["A"].port_y),
        (layout.nodes["D"].x - 1, layout.nodes["D"].port_y),
    )


def test_a_long_edge_passes_beside_the_middle_layer() -> None:
    layout = layout_dag(["A", "B", "C"], [("A", "B"), ("B", "C"), ("A", "C")])
    assert [layout.layer_of[t] for t in "ABC"] == [0, 1, 2]
    drawing = draw(layout, dict.fromkeys("ABC", "blocked"))
    assert_lines_drawn(drawing, [("A", "C")])  # never through B's box
    assert misread(drawing, [("A", "B"), ("B", "C"), ("A", "C")]) == ({}, {})


def test_a_dependency_with_many_dependants_moves_next_to_them() -> None:
    # S has no dependencies and feeds two tasks in layer 2: it sits in layer 1, not 0 (shorter edges).
    layout = layout_dag(["A", "B", "S", "X", "Y"], [("A", "B"), ("B", "X"), ("B", "Y"), ("S", "X"), ("S", "Y")])
    assert layout.layer_of["S"] == 1 and layout.layer_of["X"] == layout.layer_of["Y"] == 2


def test_long_ids_are_cut_to_the_box() -> None:
    long_id = "implement-the-authentication-layer-for-the-api"
    layout = layout_dag([long_id, "B"], [(long_id, "B")])
    assert layout.box_width == 24 + 4
    drawing = draw(layout, {long_id: "ready", "B": "blocked"})
    rect = layout.nodes[long_id]
    label = drawing.line(rect.port_y, rect.x, rect.x + rect.width)[0]
    assert label.startswith("│● implement-the") and label.endswith("…├")


def test_empty_and_edgeless_graphs() -> None:
    empty = layout_dag([], [])
    assert (empty.width, empty.height, empty.layers) == (0, 0, ())
    assert text(draw(empty, {})) == [] and draw(empty, {}).line(0) == ("", [])
    lonely = layout_dag(["A", "B", "C"], [])
    assert len(lonely.layers) == 1
    assert_geometry(lonely, [])


def test_styles_status_and_critical_path(demo: Project) -> None:
    ids, edges = graph_of(demo)
    path = demo.graph.critical_path()[0]
    statuses = {task_id: demo.graph.status_of(task_id).value for task_id in ids}
    drawing = draw(layout_dag(ids, edges), statuses, path)
    layout = drawing.layout
    start = layout.nodes[path[0]]
    assert style(drawing, start.x, start.y) == "critical"  # a critical task's border
    assert style(drawing, start.x + 1, start.port_y) == "ready"  # its label keeps the status colour
    off_path = next(t for t in ids if t not in path)
    rect = layout.nodes[off_path]
    assert style(drawing, rect.x, rect.y) == "blocked"
    critical_edge, other_edge = (path[0], path[1]), next(e for e in edges if e[0] not in path and e[1] not in path)
    assert {style(drawing, x, y) for x, y in drawing.route_cells(critical_edge)} == {"critical"}
    assert "critical" not in {style(drawing, x, y) for x, y in drawing.route_cells(other_edge)}

    # Repainting in place: the path moves on, the old one loses its highlight.
    drawing.set_critical(path[1:])
    assert style(drawing, start.x, start.y) == "ready"
    assert "critical" not in {style(drawing, x, y) for x, y in drawing.route_cells(critical_edge)}
    assert {style(drawing, x, y) for x, y in drawing.route_cells((path[1], path[2]))} == {"critical"}
    drawing.paint_node(path[0], "completed")
    assert drawing.line(start.port_y, start.x, start.x + start.width)[0].startswith("│✓ " + path[0])
    assert style(drawing, start.x + 1, start.port_y) == "done"


def test_a_line_can_be_drawn_in_part() -> None:
    """The view asks for the visible columns only: any window is that part of the whole row, boxes cut at
    its edges included."""
    rng = random.Random(5)
    ids, edges = generated(120, 4)
    drawing = draw(layout_dag(ids, edges), {t: "failed" if i % 3 else "ready" for i, t in enumerate(ids)}, ids[:1])
    assert drawing.line(drawing.height) == ("", []) and drawing.line(0, drawing.width) == ("", [])
    for _ in range(300):
        y, start = rng.randrange(drawing.height), rng.randrange(drawing.width)
        end = start + rng.randrange(1, 100)
        chars, styles = drawing.line(y)
        assert drawing.line(y, start, end) == (chars[start:end], styles[start:end])
    assert sum(line.count("✗") for line in text(drawing)) == sum(1 for i in range(len(ids)) if i % 3)


def _proper(ids: list[str], edges: list[tuple[str, str]]) -> _Proper:
    ids = sorted(ids, key=natural_key)
    index = {task_id: slot for slot, task_id in enumerate(ids)}
    edges = sorted(set(edges), key=lambda edge: (index[edge[0]], index[edge[1]]))
    return _Proper(ids, index, edges, _layering(index, edges))


def _crossings_counted_pair_by_pair(graph: _Proper) -> int:
    pos, count = graph.pos, 0
    for layer in graph.layers[:-1]:
        lines = [(pos[a], pos[b]) for a in layer for b in graph.successors(a)]
        count += sum(1 for (a, b) in lines for (c, d) in lines if a < c and b > d)
    return count


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 40), st.floats(0.02, 0.3), st.randoms(use_true_random=False))
def test_crossings_are_counted_exactly(n_tasks: int, density: float, rng: random.Random) -> None:
    """The fast count relies on dummies' lines never crossing each other, in the first order and after the
    sweeps; it must agree with comparing every pair of lines."""
    ids = [f"T{i}" for i in range(n_tasks)]
    graph = _proper(ids, [(ids[i], ids[j]) for j in range(n_tasks) for i in range(j) if rng.random() < density])
    for layer in graph.layers:
        for position, slot in enumerate(layer):
            graph.pos[slot] = position
    assert graph._crossings() == _crossings_counted_pair_by_pair(graph)
    graph.order()
    assert graph._crossings() == _crossings_counted_pair_by_pair(graph)


@given(st.lists(st.integers(0, 30), max_size=60))
def test_inversions(values: list[int]) -> None:
    assert _inversions(values) == sum(
        1 for i in range(len(values)) for j in range(i + 1, len(values)) if values[i] > values[j]
    )


def _fit_rows_by_pooling_each_value(desired: list[int], offsets: list[int]) -> list[int]:
    """Pool adjacent violators one value at a time, the textbook way (and the layout's before it skipped runs)."""
    blocks: list[list[float]] = []
    for target in (d - o for d, o in zip(desired, offsets, strict=True)):
        mean, count = float(target), 1.0
        while blocks and blocks[-1][0] > mean:
            previous, weight = blocks.pop()
            mean, count = (previous * weight + mean * count) / (weight + count), weight + count
        blocks.append([mean, count])
    rows = [math.floor(mean + 0.5) for mean, count in blocks for _ in range(int(count))]
    return [row + offset for row, offset in zip(rows, offsets, strict=True)]


@given(st.lists(st.tuples(st.integers(-20, 60), st.integers(1, 4)), max_size=40))
def test_fit_rows_keeps_separations_and_matches_plain_pooling(pairs: list[tuple[int, int]]) -> None:
    desired = [d for d, _ in pairs]
    offsets = [0]
    for _, gap in pairs[1:]:
        offsets.append(offsets[-1] + gap)
    offsets = offsets[: len(desired)]
    rows = _fit_rows(desired, offsets)
    assert all(b - a >= gap for a, b, (_, gap) in zip(rows, rows[1:], pairs[1:], strict=False))
    assert all(isinstance(row, int) for row in rows)
    assert rows == _fit_rows_by_pooling_each_value(desired, offsets)


def test_the_marks_are_the_cli_s(demo: Project) -> None:
    """One table of marks for both faces: a box shows the mark the CLI prints before the status."""
    from orchestra_tui.cli.render import status_text

    ids, edges = graph_of(demo)
    layout = layout_dag(ids, edges)
    for status, mark in STATUS_MARKS.items():
        drawing = draw(layout, dict.fromkeys(ids, status))
        rect = layout.nodes[ids[0]]
        assert drawing.line(rect.port_y, rect.x, rect.x + 3)[0] == f"│{mark} "
        assert status_text(status).plain == f"{mark} {status}"


def test_500_tasks_lay_out_and_draw() -> None:
    """How long it takes is bench/bench_dag.py's figure (README)."""
    ids, edges = generated(500, 0)
    assert len(edges) > 850
    drawing = drawn(ids, edges)
    assert drawing.width > 0 and drawing.height > 0


def crossings(drawing: Drawing) -> int:
    """Cells where a vertical line passes straight under a horizontal one (the drawing's crossings)."""
    count = 0
    for x, spans in drawing._verticals.items():
        for top, bottom in spans:
            count += sum(
                any(left <= x <= right for left, right in drawing._horizontals.get(y, ()))
                for y in range(top + 1, bottom)
            )
    return count


# Counted on the layout before the dummy budget (main at 9cb783f), which these plans stay under.
OLD_CROSSINGS = {(120, 4): 1297, (500, 0): 10450, (500, 1): 11487, (2000, 0): 134554}


@pytest.mark.parametrize(("n_tasks", "seed"), list(OLD_CROSSINGS))
def test_plans_under_the_budget_cross_no_more_than_before(n_tasks: int, seed: int) -> None:
    ids, edges = generated(n_tasks, seed)
    drawing = drawn(ids, edges)
    assert drawing.layout.highways == 0 and drawing.layout.dummies <= DUMMY_BUDGET
    assert crossings(drawing) <= OLD_CROSSINGS[(n_tasks, seed)]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(2, 30), st.floats(0.05, 0.5), st.integers(0, 30), st.randoms(use_true_random=False))
def test_random_dags_over_the_budget_read_back(n_tasks: int, density: float, budget: int, rng: random.Random) -> None:
    """Past the budget the longest edges run along highways below the boxes: still every edge drawn from its
    source's border to its target's arrow, through no box, and read back by following the lines."""
    ids = [f"T{i}" for i in range(n_tasks)]
    edges = [(ids[i], ids[j]) for j in range(n_tasks) for i in range(j) if rng.random() < density]
    layout = layout_dag(ids, edges, dummy_budget=budget)
    assert layout.dummies <= budget
    unbounded = layout_dag(ids, edges, dummy_budget=10**9)
    assert layout.layer_of == unbounded.layer_of, "the budget changes no task's layer"
    drawing = draw(layout, dict.fromkeys(ids, "ready"))
    assert_geometry(layout, edges)
    assert_lines_drawn(drawing, edges)
    assert misread(drawing, edges)[0] == {}
    if layout.highways:
        bottom_of_boxes = max(rect.y + rect.height for rect in layout.nodes.values())
        below = [edge for edge, points in layout.routes.items() if max(y for _, y in points) > bottom_of_boxes]
        assert len(below) >= layout.highways  # doglegs may find their free row there too


@given(st.lists(st.integers(0, 12), max_size=30), st.integers(0, 60))
def test_the_budget_moves_the_fewest_longest_edges(spans: list[int], budget: int) -> None:
    edges = [(f"S{i}", f"T{i}") for i in range(len(spans))]
    layer = {f"S{i}": 0 for i in range(len(spans))} | {f"T{i}": span + 1 for i, span in enumerate(spans)}
    kept, moved = _bound_dummies(edges, layer, budget)
    kept_spans = [layer[target] - 1 for _, target in kept]
    moved_spans = [layer[target] - 1 for _, target in moved]
    assert sorted(kept + moved) == sorted(edges) and kept == [edge for edge in edges if edge in kept]
    assert sum(kept_spans) <= budget
    assert all(m >= k for m in moved_spans for k in kept_spans), "only the longest move"
    if moved:
        assert sum(kept_spans) + min(moved_spans) > budget, "no more than needed"


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 30), st.floats(0.05, 0.5), st.randoms(use_true_random=False))
def test_highways_share_a_row_only_where_their_channels_do_not_meet(
    n_tasks: int, density: float, rng: random.Random
) -> None:
    ids = [f"T{i}" for i in range(n_tasks)]
    edges = [(ids[i], ids[j]) for j in range(n_tasks) for i in range(j) if rng.random() < density]
    graph = _proper(ids, edges)
    ends = [(a, b) for a, b in graph.ends if graph.layer[b] - graph.layer[a] > 1]
    highways = _Highways(graph, ends, 7)
    assert all(row >= 7 for row in highways.row)
    busiest = max(
        (sum(first <= k <= last for first, last in highways.span) for k in range(len(graph.layers))), default=0
    )
    assert highways.bottom - 7 == busiest or not ends, "as many rows as highways over the busiest channel"
    for i, j in itertools.combinations(range(len(ends)), 2):
        if highways.row[i] == highways.row[j]:
            (a, b), (c, d) = highways.span[i], highways.span[j]
            assert b < c or d < a


def test_a_plan_with_all_its_long_edges_on_highways_reads_back() -> None:
    """Tall verticals (down to the highways) are indexed apart from the row bands: drawn all the same."""
    ids, edges = generated(300, 2)
    drawing = draw(layout_dag(ids, edges, dummy_budget=0), dict.fromkeys(ids, "ready"))
    assert drawing.layout.highways > 100 and len(drawing._tall[1]) > 20
    assert_geometry(drawing.layout, edges)
    assert_lines_drawn(drawing, edges)
    missing, extra = misread(drawing, edges)
    assert missing == {}
    assert len(extra) <= 300 // 25  # more bends, so more of the reading dag_layout leaves open: 8 here, 0 without


def test_a_5000_task_plan_keeps_to_the_budget() -> None:
    """The generated 5,000-task plan's edges would need ~210,000 dummies (layout time is about linear in
    them: ~2.5 s, against ~0.7 s within the budget; figures in bench/bench_dag.py)."""
    ids, edges = generated(5000, 0)
    layout = layout_dag(ids, edges)
    assert layout.dummies <= DUMMY_BUDGET and layout.highways > 0
    assert_geometry(layout, edges)


def test_the_layout_module_loads_no_textual() -> None:
    code = "import sys, orchestra_tui.dag_layout; sys.exit('textual' in sys.modules or 'rich' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False, timeout=60).returncode == 0
