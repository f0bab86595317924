"""The dependency graph drawn on a character grid, Sugiyama style. Pure: no textual, no I/O.

Layers run left to right, a column of boxes per layer. Terminals are wide and short, and a box is 3 rows
high but about 11 cells wide, so columns fit best: the demo (6 layers, at most 4 slots in one) takes 79x15
cells; top to bottom it would need 6 rows of boxes plus 5 routing channels, over 30 rows.

``layout_dag`` (structure only, independent of statuses):
1. layers: topological generations, then a task with more dependants than dependencies moves right, next
   to its earliest dependant (shorter edges: 19% fewer long-edge dummies on the 500-task benchmark plan);
2. an edge spanning several layers gets a one-row dummy in each layer it crosses, drawn as a straight line;
3. crossing reduction: barycenter sweeps, keeping the order with the fewest crossings;
4. rows: each layer's slots keep their order and spacing and sit as close as possible (least squares, by
   isotonic regression) to the median row of their neighbours, so most edges run straight;
5. routing, per channel between two layers: an edge leaves its source's right border on the box's middle
   row, runs to a vertical track of its own, then along the target's middle row into an arrow. Edges of
   one source share their first stretch, edges into one target their last (that is the merging). Tracks
   are packed left-edge first, and an edge leaving a row turns before any edge entering that row turns
   in, so the two stretches on a row never overlap. When those constraints form a cycle (edges swapping
   rows), the edges involved take a dogleg through a free row.

``draw`` paints a layout: box-drawing characters plus a style key per cell (a status key, "edge" or
"critical"). Where lines cross without joining, the horizontal one is drawn whole (``│`` above and below
a ``─``), so every junction glyph is a real connection.

How to read it: lines branch only where they leave a box, and merge on the way into an arrow; a line
through a layer without a box is one long edge. The one reading this leaves open is a vertical joining two
straight box-to-box lines (rare; the view lights up the selected task's own edges).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from itertools import pairwise
from statistics import median_low

import networkx as nx

from orchestra_tui.graph import natural_key

__all__ = ["STATUS_MARKS", "STATUS_STYLES", "DagLayout", "Drawing", "Rect", "draw", "layout_dag"]

# Marks as the CLI prints them (cli/render.py), so a status reads the same without colour everywhere.
STATUS_MARKS = {
    "ready": "●",
    "blocked": "◌",
    "pending": "○",
    "in_progress": "▶",
    "review": "◆",
    "completed": "✓",
    "failed": "✗",
    "cancelled": "⊘",
}
# Status -> style key (the widget's component class is "dag--" + key).
STATUS_STYLES = {
    "ready": "ready",
    "blocked": "blocked",
    "pending": "blocked",
    "in_progress": "running",
    "review": "review",
    "completed": "done",
    "failed": "failed",
    "cancelled": "cancelled",
}
BOX_HEIGHT = 3
MAX_ID_WIDTH = 24
_SWEEPS = 8
_PLACEMENT_PASSES = ("down", "up", "down", "up", "down")

Point = tuple[int, int]
Edge = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Rect:
    x: int
    y: int
    width: int
    height: int

    @property
    def port_y(self) -> int:
        """The row edges leave and enter on (the middle one)."""
        return self.y + self.height // 2

    def contains(self, x: int, y: int) -> bool:
        return self.x <= x < self.x + self.width and self.y <= y < self.y + self.height


@dataclass(frozen=True)
class DagLayout:
    """Where everything goes. ``routes`` maps each edge (dependency, dependant) to its corner points, from the
    source's right border cell (on its port row) to the arrow cell just left of the target's box."""

    width: int
    height: int
    box_width: int
    nodes: Mapping[str, Rect]
    layers: tuple[tuple[str, ...], ...]  # real tasks per layer, top to bottom
    layer_of: Mapping[str, int]
    routes: Mapping[Edge, tuple[Point, ...]]

    def node_at(self, x: int, y: int) -> str | None:
        return next((task_id for task_id, rect in self.nodes.items() if rect.contains(x, y)), None)


# ------------------------------------------------------------------------------------------------ layout


def layout_dag(ids: Iterable[str], edges: Iterable[Edge], box_width: int | None = None) -> DagLayout:
    """Lay out a DAG (edges run dependency -> dependant). The result depends only on the ids and edges."""
    ids = sorted(ids, key=natural_key)
    edges = sorted(set(edges), key=lambda edge: (natural_key(edge[0]), natural_key(edge[1])))
    if box_width is None:
        box_width = min(max((len(task_id) for task_id in ids), default=1), MAX_ID_WIDTH) + 4
    graph = _Proper(ids, edges, _layering(ids, edges))
    graph.order()
    graph.place()
    channels = [_route_channel(graph, k) for k in range(len(graph.layers) - 1)]
    xs = [0]
    for channel in channels:
        xs.append(xs[-1] + box_width + channel.width)
    height = max((graph.port[s] + graph.below(s) + 1 for s in range(len(graph.port))), default=0)
    height = max([height, *(channel.extra_height for channel in channels)])
    width = xs[-1] + box_width if ids else 0
    nodes = {
        task_id: Rect(xs[graph.layer[slot]], graph.port[slot] - BOX_HEIGHT // 2, box_width, BOX_HEIGHT)
        for slot, task_id in enumerate(ids)
    }
    routes = {edge: _assemble(graph, chain, channels, xs, box_width) for edge, chain in graph.chains.items()}
    layers = tuple(tuple(ids[s] for s in layer if s < graph.n_real) for layer in graph.layers)
    layer_of = {task_id: graph.layer[slot] for slot, task_id in enumerate(ids)}
    return DagLayout(width, height, box_width, nodes, layers, layer_of, routes)


def _layering(ids: list[str], edges: list[Edge]) -> dict[str, int]:
    dag = nx.DiGraph()
    dag.add_nodes_from(ids)
    dag.add_edges_from(edges)
    generations = [sorted(generation, key=natural_key) for generation in nx.topological_generations(dag)]
    layer = {task_id: index for index, generation in enumerate(generations) for task_id in generation}
    for generation in reversed(generations):  # dependants are final before their dependencies move
        for task_id in generation:
            succ = dag.succ[task_id]
            if len(succ) > len(dag.pred[task_id]):
                layer[task_id] = min(layer[child] for child in succ) - 1
    return layer


class _Proper:
    """The layered graph with dummies: slots 0..n_real-1 are the tasks (in ``ids`` order), the rest dummies."""

    def __init__(self, ids: list[str], edges: list[Edge], layer_of: dict[str, int]) -> None:
        self.n_real = len(ids)
        index = {task_id: slot for slot, task_id in enumerate(ids)}
        self.layer = [layer_of[task_id] for task_id in ids]
        self.preds: list[list[int]] = [[] for _ in ids]
        self.succs: list[list[int]] = [[] for _ in ids]
        self.chains: dict[Edge, list[int]] = {}
        for source, target in edges:
            chain = [index[source]]
            for layer in range(layer_of[source] + 1, layer_of[target]):
                chain.append(self._add_dummy(layer))
            chain.append(index[target])
            for a, b in pairwise(chain):
                self.succs[a].append(b)
                self.preds[b].append(a)
            self.chains[(source, target)] = chain
        n_layers = max(self.layer, default=-1) + 1
        self.layers: list[list[int]] = [[] for _ in range(n_layers)]
        for slot, layer in enumerate(self.layer):
            self.layers[layer].append(slot)
        self.pos = [0] * len(self.layer)
        self.port = [0] * len(self.layer)

    def _add_dummy(self, layer: int) -> int:
        self.layer.append(layer)
        self.preds.append([])
        self.succs.append([])
        return len(self.layer) - 1

    def is_box(self, slot: int) -> bool:
        return slot < self.n_real

    def above(self, slot: int) -> int:
        return BOX_HEIGHT // 2 if slot < self.n_real else 0

    def below(self, slot: int) -> int:
        return BOX_HEIGHT - 1 - BOX_HEIGHT // 2 if slot < self.n_real else 0

    def separation(self, upper: int, lower: int) -> int:
        """Port rows apart: dummy lines may touch each other; anything next to a box keeps a blank row."""
        gap = 0 if upper >= self.n_real and lower >= self.n_real else 1
        return self.below(upper) + 1 + gap + self.above(lower)

    # -- crossing reduction -------------------------------------------------------------------------------

    def order(self) -> None:
        """Barycenter sweeps (down by dependencies, up by dependants); the best order seen wins."""
        self._renumber()
        best, best_layers = self._crossings(), [list(layer) for layer in self.layers]
        for sweep in range(_SWEEPS):
            if best == 0:
                break
            down = sweep % 2 == 0
            indexes = range(1, len(self.layers)) if down else range(len(self.layers) - 2, -1, -1)
            for k in indexes:
                neighbours = self.preds if down else self.succs
                pos = self.pos
                keys = {s: (sum(pos[n] for n in neighbours[s]) / len(neighbours[s]) if neighbours[s] else pos[s]) for s in self.layers[k]}
                self.layers[k].sort(key=keys.__getitem__)
                for i, s in enumerate(self.layers[k]):
                    pos[s] = i
            crossings = self._crossings()
            if crossings < best:
                best, best_layers = crossings, [list(layer) for layer in self.layers]
        self.layers = best_layers
        self._renumber()

    def _renumber(self) -> None:
        for layer in self.layers:
            for i, s in enumerate(layer):
                self.pos[s] = i

    def _crossings(self) -> int:
        total = 0
        pos = self.pos
        for layer in self.layers[:-1]:
            pairs = sorted((pos[a], pos[b]) for a in layer for b in self.succs[a])
            total += _inversions([b for _, b in pairs])
        return total

    # -- rows ----------------------------------------------------------------------------------------------

    def place(self) -> None:
        for layer in self.layers:  # start stacked
            row = 0
            for i, s in enumerate(layer):
                row = self.above(s) if i == 0 else row + self.separation(layer[i - 1], s)
                self.port[s] = row
        for direction in _PLACEMENT_PASSES:
            down = direction == "down"
            neighbours = self.preds if down else self.succs
            indexes = range(1, len(self.layers)) if down else range(len(self.layers) - 2, -1, -1)
            for k in indexes:
                layer = self.layers[k]
                desired = [median_low([self.port[n] for n in neighbours[s]]) if neighbours[s] else self.port[s] for s in layer]
                seps = [self.separation(a, b) for a, b in pairwise(layer)]
                for s, row in zip(layer, _fit_rows(desired, seps)):
                    self.port[s] = row
        top = min((self.port[s] - self.above(s) for s in range(len(self.port))), default=0)
        self.port = [row - top for row in self.port]


def _inversions(values: list[int]) -> int:
    """Pairs i < j with values[i] > values[j] (a Fenwick tree over the values)."""
    size = max(values, default=0) + 2
    tree = [0] * size
    count = 0
    for seen, value in enumerate(values):
        i, not_above = value + 1, 0
        while i > 0:
            not_above += tree[i]
            i -= i & -i
        count += seen - not_above
        i = value + 1
        while i < size:
            tree[i] += 1
            i += i & -i
    return count


def _fit_rows(desired: Sequence[float], seps: Sequence[int]) -> list[int]:
    """Rows as close to ``desired`` as possible (least squares) with row[i+1] - row[i] >= seps[i].

    Shifting row i by its minimum offset turns the constraints into "non-decreasing", which pool adjacent
    violators solves exactly; rounding a non-decreasing sequence keeps it non-decreasing.
    """
    offsets = [0]
    for sep in seps:
        offsets.append(offsets[-1] + sep)
    blocks: list[list[float]] = []  # [mean, count]
    for target in (d - o for d, o in zip(desired, offsets)):
        mean, count = float(target), 1.0
        while blocks and blocks[-1][0] > mean:
            previous, weight = blocks.pop()
            mean, count = (previous * weight + mean * count) / (weight + count), weight + count
        blocks.append([mean, count])
    rows = []
    for mean, count in blocks:
        rows.extend([math.floor(mean + 0.5)] * int(count))
    return [row + offset for row, offset in zip(rows, offsets)]


# ------------------------------------------------------------------------------------------------ routing


@dataclass
class _Track:
    """One vertical segment in a channel, rows top..bottom. Its nets name what each end joins: ("s", slot)
    a source's outgoing line, ("t", slot) a target's incoming line, ("m", n) the horizontal of dogleg n."""

    top: int
    bottom: int
    top_net: tuple[str, int]
    bottom_net: tuple[str, int]
    out_row: int  # the row it turns off from (constraint: left of anything turning into that row)
    in_row: int
    column: int = -1


@dataclass
class _Channel:
    width: int  # tracks + the arrow column
    tracks: dict[tuple[int, int], list[_Track]]  # proper edge -> its track(s), two for a dogleg; none when straight
    extra_height: int  # rows the doglegs need (0 when they fit in the drawing)


def _route_channel(graph: _Proper, k: int) -> _Channel:
    port = graph.port
    left, right = graph.layers[k], graph.layers[k + 1]
    edges = [(a, b) for a in left for b in graph.succs[a]]
    bent = [(a, b) for a, b in edges if port[a] != port[b]]
    tracks = {edge: [_track(edge, port[edge[0]], port[edge[1]])] for edge in bent}
    cyclic = _cyclic_edges(tracks)
    dogleg_rows: set[int] = set()
    busy = {port[s] for s in left} | {port[s] for s in right}
    for edge in cyclic:
        row = _free_row(busy, (port[edge[0]] + port[edge[1]]) // 2)
        busy.add(row)
        dogleg_rows.add(row)
        key = ("m", len(dogleg_rows))
        tracks[edge] = [_track(edge, port[edge[0]], row, in_net=key), _track(edge, row, port[edge[1]], out_net=key)]
    columns = _pack(tracks, dogleg_rows)
    return _Channel(columns + 1, tracks, max(dogleg_rows, default=-1) + 1)


def _track(edge: tuple[int, int], out_row: int, in_row: int, out_net: tuple[str, int] | None = None, in_net: tuple[str, int] | None = None) -> _Track:
    out_net = out_net or ("s", edge[0])
    in_net = in_net or ("t", edge[1])
    if out_row < in_row:
        return _Track(out_row, in_row, out_net, in_net, out_row, in_row)
    return _Track(in_row, out_row, in_net, out_net, out_row, in_row)


def _constraints(tracks: Mapping[tuple[int, int], list[_Track]], dogleg_rows: AbstractSet[int] = frozenset()) -> list[tuple[_Track, _Track]]:
    """(a, b): a's column must be left of b's, because a turns off a row that b turns into. A dogleg's row
    is its own: its first part comes down (or up) left of where its second part leaves."""
    leaving: dict[int, list[_Track]] = {}
    entering: dict[int, list[_Track]] = {}
    pairs = []
    for parts in tracks.values():
        if len(parts) == 2:
            pairs.append((parts[0], parts[1]))
        for track in parts:
            if track.out_row not in dogleg_rows:
                leaving.setdefault(track.out_row, []).append(track)
            if track.in_row not in dogleg_rows:
                entering.setdefault(track.in_row, []).append(track)
    for row, outs in leaving.items():
        for b in entering.get(row, ()):
            pairs.extend((a, b) for a in outs if a is not b)
    return pairs


def _cyclic_edges(tracks: Mapping[tuple[int, int], list[_Track]]) -> list[tuple[int, int]]:
    owner = {id(track): edge for edge, parts in tracks.items() for track in parts}
    vcg = nx.DiGraph()
    vcg.add_edges_from((owner[id(a)], owner[id(b)]) for a, b in _constraints(tracks))
    found = [edge for component in nx.strongly_connected_components(vcg) if len(component) > 1 for edge in component]
    return sorted(found)


def _free_row(busy: set[int], near: int) -> int:
    for distance in range(len(busy) + 2):
        for row in (near - distance, near + distance):
            if row >= 0 and row not in busy:
                return row
    raise AssertionError("unreachable: fewer busy rows than candidates")


def _pack(tracks: Mapping[tuple[int, int], list[_Track]], dogleg_rows: set[int]) -> int:
    """Assign columns left-edge first under the turning constraints; returns the number of columns.

    Two tracks share a column when their rows do not meet, or meet only at their common source's row (a
    source fanning out up and down). Not at a common target's row: the column would then join two sources.
    """
    items = [track for parts in tracks.values() for track in parts]
    after: dict[int, list[_Track]] = {}
    waiting = {id(track): 0 for track in items}
    for a, b in _constraints(tracks, dogleg_rows):
        after.setdefault(id(a), []).append(b)
        waiting[id(b)] += 1
    pending = sorted(items, key=lambda t: (t.top, t.bottom))
    column = 0
    while pending:
        placed, rest = [], []
        last: _Track | None = None
        for track in pending:
            free = last is None or track.top > last.bottom or (track.top == last.bottom and track.top_net == last.bottom_net and track.top_net[0] == "s")
            if waiting[id(track)] == 0 and free:
                track.column = column
                placed.append(track)
                last = track
            else:
                rest.append(track)
        if not placed:
            raise AssertionError("the turning constraints are cyclic")  # _cyclic_edges removed every cycle
        for track in placed:
            for b in after.get(id(track), ()):
                waiting[id(b)] -= 1
        pending = rest
        column += 1
    return column


def _assemble(graph: _Proper, chain: list[int], channels: list[_Channel], xs: list[int], box_width: int) -> tuple[Point, ...]:
    port = graph.port
    points: list[Point] = [(xs[graph.layer[chain[0]]] + box_width - 1, port[chain[0]])]
    for a, b in pairwise(chain):
        k = graph.layer[a]
        channel = channels[k]
        first = xs[k] + box_width
        for track in channel.tracks.get((a, b), ()):
            x = first + track.column
            points.append((x, track.out_row))
            points.append((x, track.in_row))
        end = xs[k + 1] - 1 if graph.is_box(b) else xs[k + 1] + box_width - 1
        points.append((end, port[b]))
    return tuple(_corners(points))


def _corners(points: list[Point]) -> list[Point]:
    """Drop repeated and collinear middle points."""
    kept: list[Point] = []
    for point in points:
        if kept and point == kept[-1]:
            continue
        if len(kept) >= 2:
            (x0, y0), (x1, y1) = kept[-2], kept[-1]
            if (x0 == x1 == point[0]) or (y0 == y1 == point[1]):
                kept[-1] = point
                continue
        kept.append(point)
    return kept


# ------------------------------------------------------------------------------------------------ drawing

_UP, _DOWN, _LEFT, _RIGHT, _PASS = 1, 2, 4, 8, 16
_GLYPHS = {
    0: " ",
    _LEFT: "─", _RIGHT: "─", _LEFT | _RIGHT: "─",
    _UP: "│", _DOWN: "│", _UP | _DOWN: "│",
    _DOWN | _RIGHT: "┌", _DOWN | _LEFT: "┐", _UP | _RIGHT: "└", _UP | _LEFT: "┘",
    _UP | _DOWN | _RIGHT: "├", _UP | _DOWN | _LEFT: "┤", _DOWN | _LEFT | _RIGHT: "┬", _UP | _LEFT | _RIGHT: "┴",
    _UP | _DOWN | _LEFT | _RIGHT: "┼",
}
ARROW = "▶"


def _glyph(mask: int) -> str:
    if mask & _PASS:
        # A vertical passing straight through, so anything horizontal here crosses it (a junction would need
        # the vertical to turn). The horizontal line is drawn whole: it is the one heading for an arrow.
        return "─" if mask & (_LEFT | _RIGHT) else "│"
    return _GLYPHS[mask]


class Drawing:
    """A painted layout: ``chars[y][x]`` and ``styles[y][x]`` (a style key, "" for background).

    Tasks' statuses and the critical path can be repainted in place (``paint_node``, ``set_critical``); the
    lines themselves only change with a new layout.
    """

    def __init__(self, layout: DagLayout) -> None:
        self.layout = layout
        self.width, self.height = layout.width, layout.height
        self.chars = [[" "] * self.width for _ in range(self.height)]
        self.styles = [[""] * self.width for _ in range(self.height)]
        self.statuses: dict[str, str] = {}
        self.critical: tuple[str, ...] = ()
        self._masks = [[0] * self.width for _ in range(self.height)]
        self._sources = {source for source, _ in layout.routes}
        self._paint_lines()

    def route_cells(self, edge: Edge) -> Iterator[Point]:
        """The cells of an edge's line after the source's border, except where its vertical passes under another
        edge's horizontal line."""
        points = self.layout.routes[edge]
        masks = self._masks
        for (x0, y0), (x1, y1) in pairwise(points):
            if y0 == y1:
                step = 1 if x1 > x0 else -1
                for x in range(x0 + step, x1 + step, step):
                    yield x, y0
            else:
                step = 1 if y1 > y0 else -1
                for y in range(y0 + step, y1 + step, step):
                    mask = masks[y][x0]
                    if not (mask & _PASS and mask & (_LEFT | _RIGHT)):
                        yield x0, y

    def paint_node(self, task_id: str, status: str) -> None:
        """Draw a task's box in its status (and as part of the critical path if it is)."""
        self.statuses[task_id] = status
        rect = self.layout.nodes[task_id]
        style = STATUS_STYLES.get(status, "blocked")
        border = "critical" if task_id in self.critical else style
        inner = rect.width - 2
        mark = STATUS_MARKS.get(status, "?")
        # Without the space only when that makes the whole id fit (the compact boxes on a narrow screen).
        label = mark + task_id if len(task_id) + 1 == inner else f"{mark} {task_id}"
        if len(label) > inner:
            label = label[: inner - 1] + "…"
        rows = ["┌" + "─" * inner + "┐", "│" + label.ljust(inner) + "│", "└" + "─" * inner + "┘"]
        if task_id in self._sources:
            rows[1] = rows[1][:-1] + "├"
        for dy, text in enumerate(rows):
            y = rect.y + dy
            self.chars[y][rect.x : rect.x + rect.width] = list(text)
            self.styles[y][rect.x : rect.x + rect.width] = [border] * rect.width
        self.styles[rect.port_y][rect.x + 1 : rect.x + 1 + inner] = [style] * inner

    def set_critical(self, path: Sequence[str]) -> None:
        """Highlight the critical path's edges and box borders, un-highlighting the previous path."""
        old, new = _path_edges(self.critical), _path_edges(path)
        for edge in old - new:
            self._style_route(edge, "edge")
        for edge in new:  # all of them: a cell shared with an edge just reset must be critical again
            self._style_route(edge, "critical")
        changed = set(self.critical) ^ set(path)
        self.critical = tuple(path)
        for task_id in changed:
            if task_id in self.statuses:
                self.paint_node(task_id, self.statuses[task_id])

    def _style_route(self, edge: Edge, style: str) -> None:
        styles = self.styles
        for x, y in self.route_cells(edge):
            styles[y][x] = style

    def _paint_lines(self) -> None:
        masks = self._masks
        for points in self.layout.routes.values():
            for (x0, y0), (x1, y1) in pairwise(points):
                if y0 == y1:
                    lo, hi = min(x0, x1), max(x0, x1)
                    row = masks[y0]
                    row[lo] |= _RIGHT
                    row[hi] |= _LEFT
                    for x in range(lo + 1, hi):
                        row[x] |= _LEFT | _RIGHT
                else:
                    lo, hi = min(y0, y1), max(y0, y1)
                    masks[lo][x0] |= _DOWN
                    masks[hi][x0] |= _UP
                    for y in range(lo + 1, hi):
                        masks[y][x0] |= _UP | _DOWN | _PASS
        chars, styles = self.chars, self.styles
        for y, row in enumerate(masks):
            for x, mask in enumerate(row):
                if mask:
                    chars[y][x] = _glyph(mask)
                    styles[y][x] = "edge"
        for points in self.layout.routes.values():
            x, y = points[-1]
            chars[y][x] = ARROW


def _path_edges(path: Sequence[str]) -> set[Edge]:
    return set(pairwise(path))


def draw(layout: DagLayout, statuses: Mapping[str, str], critical_path: Sequence[str] = ()) -> Drawing:
    """Paint a layout: ``statuses`` maps every task to its (derived) status value."""
    drawing = Drawing(layout)
    drawing.set_critical(critical_path)
    for task_id in layout.nodes:
        drawing.paint_node(task_id, statuses[task_id])
    return drawing
