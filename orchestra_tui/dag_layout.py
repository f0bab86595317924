"""The dependency graph drawn on a character grid, Sugiyama style. Pure: no textual, no I/O.

Layers run left to right, a column of boxes per layer. Terminals are wide and short, and a box is 3 rows
high but about 11 cells wide, so columns fit best: the demo (6 layers, at most 4 slots in one) takes 79x15
cells; top to bottom it would need 6 rows of boxes plus 5 routing channels, over 30 rows.

``layout_dag`` (structure only, independent of statuses):
1. layers: topological generations, then a task with more dependants than dependencies moves right, next
   to its earliest dependant (shorter edges: 19% fewer long-edge dummies on the 500-task benchmark plan);
2. an edge spanning several layers gets a one-row dummy in each layer it crosses, drawn as a straight line;
   up to a budget of dummies (``DUMMY_BUDGET``): past it, the longest edges take highways instead, rows
   below every box, shared by edges whose channels do not meet (``_Highways``);
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
"critical"), a row at a time when asked (``Drawing.line``). Where lines cross without joining, the
horizontal one is drawn whole (``│`` above and below a ``─``), so every junction glyph is a real connection.

Speed: long edges dominate big plans. The 2,000-task benchmark plan has 3,440 edges but 33,000 dummies,
and its drawing is 4,900 x 570 cells, most of them horizontal lines. So dummies are entries in flat lists
rather than objects, the work per slot in the sweeps runs in C-level ``map``s, crossings are counted in time
linear in the edges touching a task (``_Proper._crossings``), and only the rows on screen are ever drawn.
Layout time is about linear in tasks plus dummies, and dummies grow as the square of the tasks (an edge far
back spans a share of all the layers: 210,000 at 5,000 tasks, 846,000 at 10,000), hence the budget. The
highways' price is crossings: their lines go down to the band and back (the 5,000-task plan: 26% more).

How to read it: lines branch only where they leave a box, and merge on the way into an arrow; a line
through a layer without a box is one long edge. The one reading this leaves open is a vertical joining two
straight box-to-box lines (rare; the view lights up the selected task's own edges).
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from heapq import heappop, heappush
from itertools import accumulate, chain, compress, pairwise, product, repeat
from operator import add, gt, or_, sub
from typing import Generic, TypeVar

from orchestra_tui.graph import natural_key
from orchestra_tui.statuses import LOOKS, STATUS_MARKS

__all__ = ["DUMMY_BUDGET", "STATUS_STYLES", "DagLayout", "Drawing", "Rect", "draw", "layout_dag"]

# Status -> style key (the widget's component class is "dag--" + key).
STATUS_STYLES = {status: look.dag for status, look in LOOKS.items()}
BOX_HEIGHT = 3
MAX_ID_WIDTH = 24
_SWEEPS = 8
DUMMY_BUDGET = 40_000  # about what a 2,000-task plan needs; layout time is about linear in dummies
_PLACEMENT_PASSES = ("down", "up", "down", "up", "down")

Point = tuple[int, int]
Edge = tuple[str, str]
ProperEdge = tuple[int, int]  # slots of the layered graph, in neighbouring layers
Combined = TypeVar("Combined", int, float)


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
    dummies: int = 0  # in the layered graph
    highways: int = 0  # long edges routed below the boxes

    def node_at(self, x: int, y: int) -> str | None:
        return next((task_id for task_id, rect in self.nodes.items() if rect.contains(x, y)), None)


# ------------------------------------------------------------------------------------------------ layout


def layout_dag(
    ids: Iterable[str], edges: Iterable[Edge], box_width: int | None = None, dummy_budget: int = DUMMY_BUDGET
) -> DagLayout:
    """Lay out a DAG (edges run dependency -> dependant). The result depends only on the ids and edges.

    The layered graph gets at most ``dummy_budget`` dummies: when its edges would need more, the longest
    edges run along highways below the boxes instead (``_Highways``)."""
    ids = sorted(ids, key=natural_key)
    index = {task_id: slot for slot, task_id in enumerate(ids)}  # natural order (a total one)
    edges = sorted(set(edges), key=lambda edge: (index[edge[0]], index[edge[1]]))
    if box_width is None:
        box_width = min(max((len(task_id) for task_id in ids), default=1), MAX_ID_WIDTH) + 4
    layering = _layering(index, edges)
    kept, long_edges = _bound_dummies(edges, layering, dummy_budget)
    graph = _Proper(ids, index, kept, layering)
    graph.order()
    graph.place()
    height = max(map(add, graph.port, graph.below), default=-1) + 1
    highways = _Highways(graph, [(index[source], index[target]) for source, target in long_edges], height + 1)
    channels = [_route_channel(graph, k, highways) for k in range(len(graph.layers) - 1)]
    xs = [0]
    for channel in channels:
        xs.append(xs[-1] + box_width + channel.width)
    height = max([height, highways.bottom, *(channel.extra_height for channel in channels)])
    width = xs[-1] + box_width if ids else 0
    nodes = {
        task_id: Rect(xs[graph.layer[slot]], graph.port[slot] - BOX_HEIGHT // 2, box_width, BOX_HEIGHT)
        for slot, task_id in enumerate(ids)
    }
    routes = _routes(graph, [*kept, *long_edges], highways, channels, xs, box_width)
    layers = tuple(tuple(ids[s] for s in layer if s < graph.n_real) for layer in graph.layers)
    layer_of = {task_id: graph.layer[slot] for slot, task_id in enumerate(ids)}
    dummies = len(graph.layer) - graph.n_real
    return DagLayout(width, height, box_width, nodes, layers, layer_of, routes, dummies, len(long_edges))


def _bound_dummies(edges: list[Edge], layer: dict[str, int], budget: int) -> tuple[list[Edge], list[Edge]]:
    """The edges the layered graph keeps (in their order) and, longest first, those that would take it over
    ``budget`` dummies (an edge spanning s layers needs s - 1)."""
    spans = [layer[target] - layer[source] - 1 for source, target in edges]
    excess = sum(spans) - budget
    if excess <= 0:
        return edges, []
    longest = sorted(range(len(edges)), key=lambda number: -spans[number])  # stable: ties in edge order
    moved: set[int] = set()
    for number in longest:
        if excess <= 0:
            break
        moved.add(number)
        excess -= spans[number]
    kept = [edge for number, edge in enumerate(edges) if number not in moved]
    return kept, [edges[number] for number in sorted(moved)]


class _Highways:
    """Long edges routed below the boxes, so they take no dummy in the layers they pass.

    Edge j leaves its source (slot ``ends[j][0]``, layer a) through a track in channel a down to its own row,
    runs along it, and comes up through a track in channel b - 1 into its target (layer b). Rows start at
    ``base`` (below every box) and are shared by edges whose channel spans [a, b - 1] do not meet: interval
    partitioning, so as many rows as edges over the busiest channel.
    """

    def __init__(self, graph: _Proper, ends: list[ProperEdge], base: int) -> None:
        self.ends = ends
        self.starting: dict[int, list[int]] = {}  # channel -> highways turning down into their row there
        self.ending: dict[int, list[int]] = {}  # channel -> highways turning up out of it
        self.span = [(graph.layer[source], graph.layer[target] - 1) for source, target in ends]  # channels
        self.row = [0] * len(ends)
        free: list[int] = []  # rows whose last edge ended, as a heap
        busy: list[tuple[int, int]] = []  # (last channel, row) of the rows in use, as a heap
        for number in sorted(range(len(ends)), key=self.span.__getitem__):
            first, last = self.span[number]
            while busy and busy[0][0] < first:
                heappush(free, heappop(busy)[1])
            row = heappop(free) if free else len(busy)
            heappush(busy, (last, row))
            self.row[number] = base + row
            self.starting.setdefault(first, []).append(number)
            self.ending.setdefault(last, []).append(number)
        self.bottom = max(self.row, default=-1) + 1

    def tracks(self, port: list[int], k: int) -> Iterator[tuple[ProperEdge, Track]]:
        """Channel k's highway tracks, keyed (source, ~j) going down and (~j, target) coming up."""
        for number in self.starting.get(k, ()):
            source = self.ends[number][0]
            yield (source, ~number), (port[source], self.row[number], ("s", source), ("h", number))
        for number in self.ending.get(k, ()):
            target = self.ends[number][1]
            yield (~number, target), (self.row[number], port[target], ("h", number), ("t", target))

    def rows_across(self, k: int) -> set[int]:
        """The rows highways hold in channel k (a dogleg there must keep off them)."""
        return {row for (first, last), row in zip(self.span, self.row, strict=True) if first <= k <= last}


def _generations(index: dict[str, int], edges: list[Edge]) -> list[list[str]]:
    """Topological generations (networkx's, without importing networkx at start-up: ~90 ms of first paint)."""
    children: dict[str, list[str]] = {task_id: [] for task_id in index}
    waiting = dict.fromkeys(index, 0)
    for dep, task_id in edges:
        children[dep].append(task_id)
        waiting[task_id] += 1
    layer = [task_id for task_id, count in waiting.items() if not count]
    generations = []
    while layer:
        generations.append(layer)
        following = []
        for task_id in layer:
            for child in children[task_id]:
                waiting[child] -= 1
                if not waiting[child]:
                    following.append(child)
        layer = following
    return generations


def _layering(index: dict[str, int], edges: list[Edge]) -> dict[str, int]:
    generations = [sorted(generation, key=index.__getitem__) for generation in _generations(index, edges)]
    layer = {task_id: index for index, generation in enumerate(generations) for task_id in generation}
    succ: dict[str, dict[str, None]] = {task_id: {} for task_id in index}
    pred: dict[str, dict[str, None]] = {task_id: {} for task_id in index}
    for dep, task_id in edges:
        succ[dep][task_id] = pred[task_id][dep] = None
    for generation in reversed(generations):  # dependants are final before their dependencies move
        for task_id in generation:
            children = succ[task_id]
            if len(children) > len(pred[task_id]):
                layer[task_id] = min(layer[child] for child in children) - 1
    return layer


class _Proper:
    """The layered graph with dummies: slots 0..n_real-1 are the tasks (in ``ids`` order), the rest dummies.

    Long edges make dummies the bulk of it (16 per task on the 2,000-task benchmark plan). So a dummy is no
    object of its own, only entries in flat lists of ints (``layer``, ``up``, ``down``): that keeps the
    garbage collector's work small, and lets the per-slot work of the sweeps run as C-level ``map``s over
    index lists (``_Gather``, ``_number``) rather than as Python loops.
    """

    def __init__(self, ids: list[str], index: dict[str, int], edges: list[Edge], layer_of: dict[str, int]) -> None:
        self.n_real = len(ids)
        self.layer = [layer_of[task_id] for task_id in ids]
        preds: list[list[int]] = [[] for _ in ids]  # a task's neighbours, dependency side
        succs: list[list[int]] = [[] for _ in ids]  # and dependant side
        self.up = [-1] * len(ids)  # a dummy's neighbours (exactly one each way); -1 for a task
        self.down = [-1] * len(ids)
        self.edges = edges
        self.ends = [(index[source], index[target]) for source, target in edges]  # slots
        self.edge_of: list[int] = [-1] * len(ids)  # per dummy, the edge it carries (an index into edges)
        self.first_hop: dict[ProperEdge, int] = {}  # the edge of each proper edge leaving a task
        n_layers = max(self.layer, default=-1) + 1
        # For _crossings, per pair of neighbouring layers: the sources and targets of the edges that touch a
        # task, and the stops: the slots that are not relays (dummies whose line goes on to a dummy) above,
        # not relayed to below; that is the tasks and the dummies next to one.
        self._task_edges: list[tuple[list[int], list[int]]] = [([], []) for _ in range(max(n_layers - 1, 0))]
        self._stops: list[tuple[list[int], list[int]]] = [([], []) for _ in range(max(n_layers - 1, 0))]
        for number, (source, target) in enumerate(self.ends):
            crossed = range(self.layer[source] + 1, self.layer[target])
            first = len(self.layer)
            chain = [source, *range(first, first + len(crossed)), target]
            self.layer.extend(crossed)
            self.up.extend(chain[:-2])
            self.down.extend(chain[2:])
            self.edge_of.extend([number] * len(crossed))
            succs[source].append(chain[1])
            preds[target].append(chain[-2])
            self.first_hop[(source, chain[1])] = number
            if crossed:  # the edge's first dummy follows a task, its last leads into one
                self._stops[crossed[0] - 1][1].append(chain[1])
                self._stops[crossed[-1]][0].append(chain[-2])
                sources, targets = self._task_edges[crossed[-1]]
                sources.append(chain[-2])
                targets.append(target)
        for slot, successors in enumerate(succs):
            layer = self.layer[slot]
            if successors:
                sources, targets = self._task_edges[layer]
                sources.extend([slot] * len(successors))
                targets.extend(successors)
            if layer < n_layers - 1:
                self._stops[layer][0].append(slot)
            if layer > 0:
                self._stops[layer - 1][1].append(slot)
        self.preds = list(map(tuple, preds))  # tuples of ints, which the garbage collector soon stops tracking
        self.succs = list(map(tuple, succs))
        self.layers: list[list[int]] = [[] for _ in range(n_layers)]
        for slot, layer in enumerate(self.layer):
            self.layers[layer].append(slot)
        self.pos = [0] * len(self.layer)
        self.port = [0] * len(self.layer)
        n_dummies = len(self.layer) - self.n_real  # rows a slot takes above and below its port: a dummy is a line
        self.above = [BOX_HEIGHT // 2] * self.n_real + [0] * n_dummies
        self.below = [BOX_HEIGHT - 1 - BOX_HEIGHT // 2] * self.n_real + [0] * n_dummies

    def successors(self, slot: int) -> Sequence[int]:
        return self.succs[slot] if slot < self.n_real else (self.down[slot],)

    def _sweep(self, down: bool) -> Iterator[tuple[int, list[int]]]:
        """The layers a sweep visits, in order: down from the second, or up from the last but one."""
        indexes = range(1, len(self.layers)) if down else range(len(self.layers) - 2, -1, -1)
        return ((k, self.layers[k]) for k in indexes)

    # -- crossing reduction -------------------------------------------------------------------------------

    def order(self) -> None:
        """Barycenter sweeps (down by dependencies, up by dependants); the best order seen wins."""
        pos = self.pos
        _number(pos, self.layers)
        best, best_layers = self._crossings(), [list(layer) for layer in self.layers]
        gathers = _Gather(self, True, _mean), _Gather(self, False, _mean)
        for sweep in range(_SWEEPS):
            if best == 0:
                break
            down = sweep % 2 == 0
            gather = gathers[0] if down else gathers[1]
            for k, layer in self._sweep(down):
                keys = list(map(float, gather(pos, pos, k)))  # one type: sorting ints and floats mixed is 3x slower
                self.layers[k] = layer = list(map(layer.__getitem__, sorted(range(len(layer)), key=keys.__getitem__)))
                _number(pos, [layer])
            crossings = self._crossings()
            if crossings < best:
                best, best_layers = crossings, [list(layer) for layer in self.layers]
        self.layers = best_layers
        _number(pos, self.layers)

    def _crossings(self) -> int:
        """Crossings between each pair of neighbouring layers, in time about linear in the edges that touch a
        task rather than in all edges (most of which are a dummy's line going on to the next dummy).

        Those relay lines never cross each other: at first every layer lists its dummies in the order their
        edges were made, and afterwards a sweep sorts each dummy by the distinct position of its one
        neighbour. So the relays split the gap between the layers into lanes, and an edge from lane i to
        lane j crosses |i - j| of them; an end's lane is its position less the number of stops (slots that
        are not relays) before it. The few edges that touch a task are counted among themselves by
        inversions.
        """
        read = self.pos.__getitem__
        total = 0
        for (sources, targets), (above, below) in zip(self._task_edges, self._stops, strict=True):
            xs, ys = list(map(read, sources)), list(map(read, targets))
            total += _inversions([y for _, y in sorted(zip(xs, ys, strict=True))])
            stops_above, stops_below = sorted(map(read, above)), sorted(map(read, below))
            lanes_from = map(sub, xs, map(bisect_left, repeat(stops_above), xs))
            lanes_to = map(sub, ys, map(bisect_left, repeat(stops_below), ys))
            total += sum(map(abs, map(sub, lanes_from, lanes_to)))
        return total

    # -- rows ----------------------------------------------------------------------------------------------

    def place(self) -> None:
        """Rows: start stacked, then passes pulling each layer towards its neighbours' median rows."""
        offsets = [self._offsets(layer) for layer in self.layers]  # the order is final
        port = self.port
        for layer, layer_offsets in zip(self.layers, offsets, strict=True):
            top = self.above[layer[0]] if layer else 0
            _scatter(port, layer, [top + offset for offset in layer_offsets])
        gathers = _Gather(self, True, _median_low), _Gather(self, False, _median_low)
        for direction in _PLACEMENT_PASSES:
            down = direction == "down"
            gather = gathers[0] if down else gathers[1]
            for k, layer in self._sweep(down):
                _scatter(port, layer, _fit_rows(gather(port, self.pos, k), offsets[k]))
        top = min(map(sub, port, self.above), default=0)
        self.port = [row - top for row in port]

    def _offsets(self, layer: list[int]) -> list[int]:
        """Each slot's least distance in rows from the layer's first slot (its row when stacked from 0).

        Port rows apart: one, plus what the slots take below and above their ports, plus a blank row next to
        a box (dummy lines may touch each other)."""
        boxes = list(map(self.n_real.__gt__, layer))
        gaps = map(
            sum,
            zip(
                repeat(1),
                map(self.below.__getitem__, layer),
                map(or_, boxes, boxes[1:]),
                map(self.above.__getitem__, layer[1:]),
            ),
        )
        return list(accumulate(gaps, initial=0))


class _Gather(Generic[Combined]):
    """Per slot of a layer, its neighbours' values combined (mean position, lower median row), in bulk.

    A dummy has one neighbour each way, so its value is just that neighbour's: a C-level ``map`` reads
    ``values[source[slot]]`` for the whole layer, where ``source`` is the only neighbour, or the slot itself
    when it has none (it stays put). The few slots with several neighbours are then combined one by one.
    """

    def __init__(self, graph: _Proper, down: bool, combine: Callable[[Iterable[int], int], Combined]) -> None:
        """``down``: combine the dependencies' values (else the dependants')."""
        self.layers = graph.layers
        self.combine: Callable[[Iterable[int], int], Combined] = combine
        self.source = list(graph.up if down else graph.down)
        self.several: dict[int, list[tuple[int, tuple[int, ...]]]] = {}  # per layer: (slot, neighbours)
        for slot, around in enumerate(graph.preds if down else graph.succs):
            self.source[slot] = around[0] if len(around) == 1 else slot
            if len(around) > 1:
                self.several.setdefault(graph.layer[slot], []).append((slot, around))

    def __call__(self, values: list[int], pos: list[int], k: int) -> list[int | Combined]:
        """The combined values for layer ``k``'s slots in its order (``pos`` numbers the slots in it)."""
        out: list[int | Combined] = list(map(values.__getitem__, map(self.source.__getitem__, self.layers[k])))
        for slot, around in self.several.get(k, ()):
            out[pos[slot]] = self.combine(map(values.__getitem__, around), len(around))
        return out


def _mean(values: Iterable[int], count: int) -> float:
    return sum(values) / count


def _median_low(values: Iterable[int], count: int) -> int:
    """``statistics.median_low`` without its checks."""
    return sorted(values)[(count - 1) // 2]


def _scatter(values: list[int], slots: list[int], new: Iterable[int]) -> None:
    """``values[slots[i]] = new[i]`` for every i, in C (the deque consumes the map, keeping nothing)."""
    deque(map(values.__setitem__, slots, new), maxlen=0)


def _number(pos: list[int], layers: Iterable[list[int]]) -> None:
    """Each slot's position in its layer."""
    for layer in layers:
        _scatter(pos, layer, range(len(layer)))


def _inversions(values: list[int]) -> int:
    """Pairs i < j with values[i] > values[j], by insertion into a sorted list: a C-level memmove per value
    is faster in Python than a Fenwick tree for the few dozen values (task edges) between two layers."""
    seen: list[int] = []
    count = 0
    for index, value in enumerate(values):
        at = bisect_right(seen, value)
        count += index - at
        seen.insert(at, value)
    return count


def _fit_rows(desired: list[int], offsets: list[int]) -> list[int]:
    """Rows as close to ``desired`` as possible (least squares) with row[i] - row[j] >= offsets[i] - offsets[j]
    for i > j (a layer's slots keep their order and least separations).

    Shifting row i by its offset turns the constraints into "non-decreasing", which pool adjacent violators
    solves exactly; rounding a non-decreasing sequence keeps it non-decreasing. Pooling goes a run (a
    non-decreasing stretch) at a time: only the values that undercut the last block are pooled one by one,
    the rest of the run is taken whole; with no run boundary at all the desired rows are the answer.
    """
    targets = list(map(sub, desired, offsets))
    descents = list(compress(range(1, len(targets)), map(gt, targets, targets[1:])))
    if not descents:
        return desired
    means: list[float] = []  # the blocks, each a mean and a count
    counts: list[int] = []
    for start, end in pairwise([0, *descents, len(targets)]):  # runs: non-decreasing stretches of targets
        at = start
        while at < end and means and means[-1] > targets[at]:  # pool this run's values that undercut the last block
            mean, count = targets[at], 1
            while means and means[-1] > mean:
                previous, weight = means.pop(), counts.pop()
                mean, count = (previous * weight + mean * count) / (weight + count), weight + count
            means.append(mean)
            counts.append(count)
            at += 1
        means.extend(targets[at:end])  # the rest of the run is in order: blocks of one
        counts.extend(repeat(1, end - at))
    rounded = map(math.floor, map(add, means, repeat(0.5)))
    return list(map(add, chain.from_iterable(map(repeat, rounded, counts)), offsets))


# ------------------------------------------------------------------------------------------------ routing


Net = tuple[str, int]
# One vertical segment in a channel: (out_row, in_row, out_net, in_net), from the row it turns off from to the
# row it turns into. Its nets name what each end joins: ("s", slot) a source's outgoing line, ("t", slot) a
# target's incoming line, ("m", n) the horizontal of dogleg n. A plain tuple: big channels have hundreds,
# and the garbage collector stops tracking tuples of ints and strings.
Track = tuple[int, int, Net, Net]


@dataclass
class _Channel:
    width: int  # tracks + the arrow column
    tracks: dict[ProperEdge, tuple[tuple[int, int, int], ...]]  # (column, out_row, in_row) per track of a
    # proper edge: two for a dogleg, none when straight
    extra_height: int  # rows the doglegs need (0 when they fit in the drawing)


def _route_channel(graph: _Proper, k: int, highways: _Highways) -> _Channel:
    port = graph.port
    left, right = graph.layers[k], graph.layers[k + 1]
    bent = [(a, b) for a in left for b in graph.successors(a) if port[a] != port[b]]
    tracks: dict[ProperEdge, tuple[Track, ...]] = {(a, b): ((port[a], port[b], ("s", a), ("t", b)),) for a, b in bent}
    tracks.update((key, (track,)) for key, track in highways.tracks(port, k))
    constraints = _constraints(tracks)
    cyclic = _cyclic_edges(tracks, constraints)  # never a highway's: nothing else turns off or into its row
    dogleg_rows: set[int] = set()
    busy = {port[s] for s in left} | {port[s] for s in right}
    if cyclic:
        busy |= highways.rows_across(k)
    for a, b in cyclic:
        row = _free_row(busy, (port[a] + port[b]) // 2)
        busy.add(row)
        dogleg_rows.add(row)
        key = ("m", len(dogleg_rows))
        tracks[(a, b)] = ((port[a], row, ("s", a), key), (row, port[b], key, ("t", b)))
    if cyclic:
        constraints = _constraints(tracks, dogleg_rows)
    items = [track for parts in tracks.values() for track in parts]
    count, columns = _pack(items, constraints)
    placed = [(column, out_row, in_row) for column, (out_row, in_row, _, _) in zip(columns, items, strict=True)]
    by_edge, at = {}, 0
    for edge, parts in tracks.items():
        by_edge[edge] = tuple(placed[at : at + len(parts)])
        at += len(parts)
    return _Channel(count + 1, by_edge, max(dogleg_rows, default=-1) + 1)


def _constraints(
    tracks: Mapping[ProperEdge, tuple[Track, ...]], dogleg_rows: AbstractSet[int] = frozenset()
) -> list[tuple[int, int]]:
    """(a, b), numbering the tracks in order: a's column must be left of b's, because a turns off a row that
    b turns into. A dogleg's row is its own: its first part comes down (or up) left of where its second part
    leaves."""
    leaving: dict[int, list[int]] = {}
    entering: dict[int, list[int]] = {}
    pairs = []
    number = 0
    for parts in tracks.values():
        if len(parts) == 2:
            pairs.append((number, number + 1))
        for out_row, in_row, _, _ in parts:
            if out_row not in dogleg_rows:
                leaving.setdefault(out_row, []).append(number)
            if in_row not in dogleg_rows:
                entering.setdefault(in_row, []).append(number)
            number += 1
    for row, outs in leaving.items():
        pairs.extend(product(outs, entering.get(row, ())))  # never a track with itself: its two rows differ
    return pairs


def _cyclic_edges(
    tracks: Mapping[ProperEdge, tuple[Track, ...]], constraints: list[tuple[int, int]]
) -> list[ProperEdge]:
    """The edges on a cycle of constraints (one track per edge here). Most channels have none, which a
    topological sort proves quickly."""
    stuck = _unordered(len(tracks), constraints)
    if not stuck:
        return []
    import networkx as nx  # only for a channel whose constraints have a cycle

    owner = list(tracks)
    vcg: nx.DiGraph[int] = nx.DiGraph()  # the cycles are among the tracks a topological sort could not order
    vcg.add_edges_from((a, b) for a, b in constraints if a in stuck and b in stuck)
    return sorted(
        owner[track] for component in nx.strongly_connected_components(vcg) if len(component) > 1 for track in component
    )


def _unordered(size: int, pairs: list[tuple[int, int]]) -> set[int]:
    """The nodes 0..size-1 that Kahn's algorithm cannot order under the pairs (a before b): those on a
    cycle and after one. Empty when there is no cycle."""
    after: list[list[int]] = [[] for _ in range(size)]
    waiting = [0] * size
    for a, b in pairs:
        after[a].append(b)
        waiting[b] += 1
    free = [node for node in range(size) if waiting[node] == 0]
    while free:
        for node in after[free.pop()]:
            waiting[node] -= 1
            if waiting[node] == 0:
                free.append(node)
    return {node for node in range(size) if waiting[node]}


def _free_row(busy: set[int], near: int) -> int:
    for distance in range(len(busy) + 2):
        for row in (near - distance, near + distance):
            if row >= 0 and row not in busy:
                return row
    raise AssertionError("unreachable: fewer busy rows than candidates")


def _pack(items: list[Track], constraints: list[tuple[int, int]]) -> tuple[int, list[int]]:
    """Assign columns left-edge first under the turning constraints (pairs of indexes into ``items``);
    returns the number of columns and each track's column.

    Two tracks share a column when their rows do not meet, or meet only at their common source's row (a
    source fanning out up and down). Not at a common target's row: the column would then join two sources.

    Each column takes, by top row, every track no constraint holds back that starts below the last one
    taken; a bisection finds the next, so a column costs about what it places rather than all that is left.
    """
    ends = [
        (out_row, in_row, out_net, in_net) if out_row < in_row else (in_row, out_row, in_net, out_net)
        for out_row, in_row, out_net, in_net in items
    ]
    by_top = sorted(range(len(items)), key=lambda i: ends[i][:2])  # the left-edge order; a rank is an index here
    top, bottom, top_net, bottom_net = (
        map(list, zip(*map(ends.__getitem__, by_top), strict=True)) if items else ([], [], [], [])
    )
    rank = {index: r for r, index in enumerate(by_top)}
    after: list[list[int]] = [[] for _ in items]
    waiting = [0] * len(items)
    for a, b in constraints:
        after[rank[a]].append(rank[b])
        waiting[rank[b]] += 1
    ready = [r for r in range(len(items)) if waiting[r] == 0]  # ranks, so ascending tops
    column_of = [-1] * len(items)
    unplaced, column = len(items), 0
    while unplaced:
        if not ready:
            raise AssertionError("the turning constraints are cyclic")  # _cyclic_edges removed every cycle
        placed: list[int] = []
        at = 0
        while at < len(ready):
            last = ready[at]
            column_of[by_top[last]] = column
            placed.append(last)
            end, net = bottom[last], bottom_net[last]
            at = bisect_left(ready, end, at + 1, key=top.__getitem__)
            # Meeting at the row where the last one ends is fine only for a line from the same source.
            while at < len(ready) and top[ready[at]] == end and not (top_net[ready[at]] == net and net[0] == "s"):
                at += 1
        unplaced -= len(placed)
        taken = set(placed)
        released = [b for r in placed for b in after[r] if _release(waiting, b)]
        ready = sorted([r for r in ready if r not in taken] + released)
        column += 1
    return column, column_of


def _release(waiting: list[int], rank: int) -> bool:
    """One constraint on the track fewer; whether that was its last."""
    waiting[rank] -= 1
    return waiting[rank] == 0


def _routes(
    graph: _Proper,
    edges: list[Edge],
    highways: _Highways,
    channels: list[_Channel],
    xs: list[int],
    box_width: int,
) -> dict[Edge, tuple[Point, ...]]:
    """Every edge's corner points (``edges``: the layered graph's, then the highways'). They are gathered
    channel by channel, left to right (so in order along each edge), from the bent stretches only: a straight
    one is in line with whatever follows it."""
    port, layer = graph.port, graph.layer
    ends = [*graph.ends, *highways.ends]
    lines = [[(xs[layer[source]] + box_width - 1, port[source])] for source, _ in ends]
    first_highway = len(graph.ends)
    for k, channel in enumerate(channels):
        first = xs[k] + box_width
        for (a, b), parts in channel.tracks.items():
            if b < 0 or a < 0:
                line = lines[first_highway + ~min(a, b)]
            else:
                line = lines[graph.edge_of[a] if a >= graph.n_real else graph.first_hop[(a, b)]]
            for column, out_row, in_row in parts:
                line.append((first + column, out_row))
                line.append((first + column, in_row))
    routes = {}
    for edge, (_, target), line in zip(edges, ends, lines, strict=True):
        line.append((xs[layer[target]] - 1, port[target]))
        routes[edge] = tuple(_corners(line))
    return routes


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
    _LEFT: "─",
    _RIGHT: "─",
    _LEFT | _RIGHT: "─",
    _UP: "│",
    _DOWN: "│",
    _UP | _DOWN: "│",
    _DOWN | _RIGHT: "┌",
    _DOWN | _LEFT: "┐",
    _UP | _RIGHT: "└",
    _UP | _LEFT: "┘",
    _UP | _DOWN | _RIGHT: "├",
    _UP | _DOWN | _LEFT: "┤",
    _DOWN | _LEFT | _RIGHT: "┬",
    _UP | _LEFT | _RIGHT: "┴",
    _UP | _DOWN | _LEFT | _RIGHT: "┼",
}
ARROW = "▶"


def _glyph(mask: int) -> str:
    if mask & _PASS:
        # A vertical passing straight through, so anything horizontal here crosses it (a junction would need
        # the vertical to turn). The horizontal line is drawn whole: it is the one heading for an arrow.
        return "─" if mask & (_LEFT | _RIGHT) else "│"
    return _GLYPHS[mask]


_GLYPH_OF = [_glyph(mask) for mask in range(2 * _PASS)]  # by mask, so a row is one C-level map
_LINE_STYLE = ["", *["edge"] * (2 * _PASS - 1)]
_BAND = 16  # rows per bucket of the vertical-segment index
_LONG = 8  # bands a vertical spans at most to be indexed in each


class Drawing:
    """A painted layout, drawn a row at a time on demand (``line``): the widget asks only for what is on the
    screen, so a big graph costs nothing to draw up front.

    Rows are computed from indexes of the line segments by row and column, whatever their length (a
    2,000-task graph is about 4,900 x 570 cells, most of them long horizontal lines). Tasks' statuses and
    the critical path can be repainted (``paint_node``, ``set_critical``); the lines only change with a new
    layout.
    """

    def __init__(self, layout: DagLayout, titles: Mapping[str, str] | None = None) -> None:
        self.layout = layout
        self.titles = titles or {}  # shown after the id in boxes wide enough
        self.width, self.height = layout.width, layout.height
        self.statuses: dict[str, str] = {}
        self.critical: tuple[str, ...] = ()
        self._sources = {source for source, _ in layout.routes}
        self._horizontals: dict[int, list[tuple[int, int]]] = {}  # row -> (left, right) of each horizontal
        self._verticals: dict[int, list[tuple[int, int]]] = {}  # column -> (top, bottom) of each vertical
        bands: list[list[tuple[int, int, int]]] = [[] for _ in range(self.height // _BAND + 1)]
        tall: list[tuple[int, int, int]] = []  # the verticals over _LONG bands, indexed by column only
        self._arrows: dict[int, list[int]] = {}  # row -> columns
        for points in layout.routes.values():
            for (x0, y0), (x1, y1) in pairwise(points):
                if y0 == y1:
                    self._horizontals.setdefault(y0, []).append((x0, x1))  # routes never run backwards
                else:
                    top, bottom = (y0, y1) if y0 < y1 else (y1, y0)
                    self._verticals.setdefault(x0, []).append((top, bottom))
                    first_band, last_band = top // _BAND, bottom // _BAND
                    if last_band - first_band >= _LONG:  # a highway's way down: one entry, not one per band
                        tall.append((x0, top, bottom))
                        continue
                    for index in range(first_band, last_band + 1):
                        bands[index].append((x0, top, bottom))
            x, y = points[-1]
            self._arrows.setdefault(y, []).append(x)
        for band in bands:
            band.sort()
        self._bands = [([x for x, _, _ in band], band) for band in bands]  # (columns, segments) by column
        tall.sort()
        self._tall = ([x for x, _, _ in tall], tall)
        self._boxes: dict[int, list[str]] = {}  # row -> tasks with a box on it
        for task_id, rect in layout.nodes.items():
            for y in range(rect.y, rect.y + rect.height):
                self._boxes.setdefault(y, []).append(task_id)
        self._box_art: dict[str, tuple[list[str], str, str]] = {}  # task -> its rows, border style, status style
        self._critical_runs: dict[int, list[tuple[int, int]]] = {}  # row -> (first, last) columns on the path

    def line(self, y: int, start: int = 0, end: int | None = None) -> tuple[str, list[str]]:
        """Row ``y`` from column ``start`` to ``end`` (the drawing's width by default): its characters and a
        style key per cell (a status key, "edge", "critical", or "" for background)."""
        end = self.width if end is None else min(end, self.width)
        if not 0 <= y < self.height or start >= end:
            return "", []
        masks = [0] * (end - start)
        for left, right in self._horizontals.get(y, ()):  # _RIGHT on [left, right), _LEFT on (left, right]
            for first, last, bit in ((left, right - 1, _RIGHT), (left + 1, right, _LEFT)):
                a, b = max(first, start) - start, min(last, end - 1) - start + 1
                if a < b:
                    masks[a:b] = map(or_, masks[a:b], repeat(bit))
        for columns, segments in (self._bands[y // _BAND], self._tall):
            for x, top, bottom in segments[bisect_left(columns, start) : bisect_left(columns, end)]:
                if top <= y <= bottom:
                    masks[x - start] |= _DOWN if y == top else _UP if y == bottom else _UP | _DOWN | _PASS
        chars = list(map(_GLYPH_OF.__getitem__, masks))
        styles = list(map(_LINE_STYLE.__getitem__, masks))
        for x in self._arrows.get(y, ()):
            if start <= x < end:
                chars[x - start] = ARROW
        for first, last in self._critical_runs.get(y, ()):
            a, b = max(first, start) - start, min(last, end - 1) - start + 1
            if a < b:
                styles[a:b] = ["critical"] * (b - a)
        for task_id in self._boxes.get(y, ()):
            if task_id in self._box_art:
                self._paint_box(task_id, y, start, end, chars, styles)
        return "".join(chars), styles

    def _paint_box(self, task_id: str, y: int, start: int, end: int, chars: list[str], styles: list[str]) -> None:
        rect = self.layout.nodes[task_id]
        if rect.x + rect.width <= start or rect.x >= end:
            return
        rows, border, style = self._box_art[task_id]
        cells = [border] * rect.width
        if y == rect.port_y:
            cells[1:-1] = [style] * (rect.width - 2)
        a, b = max(rect.x, start), min(rect.x + rect.width, end)
        chars[a - start : b - start] = rows[y - rect.y][a - rect.x : b - rect.x]
        styles[a - start : b - start] = cells[a - rect.x : b - rect.x]

    def route_cells(self, edge: Edge) -> Iterator[Point]:
        """The cells of an edge's line after the source's border, except where its vertical passes under another
        edge's horizontal line."""
        for y, first, last in self._route_runs(edge):
            for x in range(first, last + 1):
                yield x, y

    def _route_runs(self, edge: Edge) -> Iterator[tuple[int, int, int]]:
        """``route_cells`` as runs (row, first column, last column): a horizontal is one run."""
        for (x0, y0), (x1, y1) in pairwise(self.layout.routes[edge]):
            if y0 == y1:
                yield y0, x0 + 1, x1  # routes never run backwards
            else:
                step = 1 if y1 > y0 else -1
                for y in range(y0 + step, y1 + step, step):
                    if not self._crossed(x0, y):
                        yield y, x0, x0

    def _crossed(self, x: int, y: int) -> bool:
        """Whether a vertical passes straight through cell (x, y) and a horizontal line is drawn across it."""
        return any(top < y < bottom for top, bottom in self._verticals.get(x, ())) and any(
            left <= x <= right for left, right in self._horizontals.get(y, ())
        )

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
        title = self.titles.get(task_id, "")
        if title and len(label) + 3 <= inner:  # room for a space and a word's start at least
            label = f"{label} {title}"
        if len(label) > inner:
            label = label[: inner - 1] + "…"
        rows = ["┌" + "─" * inner + "┐", "│" + label.ljust(inner) + "│", "└" + "─" * inner + "┘"]
        if task_id in self._sources:
            rows[1] = rows[1][:-1] + "├"
        self._box_art[task_id] = (rows, border, style)

    def set_critical(self, path: Sequence[str]) -> None:
        """Highlight the critical path's edges and box borders, un-highlighting the previous path."""
        self._critical_runs = {}
        for edge in _path_edges(path):
            for y, first, last in self._route_runs(edge):
                self._critical_runs.setdefault(y, []).append((first, last))
        changed = set(self.critical) ^ set(path)
        self.critical = tuple(path)
        for task_id in changed:
            if task_id in self.statuses:
                self.paint_node(task_id, self.statuses[task_id])


def _path_edges(path: Sequence[str]) -> set[Edge]:
    return set(pairwise(path))


def draw(
    layout: DagLayout,
    statuses: Mapping[str, str],
    critical_path: Sequence[str] = (),
    titles: Mapping[str, str] | None = None,
) -> Drawing:
    """Paint a layout: ``statuses`` maps every task to its (derived) status value; ``titles`` (optional) are
    written after the ids in boxes wider than their id."""
    drawing = Drawing(layout, titles)
    drawing.set_critical(critical_path)
    for task_id in layout.nodes:
        drawing.paint_node(task_id, statuses[task_id])
    return drawing
