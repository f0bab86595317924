"""The dependency graph of a plan (docs/ARCHITECTURE.md C2). Pure: no I/O.

Edges run dependency -> dependant in two adjacency dicts (``_succ``, ``_pred``: insertion-ordered, so the
results do not depend on hash order). networkx is imported only to name cycles in a broken plan: loading it
costs ~90 ms, a third of a short command. On top of the edges ``TaskGraph`` keeps, per task, the
number of dependencies not completed (so READY/BLOCKED follow from one status change by touching only the
dependants), an index of ready tasks by priority, status counts, and lazily memoised remaining critical paths.
Everything is iterative: chains 10,000 long must not hit the recursion limit.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterable, Sequence
from itertools import islice
from typing import Literal, NamedTuple, Protocol, TypeVar

from orchestra_tui.errors import UnknownTaskError
from orchestra_tui.models import PRIORITY_RANK, STORED_STATUSES, ProjectPhase, TaskPriority, TaskStatus

__all__ = ["DependencyProblem", "GraphTask", "TaskGraph", "dependency_problems", "family_dependencies", "natural_key"]

_COMPLETED = TaskStatus.COMPLETED
_PENDING = TaskStatus.PENDING
_READY = TaskStatus.READY
_BLOCKED = TaskStatus.BLOCKED
_HALTED = frozenset({TaskStatus.FAILED, TaskStatus.CANCELLED})
_RANKS_DESC = sorted(set(PRIORITY_RANK.values()), reverse=True)
# A strongly connected component can hold exponentially many cycles; a person fixing the plan needs a few.
_MAX_CYCLES_PER_COMPONENT = 10

NaturalKey = tuple[tuple[str | int, ...], str]
_DIGITS = re.compile(r"(\d+)")


def natural_key(task_id: str) -> NaturalKey:
    """Sort key putting "T2" before "T10". Digit runs compare as numbers, text case-insensitively.

    ``re.split`` with a capturing group alternates text and digits starting with text, so the chunks at the
    same position always have the same type and never compare str with int. The raw id breaks remaining
    ties ("T01" vs "T1", "a" vs "A") so the order is total.
    """
    parts = _DIGITS.split(task_id)
    return tuple(int(part) if i % 2 else part.casefold() for i, part in enumerate(parts)), task_id


class GraphTask(Protocol):
    """What the graph reads from a task; ``AgentTask`` satisfies it."""

    @property
    def task_id(self) -> str: ...
    @property
    def dependencies(self) -> list[str]: ...
    @property
    def priority(self) -> TaskPriority | str: ...
    @property
    def phase(self) -> ProjectPhase | str: ...
    @property
    def estimated_hours(self) -> float: ...
    @property
    def status(self) -> TaskStatus | str: ...


class DependencyProblem(NamedTuple):
    kind: Literal["duplicate", "unknown", "self", "parent", "cycle"]
    task_id: str
    """The task whose ``dependencies`` (kind "parent": ``parent``) field is at fault (for a cycle: its first node)."""
    detail: str
    """unknown/self/parent: the offending id; cycle: the path "A -> B -> C -> A"; duplicate: the id."""


def family_dependencies(entries: Iterable[tuple[str, Sequence[str], str | None]]) -> dict[str, list[str]]:
    """Each task's dependencies with those its place among subtasks implies: a parent waits for every subtask
    (so it cannot complete before them, and its dependants wait for the whole of it), and a subtask waits for
    what its ancestors wait for (but never for itself or its own subtasks). Unknown parents are ignored here
    (the validators report them); a parent chain that loops is followed once around."""
    own: dict[str, list[str]] = {}
    parent_of: dict[str, str] = {}
    for task_id, deps, parent in entries:
        own.setdefault(task_id, []).extend(deps)
        if parent:
            parent_of[task_id] = parent
    parent_of = {child: parent for child, parent in parent_of.items() if parent in own and parent != child}
    result = {task_id: list(deps) for task_id, deps in own.items()}
    for child, parent in parent_of.items():
        result[parent].append(child)
        chain: list[str] = [child]
        node: str | None = parent
        while node is not None and node not in chain:
            chain.append(node)
            node = parent_of.get(node)
        for ancestor in chain[1:]:
            result[child].extend(dep for dep in own[ancestor] if not _descends(dep, child, parent_of))
    return {task_id: list(dict.fromkeys(deps)) for task_id, deps in result.items()}


def _descends(task_id: str, ancestor: str, parent_of: dict[str, str]) -> bool:
    """True when ``task_id`` is ``ancestor`` or one of its subtasks, at any depth."""
    seen: set[str] = set()
    node: str | None = task_id
    while node is not None and node not in seen:
        if node == ancestor:
            return True
        seen.add(node)
        node = parent_of.get(node)
    return False


def dependency_problems(
    deps: Iterable[tuple[str, Sequence[str]]], parents: dict[str, str] | None = None
) -> list[DependencyProblem]:
    """Every structural problem of a plan's dependencies, in a deterministic order.

    Per entry in file order: a repeated id (reported once, where it first repeats), then its unknown and self
    dependencies (each pair once), then an unknown or self ``parent`` (kind "parent"). Then cycles, sorted,
    counting the edges ``parents`` imply (:func:`family_dependencies`); each is printed following the dependency
    direction (task -> its dependency) and rotated to start at its smallest id. Edges of duplicate entries are merged.
    """
    entries = [(task_id, list(dependencies)) for task_id, dependencies in deps]
    known = {task_id for task_id, _ in entries}
    problems: list[DependencyProblem] = []
    seen: set[str] = set()
    duplicates: set[str] = set()
    edges: dict[str, dict[str, None]] = {}  # task -> its known dependencies (an ordered set), self-loops left out
    for task_id, dependencies in entries:
        if task_id in seen and task_id not in duplicates:
            duplicates.add(task_id)
            problems.append(DependencyProblem("duplicate", task_id, task_id))
        seen.add(task_id)
        out = edges.setdefault(task_id, {})
        for dep in dict.fromkeys(dependencies):
            if dep == task_id:
                problems.append(DependencyProblem("self", task_id, dep))
            elif dep not in known:
                problems.append(DependencyProblem("unknown", task_id, dep))
            else:
                out[dep] = None
        parent = (parents or {}).get(task_id)
        if parent is not None and (parent == task_id or parent not in known):
            problems.append(DependencyProblem("parent", task_id, parent))
    if parents:
        family = family_dependencies((task_id, list(out), parents.get(task_id)) for task_id, out in edges.items())
        edges = {task_id: dict.fromkeys(deps) for task_id, deps in family.items()}
    problems.extend(DependencyProblem("cycle", cycle[0], " -> ".join([*cycle, cycle[0]])) for cycle in _cycles(edges))
    return problems


def _cycles(edges: dict[str, dict[str, None]]) -> list[list[str]]:
    # Peel nodes nothing depends on with plain dicts first (Kahn): an acyclic plan of 10,000 tasks is settled
    # in a few ms, and networkx only sees the knot that is left (the cycles and what they depend on).
    indegree = dict.fromkeys(edges, 0)
    for out in edges.values():
        for dep in out:
            indegree[dep] += 1
    free = [node for node, degree in indegree.items() if degree == 0]
    while free:
        node = free.pop()
        del indegree[node]
        for dep in edges[node]:
            indegree[dep] -= 1
            if indegree[dep] == 0:
                free.append(dep)
    if not indegree:
        return []
    import networkx as nx  # only a broken plan pays for it

    knot: nx.DiGraph[str] = nx.DiGraph()
    knot.add_nodes_from(indegree)
    knot.add_edges_from((node, dep) for node in indegree for dep in edges[node] if dep in indegree)
    cycles: list[list[str]] = []
    for component in nx.strongly_connected_components(knot):
        if len(component) > 1:
            for cycle in islice(nx.simple_cycles(knot.subgraph(component)), _MAX_CYCLES_PER_COMPONENT):
                start = min(range(len(cycle)), key=lambda i: natural_key(cycle[i]))
                cycles.append(cycle[start:] + cycle[:start])
    cycles.sort(key=lambda cycle: [natural_key(node) for node in cycle])
    return cycles


# Members by value: StrEnum members hash like their values, so a dict lookup accepts either and is many
# times faster than calling the enum (which matters when building 10,000 tasks).
_E = TypeVar("_E", TaskStatus, TaskPriority, ProjectPhase)
_STATUSES: dict[str, TaskStatus] = {status.value: status for status in TaskStatus}
_PRIORITIES: dict[str, TaskPriority] = {priority.value: priority for priority in TaskPriority}
_PHASES: dict[str, ProjectPhase] = {phase.value: phase for phase in ProjectPhase}


def _member(members: dict[str, _E], value: _E | str, enum: type[_E]) -> _E:
    if isinstance(value, enum):  # a member hashes by its name, so it would miss the by-value lookup
        return value
    found = members.get(value)
    return found if found is not None else enum(value)  # the call raises the usual ValueError


def _union(sets: Iterable[frozenset[str]]) -> frozenset[str]:
    """The union of ``sets``, reusing the largest one when the others add nothing (so chains share one set)."""
    sets = list(sets)
    if not sets:
        return frozenset()
    largest = max(sets, key=len)
    extra = [other for other in sets if other is not largest and not other <= largest]
    return largest.union(*extra) if extra else largest


def _stored_status(status: TaskStatus | str) -> TaskStatus:
    value = _member(_STATUSES, status, TaskStatus)
    if value not in STORED_STATUSES:
        raise ValueError(f"status {value.value!r} is derived from dependencies and cannot be set; use 'pending'")
    return value


class TaskGraph:
    """The plan's tasks as a DAG with incrementally maintained scheduling state.

    Derived status: a ``pending`` task is READY when every dependency is completed, else BLOCKED; any other
    stored status is reported as is. Remaining hours of a task: its hours plus the largest remaining hours
    among its not-completed dependants (completed dependants count as 0).
    """

    def __init__(self) -> None:
        self._succ: dict[str, dict[str, None]] = {}  # task -> dependants
        self._pred: dict[str, dict[str, None]] = {}  # task -> dependencies
        self._key: dict[str, NaturalKey] = {}
        self._rank: dict[str, int] = {}
        self._phase: dict[str, ProjectPhase] = {}
        self._hours: dict[str, float] = {}
        self._status: dict[str, TaskStatus] = {}
        self._open: dict[str, int] = {}  # dependencies not completed
        self._derived: dict[str, TaskStatus] = {}
        self._members: dict[TaskStatus, set[str]] = {status: set() for status in TaskStatus}
        self._ready_by_rank: dict[int, set[str]] = {rank: set() for rank in _RANKS_DESC}
        # Per rank, a heap of (-remaining hours, natural key, id) of ready tasks, for the first few in next-task
        # order without sorting them all (the scheduler asks after every run). Entries go stale (the task is no
        # longer ready, changed rank or remaining hours) and are dropped when met. Invariant: every ready task
        # has an entry matching its memo, or is in ``_unheaped``.
        self._heaps: dict[int, list[tuple[float, NaturalKey, str]]] = {rank: [] for rank in _RANKS_DESC}
        self._unheaped: set[str] = set()
        self._remaining: dict[str, float] = {}  # memo; a missing id is stale
        self._family: dict[str, tuple[str | None, list[str]]] = {}  # subtasks and parents: (parent, own dependencies)
        # Invariant: a stale task that is not completed has only stale dependencies, since their values
        # include its own. So invalidation can stop at a task already stale.

    # ----------------------------------------------------------------- building and changing

    @classmethod
    def build(cls, tasks: Iterable[GraphTask]) -> TaskGraph:
        """A graph of validated tasks (unique ids, known dependencies, no cycles); raises ValueError otherwise."""
        graph = cls()
        tasks = list(tasks)
        fields = [graph._read(task) for task in tasks]
        parents = {task.task_id: parent for task in tasks if (parent := getattr(task, "parent", None))}
        if parents:
            fields = graph._with_family(fields, parents)
        for task_id, _, rank, phase, hours, status in fields:
            if task_id in graph._status:
                raise ValueError(f"duplicate task id {task_id!r}")
            graph._store(task_id, rank, phase, hours, status)
        graph._succ = {task_id: {} for task_id in graph._status}
        graph._pred = {task_id: {} for task_id in graph._status}
        for task_id, deps, *_ in fields:
            graph._check_known(task_id, deps)
            graph._add_edges(task_id, deps)
        order = graph._kahn()
        if len(order) < len(graph._status):
            raise ValueError("the dependencies contain a cycle; check them with dependency_problems()")
        status_of = graph._status
        for task_id in order:
            graph._open[task_id] = sum(status_of[dep] is not _COMPLETED for dep in graph._pred[task_id])
            graph._refresh(task_id)
        remaining = graph._remaining
        for task_id in reversed(order):
            remaining[task_id] = graph._hours[task_id] + max(
                (remaining[child] for child in graph._succ[task_id] if status_of[child] is not _COMPLETED), default=0.0
            )
        return graph

    def upsert(self, task: GraphTask) -> None:
        """Add a task, or replace an existing one's dependencies, priority, phase, hours and status.

        Raises ValueError for an unknown or self dependency or one that would close a cycle (nothing changes).
        """
        task_id, deps, rank, phase, hours, status = self._read(task)
        parent = getattr(task, "parent", None)
        if parent or task_id in self._family:
            if self._family.get(task_id) != (parent, deps):
                raise ValueError(
                    f"task {task_id!r}: changing a subtask's or a parent's dependencies or parent needs TaskGraph.build"
                )
            deps = list(self._pred[task_id])  # unchanged, with what the family implies
        self._check_known(task_id, deps)
        if task_id not in self._status:
            self._succ[task_id], self._pred[task_id] = {}, {}
            self._add_edges(task_id, deps)
            self._store(task_id, rank, phase, hours, status)
            self._open[task_id] = sum(self._status[dep] is not _COMPLETED for dep in deps)
            self._refresh(task_id)
            if status is not _COMPLETED:
                self._invalidate(deps)
            return
        old_deps = set(self._pred[task_id])
        new_deps = set(deps)
        added = new_deps - old_deps
        closing = sorted(added & self._reach(task_id, self._succ), key=natural_key) if added else []
        if closing:
            raise ValueError(f"task {task_id!r} depending on {closing[0]!r} would close a cycle")
        old_rank = self._rank[task_id]
        if rank != old_rank:
            self._rank[task_id] = rank
            if task_id in self._ready_by_rank[old_rank]:
                self._ready_by_rank[old_rank].discard(task_id)
                self._ready_by_rank[rank].add(task_id)
                self._unheaped.add(task_id)
        self._phase[task_id] = phase
        self.set_status(task_id, status)
        if new_deps != old_deps:
            for dep in old_deps - new_deps:
                del self._succ[dep][task_id], self._pred[task_id][dep]
            self._add_edges(task_id, added)
            self._open[task_id] = sum(self._status[dep] is not _COMPLETED for dep in new_deps)
            if status is not _COMPLETED:
                self._invalidate(old_deps ^ new_deps)
            self._refresh(task_id)
        if hours != self._hours[task_id]:
            self._hours[task_id] = hours
            self._invalidate((task_id,))

    def remove(self, task_id: str) -> None:
        """Remove a task nothing depends on any more (ValueError otherwise: drop the references first)."""
        self._require(task_id)
        if self._succ[task_id]:
            names = ", ".join(sorted(self._succ[task_id], key=natural_key))
            raise ValueError(f"cannot remove {task_id!r}: {names} still depend(s) on it")
        if self._status[task_id] is not _COMPLETED:
            self._invalidate(self._pred[task_id])
        derived = self._derived.pop(task_id)
        self._members[derived].discard(task_id)
        self._ready_by_rank[self._rank[task_id]].discard(task_id)
        for dep in self._pred.pop(task_id):
            del self._succ[dep][task_id]
        del self._succ[task_id]
        for table in (self._key, self._rank, self._phase, self._hours, self._status, self._open, self._remaining):
            table.pop(task_id, None)

    def set_status(self, task_id: str, status: TaskStatus | str) -> None:
        """Store a status (not READY/BLOCKED: ValueError). Touches only the task, its dependants and, for
        remaining hours, the ancestors whose memo it invalidates."""
        self._require(task_id)
        new = _stored_status(status)
        old = self._status[task_id]
        if new is old:
            return
        self._status[task_id] = new
        if (old is _COMPLETED) != (new is _COMPLETED):
            delta = -1 if new is _COMPLETED else 1
            for child in self._succ[task_id]:
                self._open[child] += delta
                self._refresh(child)
            self._invalidate(self._pred[task_id])
        self._refresh(task_id)

    # ----------------------------------------------------------------- scheduling queries

    def status_of(self, task_id: str) -> TaskStatus:
        self._require(task_id)
        return self._derived[task_id]

    def counts(self) -> dict[str, int]:
        """Tasks per derived status; every TaskStatus is a key, and PENDING is always 0."""
        return {status: len(members) for status, members in self._members.items()}

    def ready(
        self,
        max_count: int | None = None,
        priority: TaskPriority | str | None = None,
        phase: ProjectPhase | str | None = None,
    ) -> list[str]:
        """Ready ids in next-task order, optionally only one priority / phase, at most ``max_count``."""
        if max_count is not None and phase is None:
            return self._first_ready(max_count, self._ranks(priority))
        ids = [task_id for rank in self._ranks(priority) for task_id in self._ready_in(rank, phase)]
        self._fill(ids)
        rank, remaining, key = self._rank, self._remaining, self._key

        def order(task_id: str) -> tuple[int, float, NaturalKey]:
            return -rank[task_id], -remaining[task_id], key[task_id]

        if max_count is not None:
            return heapq.nsmallest(max_count, ids, key=order)
        return sorted(ids, key=order)

    def _first_ready(self, count: int, ranks: list[int]) -> list[str]:
        """The first ``count`` ready tasks of these ranks in next-task order: O(count log n) from the heaps."""
        if self._unheaped:
            waiting = [task_id for task_id in self._unheaped if self._derived.get(task_id) is _READY]
            self._unheaped.clear()
            self._fill(waiting)
            for task_id in waiting:
                heapq.heappush(
                    self._heaps[self._rank[task_id]], (-self._remaining[task_id], self._key[task_id], task_id)
                )
        found: list[str] = []
        for rank in ranks:
            heap, kept = self._heaps[rank], []
            while heap and len(found) < count:
                entry = heapq.heappop(heap)
                task_id = entry[2]
                if (
                    self._derived.get(task_id) is _READY
                    and self._rank[task_id] == rank
                    and self._remaining.get(task_id) == -entry[0]
                    and task_id not in found
                ):
                    found.append(task_id)
                    kept.append(entry)
            for entry in kept:
                heapq.heappush(heap, entry)
            if len(heap) > 2 * len(self._ready_by_rank[rank]) + 64:  # mostly stale entries: start it again
                self._unheaped |= self._ready_by_rank[rank]
                heap.clear()
                return self._first_ready(count, ranks)
            if len(found) >= count:
                break
        return found

    def next_task(
        self, priority: TaskPriority | str | None = None, phase: ProjectPhase | str | None = None
    ) -> str | None:
        """The ready task to run next: highest priority, then longest remaining critical path, then natural id."""
        for rank in self._ranks(priority):
            ids = self._ready_in(rank, phase)
            if ids:
                self._fill(ids)
                remaining = self._remaining
                longest = max(map(remaining.__getitem__, ids))
                return min((task_id for task_id in ids if remaining[task_id] == longest), key=self._key.__getitem__)
        return None

    def blocked(self) -> list[str]:
        return sorted(self._members[_BLOCKED], key=natural_key)

    def remaining_hours(self, task_id: str) -> float:
        """This task's hours plus the longest chain of hours among its not-completed dependants."""
        self._require(task_id)
        self._fill((task_id,))
        return self._remaining[task_id]

    def critical_path(self) -> tuple[list[str], float]:
        """The longest chain of not-completed tasks (by hours), in execution order, and its total hours."""
        status, remaining, key = self._status, self._remaining, self._key
        starts = [task_id for task_id, count in self._open.items() if count == 0 and status[task_id] is not _COMPLETED]
        if not starts:
            return [], 0.0
        self._fill(starts)

        def order(task_id: str) -> tuple[float, NaturalKey]:
            return -remaining[task_id], key[task_id]

        node = min(starts, key=order)
        path = [node]
        while children := [child for child in self._succ[node] if status[child] is not _COMPLETED]:
            node = min(children, key=order)
            path.append(node)
        return path, remaining[path[0]]

    def unblocks(self, task_id: str) -> list[str]:
        """Pending dependants whose every other dependency is completed: ready once this task is completed."""
        self._require(task_id)
        others_open = 0 if self._status[task_id] is _COMPLETED else 1
        found = [
            child
            for child in self._succ[task_id]
            if self._status[child] is _PENDING and self._open[child] == others_open
        ]
        return sorted(found, key=natural_key)

    def blockers(self, task_id: str) -> list[str]:
        """For a BLOCKED task, the failed or cancelled tasks upstream (through not-completed tasks) that keep it
        blocked until someone retries them; empty when it only waits on pending or running work."""
        self._require(task_id)
        if self._derived[task_id] is not _BLOCKED:
            return []
        status = self._status
        found: list[str] = []
        seen: set[str] = set()
        stack = [dep for dep in self._pred[task_id] if status[dep] is not _COMPLETED]
        while stack:
            node = stack.pop()
            if node in seen:
                continue
            seen.add(node)
            if status[node] in _HALTED:
                found.append(node)
            stack.extend(dep for dep in self._pred[node] if status[dep] is not _COMPLETED and dep not in seen)
        return sorted(found, key=natural_key)

    def all_blockers(self) -> dict[str, list[str]]:
        """:meth:`blockers` of every BLOCKED task that has some, in one pass: O(tasks + edges) plus the answer's size.

        Only the tasks downstream of a failed or cancelled task (through not-completed tasks) are visited, in
        topological order; each one's set is shared with its dependency's when it adds nothing.
        """
        status, succ, pred = self._status, self._succ, self._pred
        halted = list(self._members[TaskStatus.FAILED] | self._members[TaskStatus.CANCELLED])
        reach: set[str] = set()
        stack = list(halted)
        while stack:  # everything a halted task's being halted travels to
            node = stack.pop()
            for child in succ[node]:
                if child not in reach and status[child] is not _COMPLETED:
                    reach.add(child)
                    stack.append(child)
        waiting = {node: sum(dep in reach for dep in pred[node]) for node in reach}
        upstream: dict[str, frozenset[str]] = {node: frozenset() for node in halted}
        ready = [node for node in halted if node not in reach] + [node for node, count in waiting.items() if not count]
        while ready:
            node = ready.pop()
            if node in reach:
                upstream[node] = _union(
                    upstream[dep] | {dep} if status[dep] in _HALTED else upstream[dep]
                    for dep in pred[node]
                    if dep in upstream and status[dep] is not _COMPLETED
                )
            for child in succ[node]:
                if child in reach:
                    waiting[child] -= 1
                    if not waiting[child]:
                        ready.append(child)
        ordered: dict[frozenset[str], list[str]] = {}
        return {
            task_id: list(ordered.get(found) or ordered.setdefault(found, sorted(found, key=natural_key)))
            for task_id in self.blocked()
            if (found := upstream.get(task_id))
        }

    def waiting_on(self, task_id: str) -> list[str]:
        """Direct dependencies not completed."""
        self._require(task_id)
        return sorted((dep for dep in self._pred[task_id] if self._status[dep] is not _COMPLETED), key=natural_key)

    # ----------------------------------------------------------------- structure

    def topological_order(self) -> list[str]:
        """Dependencies first; among the tasks available at each step, the smallest in natural order."""
        key = self._key
        waiting = {task_id: len(deps) for task_id, deps in self._pred.items()}
        free = [(key[task_id], task_id) for task_id, count in waiting.items() if not count]
        heapq.heapify(free)
        order = []
        while free:
            task_id = heapq.heappop(free)[1]
            order.append(task_id)
            for child in self._succ[task_id]:
                waiting[child] -= 1
                if not waiting[child]:
                    heapq.heappush(free, (key[child], child))
        return order

    def layers(self) -> list[list[str]]:
        """Topological generations (layer 0: no dependencies), each in natural order."""
        waiting = {task_id: len(deps) for task_id, deps in self._pred.items()}
        layer = [task_id for task_id, count in waiting.items() if not count]
        layers = []
        while layer:
            layers.append(sorted(layer, key=natural_key))
            following = []
            for task_id in layer:
                for child in self._succ[task_id]:
                    waiting[child] -= 1
                    if not waiting[child]:
                        following.append(child)
            layer = following
        return layers

    def dependencies(self, task_id: str) -> list[str]:
        self._require(task_id)
        return sorted(self._pred[task_id], key=natural_key)

    def dependents(self, task_id: str) -> list[str]:
        self._require(task_id)
        return sorted(self._succ[task_id], key=natural_key)

    def ancestors(self, task_id: str) -> set[str]:
        """Every task this one depends on, directly or not."""
        self._require(task_id)
        return self._reach(task_id, self._pred)

    def descendants(self, task_id: str) -> set[str]:
        """Every task that depends on this one, directly or not."""
        self._require(task_id)
        return self._reach(task_id, self._succ)

    def ids(self) -> list[str]:
        """All ids in natural order."""
        return sorted(self._status, key=natural_key)

    def __contains__(self, task_id: object) -> bool:
        return task_id in self._status

    def __len__(self) -> int:
        return len(self._status)

    # ----------------------------------------------------------------- internals

    @staticmethod
    def _read(task: GraphTask) -> tuple[str, list[str], int, ProjectPhase, float, TaskStatus]:
        return (
            task.task_id,
            list(dict.fromkeys(task.dependencies)),
            PRIORITY_RANK[_member(_PRIORITIES, task.priority, TaskPriority)],
            _member(_PHASES, task.phase, ProjectPhase),
            float(task.estimated_hours),
            _stored_status(task.status),
        )

    def _with_family(
        self, fields: list[tuple[str, list[str], int, ProjectPhase, float, TaskStatus]], parents: dict[str, str]
    ) -> list[tuple[str, list[str], int, ProjectPhase, float, TaskStatus]]:
        """``fields`` with each task's dependencies as :func:`family_dependencies` gives them."""
        own = {task_id: deps for task_id, deps, *_ in fields}
        for child, parent in parents.items():
            if parent == child or parent not in own:
                raise ValueError(f"task {child!r} has unknown parent {parent!r}")
        family = family_dependencies((task_id, deps, parents.get(task_id)) for task_id, deps, *_ in fields)
        members = set(parents) | set(parents.values())
        self._family = {task_id: (parents.get(task_id), own[task_id]) for task_id in members}
        return [(task_id, family[task_id], *rest) for task_id, _, *rest in fields]  # type: ignore[misc]  # mypy types a star-unpacked rest as tuple[object, ...]

    def _add_edges(self, task_id: str, deps: Iterable[str]) -> None:
        pred = self._pred[task_id]
        for dep in deps:
            self._succ[dep][task_id] = None
            pred[dep] = None

    def _kahn(self) -> list[str]:
        """A topological order (dependencies first); shorter than the graph when there is a cycle."""
        waiting = {task_id: len(deps) for task_id, deps in self._pred.items()}
        order = [task_id for task_id, count in waiting.items() if not count]
        for task_id in order:  # grows while it is read
            for child in self._succ[task_id]:
                waiting[child] -= 1
                if not waiting[child]:
                    order.append(child)
        return order

    @staticmethod
    def _reach(task_id: str, edges: dict[str, dict[str, None]]) -> set[str]:
        """Every task reachable from ``task_id`` along ``edges`` (not itself)."""
        found: set[str] = set()
        stack = [task_id]
        while stack:
            for node in edges[stack.pop()]:
                if node not in found:
                    found.add(node)
                    stack.append(node)
        return found

    def children(self, task_id: str) -> list[str]:
        """The task's direct subtasks, in natural order."""
        self._require(task_id)
        return sorted((child for child, (parent, _) in self._family.items() if parent == task_id), key=natural_key)

    def _store(self, task_id: str, rank: int, phase: ProjectPhase, hours: float, status: TaskStatus) -> None:
        self._key[task_id] = natural_key(task_id)
        self._rank[task_id] = rank
        self._phase[task_id] = phase
        self._hours[task_id] = hours
        self._status[task_id] = status

    def _check_known(self, task_id: str, deps: list[str]) -> None:
        for dep in deps:
            if dep == task_id:
                raise ValueError(f"task {task_id!r} depends on itself")
            if dep not in self._status:
                raise ValueError(f"task {task_id!r} depends on unknown task {dep!r}")

    def _require(self, task_id: str) -> None:
        if task_id not in self._status:
            raise UnknownTaskError(task_id, self._status)

    def _refresh(self, task_id: str) -> None:
        """Recompute one task's derived status and move it between the indexes if it changed."""
        status = self._status[task_id]
        if status is _PENDING:
            status = _READY if self._open[task_id] == 0 else _BLOCKED
        old = self._derived.get(task_id)
        if status is old:
            return
        if old is not None:
            self._members[old].discard(task_id)
        self._members[status].add(task_id)
        self._derived[task_id] = status
        bucket = self._ready_by_rank[self._rank[task_id]]
        if status is _READY:
            bucket.add(task_id)
            self._unheaped.add(task_id)
        else:
            bucket.discard(task_id)

    def _ranks(self, priority: TaskPriority | str | None) -> list[int]:
        return _RANKS_DESC if priority is None else [PRIORITY_RANK[_member(_PRIORITIES, priority, TaskPriority)]]

    def _ready_in(self, rank: int, phase: ProjectPhase | str | None) -> list[str]:
        bucket = self._ready_by_rank[rank]
        if phase is None:
            return list(bucket)
        wanted = _member(_PHASES, phase, ProjectPhase)
        phase_of = self._phase
        return [task_id for task_id in bucket if phase_of[task_id] is wanted]

    def _invalidate(self, task_ids: Iterable[str]) -> None:
        """Drop the memo of these tasks and of every ancestor whose value depends on them."""
        remaining, status, pred = self._remaining, self._status, self._pred
        stack = list(task_ids)
        while stack:
            node = stack.pop()
            if remaining.pop(node, None) is None:
                continue  # already stale, and so (by the invariant) is everything above it that cares
            if self._derived.get(node) is _READY:
                self._unheaped.add(node)
            if status[node] is not _COMPLETED:  # a completed task's dependencies ignore it
                stack.extend(pred[node])

    def _fill(self, task_ids: Iterable[str]) -> None:
        """Compute the memo of these tasks (and what they need), depth first on an explicit stack."""
        remaining, status, succ, hours = self._remaining, self._status, self._succ, self._hours
        for task_id in task_ids:
            if task_id in remaining:
                continue
            stack = [task_id]
            while stack:
                node = stack[-1]
                if node in remaining:
                    stack.pop()
                    continue
                missing = [child for child in succ[node] if status[child] is not _COMPLETED and child not in remaining]
                if missing:
                    stack.extend(missing)
                    continue
                stack.pop()
                remaining[node] = hours[node] + max(
                    (remaining[child] for child in succ[node] if status[child] is not _COMPLETED), default=0.0
                )
