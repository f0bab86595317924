"""Tests of orchestra_tui.graph: hand-made graphs, then properties checked against brute force on random DAGs."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestra_tui.errors import UnknownTaskError
from orchestra_tui.graph import DependencyProblem, TaskGraph, dependency_problems, natural_key
from orchestra_tui.models import PRIORITY_RANK, STORED_STATUSES, AgentTask, ProjectPhase, TaskPriority, TaskStatus

S = TaskStatus


@dataclass
class T:
    task_id: str
    dependencies: list[str] = field(default_factory=list)
    priority: TaskPriority | str = "medium"
    phase: ProjectPhase | str = "development"
    estimated_hours: float = 1.0
    status: TaskStatus | str = "pending"


def graph(*tasks: T) -> TaskGraph:
    return TaskGraph.build(tasks)


def diamond(**statuses: str) -> TaskGraph:
    """A -> {B (2h), C (5h)} -> D (1h), A 1h."""
    return graph(
        T("A", status=statuses.get("A", "pending")),
        T("B", ["A"], estimated_hours=2, status=statuses.get("B", "pending")),
        T("C", ["A"], estimated_hours=5, status=statuses.get("C", "pending")),
        T("D", ["B", "C"], status=statuses.get("D", "pending")),
    )


# ---------------------------------------------------------------------------------------------- natural order


def test_natural_key_orders_numbers_numerically() -> None:
    ids = ["T10", "T2", "T1", "t3", "A-2", "A-10", "T01", "2", "10", "T2b"]
    assert sorted(ids, key=natural_key) == ["2", "10", "A-2", "A-10", "T01", "T1", "T2", "T2b", "t3", "T10"]


# ---------------------------------------------------------------------------------------------- build and statuses


def test_build_derives_ready_and_blocked() -> None:
    g = diamond(A="completed")
    assert [g.status_of(t) for t in "ABCD"] == [S.COMPLETED, S.READY, S.READY, S.BLOCKED]
    assert g.ready() == ["C", "B"]  # same priority: C has the longer remaining path (5+1 vs 2+1)
    assert g.blocked() == ["D"]
    assert len(g) == 4 and "A" in g and "Z" not in g
    assert g.ids() == ["A", "B", "C", "D"]


def test_build_accepts_agent_tasks_and_plain_strings() -> None:
    tasks = [
        AgentTask(id="T1", title="one", status="completed"),
        AgentTask(id="T2", title="two", dependencies=["T1"], priority="high", phase="testing"),
    ]
    g = TaskGraph.build(tasks)
    assert g.next_task() == "T2"
    assert g.next_task(phase=ProjectPhase.TESTING) == "T2"
    assert g.next_task(priority="high") == "T2"
    tasks[1].status = TaskStatus.FAILED  # the graph copied what it needed
    assert g.status_of("T2") is S.READY


def test_build_rejects_invalid_input() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        graph(T("A"), T("A"))
    with pytest.raises(ValueError, match="unknown"):
        graph(T("A", ["B"]))
    with pytest.raises(ValueError, match="itself"):
        graph(T("A", ["A"]))
    with pytest.raises(ValueError, match="cycle"):
        graph(T("A", ["B"]), T("B", ["A"]))
    with pytest.raises(ValueError, match="derived"):
        graph(T("A", status="ready"))
    with pytest.raises(ValueError):
        graph(T("A", priority="urgent"))


def test_counts_cover_every_status() -> None:
    g = graph(
        T("A", status="completed"), T("B", ["A"]), T("C", ["B"]), T("D", status="failed"), T("E", status="review")
    )
    counts = g.counts()
    assert set(counts) == {status.value for status in TaskStatus}
    assert counts == {
        "pending": 0,
        "in_progress": 0,
        "review": 1,
        "completed": 1,
        "failed": 1,
        "cancelled": 0,
        "ready": 1,
        "blocked": 1,
    }
    g.set_status("B", "completed")
    assert g.counts()["ready"] == 1 and g.counts()["blocked"] == 0 and g.counts()["completed"] == 2


def test_completing_makes_exactly_the_fully_satisfied_dependants_ready() -> None:
    g = graph(T("A"), T("B"), T("C", ["A"]), T("D", ["A", "B"]), T("E", ["C"]), T("F", ["A"], status="in_progress"))
    assert g.unblocks("A") == ["C"]
    g.set_status("A", "in_progress")
    g.set_status("A", S.COMPLETED)
    assert g.status_of("C") is S.READY
    assert g.status_of("D") is S.BLOCKED
    assert g.status_of("E") is S.BLOCKED
    assert g.status_of("F") is S.IN_PROGRESS
    assert g.ready() == ["B", "C"]  # both have 2 hours of path (B, D) and (C, E): natural order
    assert g.waiting_on("D") == ["B"]
    assert g.unblocks("B") == ["D"]
    assert g.unblocks("A") == ["C"]  # already completed: the dependants with nothing else to wait for


def test_uncompleting_reblocks_dependants() -> None:
    g = graph(T("A", status="completed"), T("B", ["A"]), T("C", ["A"], status="completed"), T("D", ["C"]))
    assert g.ready() == ["B", "D"]
    g.set_status("A", "pending")
    assert g.status_of("A") is S.READY
    assert g.status_of("B") is S.BLOCKED
    assert g.status_of("C") is S.COMPLETED  # a stored status is kept even if its dependency is reopened
    assert g.status_of("D") is S.READY
    assert g.blocked() == ["B"]


def test_failed_dependency_blocks_and_is_named_by_blockers() -> None:
    g = graph(
        T("A", status="failed"),
        T("B", ["A"]),
        T("C", ["B"]),
        T("X", status="cancelled"),
        T("Y", ["X", "C"]),
        T("R", status="in_progress"),
        T("W", ["R"]),
    )
    assert g.status_of("B") is S.BLOCKED
    assert g.blockers("B") == ["A"]
    assert g.blockers("C") == ["A"]
    assert g.blockers("Y") == ["A", "X"]
    assert g.blockers("W") == []  # only waiting on running work
    assert g.blockers("A") == []  # not blocked itself
    g.set_status("A", "completed")
    assert g.status_of("B") is S.READY and g.blockers("C") == []


def test_set_status_rejects_derived_and_unknown() -> None:
    g = diamond()
    with pytest.raises(ValueError, match="derived"):
        g.set_status("A", "blocked")
    with pytest.raises(UnknownTaskError, match="did you mean 'TASK-001'"):
        graph(T("TASK-001"), T("OTHER")).set_status("TASK-01", "completed")
    with pytest.raises(UnknownTaskError):
        g.status_of("Z")


# ---------------------------------------------------------------------------------------------- next task


def test_next_task_prefers_priority_then_remaining_path_then_natural_id() -> None:
    g = graph(
        T("T10", priority="high"),
        T("T2", priority="high"),
        T("T3", priority="medium", estimated_hours=50),
        T("T4", priority="high", estimated_hours=0.5),
        T("T5", ["T4"], priority="low", estimated_hours=3),  # T4's remaining path is 0.5 + 3
    )
    assert g.next_task() == "T4"
    g.set_status("T4", "in_progress")
    assert g.next_task() == "T2"  # T2 and T10 tie on priority and path: natural order
    assert g.ready() == ["T2", "T10", "T3"]
    assert g.ready(max_count=2) == ["T2", "T10"]
    g.set_status("T2", "review")
    g.set_status("T10", "cancelled")
    assert g.next_task() == "T3"
    assert g.next_task(priority="high") is None


def test_next_task_with_phase_and_priority_filters() -> None:
    g = graph(
        T("A", priority="critical", phase="design"),
        T("B", priority="low", phase="testing"),
        T("C", priority="medium", phase="testing"),
        T("D", ["A"], priority="critical", phase="testing"),
    )
    assert g.next_task() == "A"
    assert g.next_task(phase="testing") == "C"
    assert g.next_task(phase=ProjectPhase.TESTING, priority="low") == "B"
    assert g.next_task(phase="deployment") is None
    assert g.ready(phase="testing") == ["C", "B"]
    assert g.ready(priority=TaskPriority.CRITICAL) == ["A"]
    assert graph().next_task() is None


# ---------------------------------------------------------------------------------------------- paths


def test_remaining_hours_and_critical_path_on_a_diamond() -> None:
    g = diamond()
    assert g.remaining_hours("D") == 1
    assert g.remaining_hours("B") == 3
    assert g.remaining_hours("C") == 6
    assert g.remaining_hours("A") == 7
    assert g.critical_path() == (["A", "C", "D"], 7.0)
    g.set_status("C", "completed")
    assert g.remaining_hours("A") == 4  # completed C no longer counts
    assert g.remaining_hours("C") == 6  # its own path is still defined
    assert g.critical_path() == (["A", "B", "D"], 4.0)
    g.set_status("A", "completed")
    assert g.critical_path() == (["B", "D"], 3.0)
    for task_id in "BD":
        g.set_status(task_id, "completed")
    assert g.critical_path() == ([], 0.0)


def test_critical_path_ties_follow_natural_order() -> None:
    g = graph(T("S10"), T("S2"), T("X", ["S10"]), T("Y", ["S2"]))
    assert g.critical_path() == (["S2", "Y"], 2.0)


def test_remaining_hours_follow_hours_changes_through_completed_ancestors() -> None:
    g = graph(T("A"), T("B", ["A"], status="completed"), T("C", ["B"]), T("D", ["C"], estimated_hours=2))
    assert g.remaining_hours("A") == 1  # B is completed: A's path stops there
    assert g.remaining_hours("B") == 4
    g.upsert(T("D", ["C"], estimated_hours=10))
    assert g.remaining_hours("C") == 11
    assert g.remaining_hours("B") == 12
    assert g.remaining_hours("A") == 1
    g.set_status("B", "pending")
    assert g.remaining_hours("A") == 13


def test_long_chain_has_no_recursion() -> None:
    n = 10_000
    g = TaskGraph.build(T(f"C{i}", [f"C{i - 1}"] if i else []) for i in range(n))
    assert g.next_task() == "C0"
    assert g.remaining_hours("C0") == n
    path, hours = g.critical_path()
    assert len(path) == n and hours == n
    assert g.topological_order()[:3] == ["C0", "C1", "C2"]
    assert len(g.layers()) == n
    g.upsert(T(f"C{n - 1}", [f"C{n - 2}"], estimated_hours=5))
    assert g.remaining_hours("C0") == n + 4
    g.set_status(f"C{n - 2}", "failed")
    assert g.blockers(f"C{n - 1}") == [f"C{n - 2}"]
    assert len(g.ancestors(f"C{n - 1}")) == n - 1
    assert g.counts()["blocked"] == n - 2
    assert dependency_problems((f"C{i}", [f"C{i - 1}"] if i else [f"C{n - 1}"]) for i in range(n))[0].kind == "cycle"


# ---------------------------------------------------------------------------------------------- structure


def test_structure_queries() -> None:
    g = graph(T("T10"), T("T9"), T("T2", ["T10", "T9"]), T("T1", ["T2"]), T("Z"))
    assert g.dependencies("T2") == ["T9", "T10"]
    assert g.dependents("T10") == ["T2"]
    assert g.ancestors("T1") == {"T2", "T9", "T10"}
    assert g.descendants("T9") == {"T2", "T1"}
    assert g.topological_order() == ["T9", "T10", "T2", "T1", "Z"]
    assert g.layers() == [["T9", "T10", "Z"], ["T2"], ["T1"]]


def test_upsert_adds_and_rewires() -> None:
    g = diamond(A="completed")
    g.upsert(T("E", ["D"], priority="critical"))
    assert g.status_of("E") is S.BLOCKED and g.remaining_hours("A") == 8
    g.upsert(T("D", ["B"]))  # no longer waits on C
    assert g.dependencies("D") == ["B"] and g.dependents("C") == []
    assert g.remaining_hours("C") == 5
    g.upsert(T("B", ["A"], estimated_hours=2, status="completed"))
    assert g.status_of("D") is S.READY
    g.upsert(T("D", ["B"], priority="critical"))
    assert g.next_task() == "D"
    g.upsert(T("D", ["B"], priority="low"))
    assert g.next_task() == "C"
    with pytest.raises(ValueError, match="cycle"):
        g.upsert(T("A", ["E"]))
    with pytest.raises(ValueError, match="unknown"):
        g.upsert(T("A", ["nope"]))
    assert g.dependencies("A") == []


def test_remove() -> None:
    g = diamond(A="completed")
    with pytest.raises(ValueError, match="D still depend"):
        g.remove("B")
    g.remove("D")
    assert "D" not in g and len(g) == 3 and g.dependents("B") == []
    assert g.remaining_hours("A") == 6
    assert g.counts()["blocked"] == 0 and g.counts()["ready"] == 2
    with pytest.raises(UnknownTaskError):
        g.remove("D")


# ---------------------------------------------------------------------------------------------- dependency_problems


def test_problems_duplicate_unknown_self() -> None:
    problems = dependency_problems([("A", []), ("B", ["A", "X", "B", "X"]), ("A", ["Y"])])
    assert problems == [
        DependencyProblem("unknown", "B", "X"),
        DependencyProblem("self", "B", "B"),
        DependencyProblem("duplicate", "A", "A"),
        DependencyProblem("unknown", "A", "Y"),
    ]
    assert dependency_problems([("A", []), ("B", ["A"])]) == []


def test_problems_two_cycle_and_three_cycle() -> None:
    assert dependency_problems([("B", ["A"]), ("A", ["B"])]) == [DependencyProblem("cycle", "A", "A -> B -> A")]
    problems = dependency_problems([("C", ["A"]), ("B", ["C"]), ("A", ["B"]), ("D", ["A"])])
    assert problems == [DependencyProblem("cycle", "A", "A -> B -> C -> A")]


def test_problems_two_separate_cycles_and_a_shared_node() -> None:
    problems = dependency_problems([("T10", ["T2"]), ("T2", ["T10"]), ("X", ["Y"]), ("Y", ["Z"]), ("Z", ["X"])])
    assert [p.detail for p in problems] == ["T2 -> T10 -> T2", "X -> Y -> Z -> X"]
    figure_eight = dependency_problems([("A", ["B", "C"]), ("B", ["A"]), ("C", ["A"])])
    assert [p.detail for p in figure_eight] == ["A -> B -> A", "A -> C -> A"]


# ---------------------------------------------------------------------------------------------- properties

STATUSES = [S.PENDING, S.PENDING, S.COMPLETED, S.COMPLETED, S.IN_PROGRESS, S.REVIEW, S.FAILED, S.CANCELLED]
PHASES = [ProjectPhase.DESIGN, ProjectPhase.DEVELOPMENT, ProjectPhase.TESTING]
HOURS = [0.5, 1.0, 2.0, 3.0]


PRIORITIES = list(TaskPriority)


@st.composite
def dags(draw: st.DrawFn, max_n: int = 40) -> list[T]:
    """Tasks in index order whose dependencies all have a lower index; ids are shuffled names.

    One integer per task encodes priority, phase, hours and status: generation dominates the run time.
    """
    n = draw(st.integers(0, max_n))
    names = draw(st.permutations([f"T{i}" for i in range(n)]))
    row = st.tuples(st.lists(st.integers(0, max_n), max_size=4), st.integers(0, 4 * 3 * 4 * 8 - 1))
    rows = draw(st.lists(row, min_size=n, max_size=n))
    tasks = []
    for i, (name, (deps, code)) in enumerate(zip(names, rows, strict=True)):
        code, priority = divmod(code, 4)
        code, phase = divmod(code, 3)
        status, hours = divmod(code, 4)
        dep_ids = list(dict.fromkeys(names[j % i] for j in deps)) if i else []
        tasks.append(T(name, dep_ids, PRIORITIES[priority], PHASES[phase], HOURS[hours], STATUSES[status]))
    return tasks


class Reference:
    """From-scratch, obviously correct versions of the derived values."""

    def __init__(self, tasks: list[T]) -> None:
        self.tasks = {t.task_id: t for t in tasks}
        self.children: dict[str, list[str]] = {t.task_id: [] for t in tasks}
        for t in tasks:
            for dep in t.dependencies:
                self.children[dep].append(t.task_id)
        self.memo: dict[str, float] = {}

    def status(self, task_id: str) -> TaskStatus:
        task = self.tasks[task_id]
        if task.status != S.PENDING:
            return TaskStatus(task.status)
        done = all(self.tasks[d].status == S.COMPLETED for d in task.dependencies)
        return S.READY if done else S.BLOCKED

    def remaining(self, task_id: str) -> float:  # recursion is fine at n <= 40
        if task_id not in self.memo:
            live = [c for c in self.children[task_id] if self.tasks[c].status != S.COMPLETED]
            self.memo[task_id] = self.tasks[task_id].estimated_hours + max(map(self.remaining, live), default=0.0)
        return self.memo[task_id]

    def order(self, task_id: str) -> tuple[int, float, tuple]:
        return -PRIORITY_RANK[self.tasks[task_id].priority], -self.remaining(task_id), natural_key(task_id)

    def ready(self) -> list[str]:
        return sorted((t for t in self.tasks if self.status(t) is S.READY), key=self.order)


def assert_matches(g: TaskGraph, tasks: list[T]) -> None:
    ref = Reference(tasks)
    assert g.ready() == ref.ready()
    for count in (1, 3):  # from the heaps, after any sequence of changes
        assert g.ready(max_count=count) == ref.ready()[:count]
    assert g.next_task() == (ref.ready() or [None])[0]
    expected_counts = dict.fromkeys(TaskStatus, 0)
    for task_id in ref.tasks:
        expected_counts[ref.status(task_id)] += 1
        assert g.status_of(task_id) is ref.status(task_id)
        assert g.remaining_hours(task_id) == ref.remaining(task_id)
    assert g.counts() == expected_counts
    assert g.blocked() == sorted((t for t in ref.tasks if ref.status(t) is S.BLOCKED), key=natural_key)


PROPERTY = settings(max_examples=150, deadline=None)


@PROPERTY
@given(dags(), st.sampled_from([None, *TaskPriority]), st.sampled_from([None, *PHASES]))
def test_next_task_is_the_best_ready_task(
    tasks: list[T], priority: TaskPriority | None, phase: ProjectPhase | None
) -> None:
    g = TaskGraph.build(tasks)
    ref = Reference(tasks)
    ready = [
        t
        for t in ref.ready()
        if (priority is None or ref.tasks[t].priority == priority) and (phase is None or ref.tasks[t].phase == phase)
    ]
    chosen = g.next_task(priority=priority, phase=phase)
    if not ready:
        assert chosen is None
        return
    assert chosen is not None and g.status_of(chosen) is S.READY
    assert all(ref.order(chosen) <= ref.order(t) for t in ready)
    assert g.ready(priority=priority, phase=phase) == ready
    assert g.ready(max_count=3, priority=priority, phase=phase) == ready[:3]


@PROPERTY
@given(dags())
def test_topological_order_and_layers_respect_dependencies(tasks: list[T]) -> None:
    g = TaskGraph.build(tasks)
    order = g.topological_order()
    assert sorted(order) == sorted(t.task_id for t in tasks)
    position = {task_id: i for i, task_id in enumerate(order)}
    layer_of = {task_id: i for i, layer in enumerate(g.layers()) for task_id in layer}
    assert len(layer_of) == len(tasks)
    for t in tasks:
        for dep in t.dependencies:
            assert position[dep] < position[t.task_id]
            assert layer_of[dep] < layer_of[t.task_id]


@PROPERTY
@given(dags())
def test_critical_path_is_a_longest_open_chain(tasks: list[T]) -> None:
    g = TaskGraph.build(tasks)
    ref = Reference(tasks)
    path, hours = g.critical_path()
    open_ids = [t for t in ref.tasks if ref.tasks[t].status != S.COMPLETED]
    assert hours == max((ref.remaining(t) for t in open_ids), default=0.0)
    assert sum(ref.tasks[t].estimated_hours for t in path) == pytest.approx(hours)
    for a, b in itertools.pairwise(path):
        assert a in ref.tasks[b].dependencies and ref.tasks[b].status != S.COMPLETED


@st.composite
def dags_and_changes(draw: st.DrawFn) -> tuple[list[T], list[tuple]]:
    tasks = draw(dags(max_n=25))
    ops: list[tuple] = []
    if tasks:
        index = st.integers(0, len(tasks) - 1)
        op = st.one_of(
            st.tuples(st.just("status"), index, st.sampled_from(STATUSES)),
            st.tuples(
                st.just("upsert"),
                index,
                st.lists(st.integers(0, len(tasks)), max_size=3),
                st.sampled_from(list(TaskPriority)),
                st.sampled_from(PHASES),
                st.sampled_from(HOURS),
                st.sampled_from(STATUSES),
            ),
            st.tuples(st.just("remove"), index),
            st.tuples(st.just("peek"), index),
        )
        ops = draw(st.lists(op, max_size=30))
    return tasks, ops


@PROPERTY
@given(dags_and_changes())
def test_incremental_changes_match_a_fresh_build(case: tuple[list[T], list[tuple]]) -> None:
    tasks, ops = case
    order = [t.task_id for t in tasks]  # dependencies only ever point to an earlier id here
    current: dict[str, T] = {t.task_id: replace(t) for t in tasks}
    g = TaskGraph.build(tasks)
    for op in ops:
        task_id = order[op[1]]
        if op[0] == "peek":  # fill part of the memo so later invalidations start from a mixed state
            if task_id in current:
                g.remaining_hours(task_id)
                g.next_task()
                g.ready(max_count=2)  # and leave entries in the heaps to go stale
        elif op[0] == "status":
            if task_id in current:
                g.set_status(task_id, op[2])
                current[task_id].status = op[2]
        elif op[0] == "remove":
            if task_id in current and not any(task_id in t.dependencies for t in current.values()):
                g.remove(task_id)
                del current[task_id]
        else:
            _, i, deps, priority, phase, hours, status = op
            dep_ids = list(dict.fromkeys(order[j] for j in deps if j < i and order[j] in current))
            new = T(task_id, dep_ids, priority, phase, hours, status)
            g.upsert(new)
            current[task_id] = new
    final = [current[t] for t in order if t in current]
    assert_matches(g, final)
    fresh = TaskGraph.build(final)
    assert g.ready() == fresh.ready() and g.counts() == fresh.counts()
    assert all(g.remaining_hours(t) == fresh.remaining_hours(t) for t in current)


@PROPERTY
@given(dags(), st.data())
def test_dependency_problems_finds_exactly_the_cycles(tasks: list[T], data: st.DataObject) -> None:
    deps = {t.task_id: list(t.dependencies) for t in tasks}
    assert dependency_problems(deps.items()) == []
    if len(tasks) >= 2:
        i = data.draw(st.integers(0, len(tasks) - 2))
        j = data.draw(st.integers(i + 1, len(tasks) - 1))
        deps[tasks[i].task_id].append(tasks[j].task_id)  # may close a cycle through the DAG
    g = nx.DiGraph([(task_id, dep) for task_id, ds in deps.items() for dep in ds])
    problems = dependency_problems(deps.items())
    assert all(p.kind == "cycle" for p in problems)
    assert bool(problems) == (not nx.is_directed_acyclic_graph(g))
    for p in problems:
        path = p.detail.split(" -> ")
        assert path[0] == path[-1] == p.task_id
        assert len(set(path[:-1])) == len(path) - 1
        assert min(path, key=natural_key) == path[0]
        for a, b in itertools.pairwise(path):
            assert b in deps[a]


def test_stored_statuses_are_what_the_strategy_uses() -> None:
    assert set(STATUSES) == STORED_STATUSES


def old_blocked_by(g: TaskGraph) -> dict[str, list[str]]:
    """The report's blockers as it computed them before (one upstream walk per blocked task): the oracle."""
    found = {task_id: g.blockers(task_id) for task_id in g.blocked()}
    return {task_id: blockers for task_id, blockers in found.items() if blockers}


@PROPERTY
@given(dags(max_n=60))
def test_all_blockers_equal_the_walk_per_blocked_task(tasks: list[T]) -> None:
    g = TaskGraph.build(tasks)
    assert g.all_blockers() == old_blocked_by(g)
    assert list(g.all_blockers()) == list(old_blocked_by(g))  # the same order too


def test_all_blockers_through_halted_and_past_completed() -> None:
    g = graph(
        T("A", status="failed"),
        T("B", ["A"], status="cancelled"),
        T("C", ["B"]),
        T("D", status="failed"),
        T("E", ["D"], status="completed"),
        T("F", ["E", "C"]),
        T("G", ["F"], status="in_progress"),
        T("H", ["G"]),
    )
    assert g.all_blockers() == {"C": ["A", "B"], "F": ["A", "B"], "H": ["A", "B"]} == old_blocked_by(g)
