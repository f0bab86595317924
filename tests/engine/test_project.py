"""The engine's actions on a real project directory: transitions, plan sync, rollback, undo, report."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestra_tui.engine import Project
from orchestra_tui.errors import PlanError, TransitionError, UnknownEntryError, UnknownTaskError
from orchestra_tui.models import TaskStatus

from ..helpers.plans import task_block, write_plan

SEED_KEYS = {
    "project_id",
    "total_tasks",
    "completed_tasks",
    "in_progress_tasks",
    "pending_tasks",
    "blocked_tasks",
    "failed_tasks",
    "completion_percentage",
    "estimated_total_hours",
    "estimated_remaining_hours",
    "next_task",
    "timestamp",
}


@pytest.fixture
def chain(tmp_path: Path) -> Project:
    """A -> B -> D, A -> C -> D, and a loose task E."""
    write_plan(
        tmp_path,
        task_block("A", estimated_hours=2.0)
        + task_block("B", ["A"], priority="high")
        + task_block("C", ["A"], estimated_hours=5.0)
        + task_block("D", ["B", "C"])
        + task_block("E", priority="low"),
    )
    project = Project.open(tmp_path, actor="cli")
    yield project
    project.close()


def statuses(project: Project) -> dict[str, str]:
    return {task_id: project.status_of(task_id).value for task_id in sorted(project.tasks)}


def test_open_adds_plan_tasks_in_one_entry(chain: Project) -> None:
    entries = chain.history()
    assert [e.action for e in entries] == ["plan"]
    assert entries[0].summary.endswith("5 added, 0 changed, 0 removed")
    assert statuses(chain) == {"A": "ready", "B": "blocked", "C": "blocked", "D": "blocked", "E": "ready"}
    assert all(task.origin == "plan" for task in chain.tasks.values())


def test_reopening_an_unchanged_plan_writes_nothing(chain: Project, tmp_path: Path) -> None:
    chain.close()
    again = Project.open(tmp_path)
    assert len(again.history()) == 1
    again.close()


def test_lifecycle_and_timestamps(chain: Project) -> None:
    chain.start("A")
    task = chain.task("A")
    assert task.status == TaskStatus.IN_PROGRESS and task.attempts == 1 and task.started_at.tzinfo is not None
    chain.complete("A")
    task = chain.task("A")
    assert (
        task.status == TaskStatus.COMPLETED and task.completed_at >= task.started_at and task.actual_hours is not None
    )
    assert statuses(chain)["B"] == "ready" and statuses(chain)["C"] == "ready"


def test_next_task_prefers_priority_then_critical_path(chain: Project) -> None:
    assert chain.next_task().task_id == "A"  # medium, longest path (2 + 5 + 1) beats E (low)
    chain.complete("A")
    assert chain.next_task().task_id == "B"  # high beats C's longer path
    chain.complete("B")
    assert chain.next_task().task_id == "C"
    assert chain.next_task(priority="low").task_id == "E"
    assert chain.next_task(phase="testing") is None


def test_complete_refused_while_dependencies_are_open(chain: Project) -> None:
    with pytest.raises(
        TransitionError, match=r"cannot complete D: it depends on tasks not completed: B \(blocked\), C \(blocked\)"
    ):
        chain.complete("D")
    assert len(chain.history()) == 1


@pytest.mark.parametrize(
    ("setup", "action", "message"),
    [
        ([("complete", "A")], ("complete", "A"), "A is already completed"),
        ([("cancel", "A")], ("complete", "A"), "cannot complete A: it is cancelled"),
        ([("cancel", "A")], ("cancel", "A"), "cannot cancel A: it is cancelled"),
        ([("complete", "A")], ("fail", "A", "x"), "cannot fail A: it is completed"),
        ([], ("retry", "A"), "cannot retry A: it is pending"),
        ([("start", "A")], ("start", "A"), "cannot start A: it is in_progress"),
        ([], ("start", "B"), "cannot start B: it depends on tasks not completed: A"),
    ],
)
def test_refused_transitions_write_nothing(chain: Project, setup: list, action: tuple, message: str) -> None:
    for name, *args in setup:
        getattr(chain, name)(*args)
    before = len(chain.history())
    with pytest.raises(TransitionError, match=message):
        getattr(chain, action[0])(*action[1:])
    assert len(chain.history()) == before


def test_unknown_task_suggests_a_close_id(chain: Project) -> None:
    with pytest.raises(UnknownTaskError, match=r"unknown task 'a'.*did you mean 'A'"):
        chain.complete("a")


def test_failed_dependency_blocks_and_report_names_it(chain: Project) -> None:
    chain.complete("A")
    chain.fail("C", "compiler crashed")
    report = chain.report()
    assert report["blocked_by"] == {"D": ["C"]}
    assert report["failed_tasks"] == 1 and chain.task("C").last_error == "compiler crashed"
    assert report.keys() >= SEED_KEYS
    assert {"ready_tasks", "review_tasks", "critical_path", "critical_path_hours"} <= report.keys()


def test_retry_downstream_reopens_everything_after_that_is_not_completed(chain: Project) -> None:
    chain.complete("A")
    chain.complete("B")
    chain.fail("C", "flaky")
    chain.cancel("D")
    chain.retry("C", downstream=True)
    assert statuses(chain) == {"A": "completed", "B": "completed", "C": "ready", "D": "blocked", "E": "ready"}
    assert chain.task("C").last_error is None
    assert chain.history()[-1].extra["tasks"] == ["C", "D"]


def test_report_figures(chain: Project) -> None:
    chain.complete("A")
    report = chain.report()
    assert report["total_tasks"] == 5 and report["completed_tasks"] == 1
    assert report["completion_percentage"] == 20.0
    assert report["estimated_total_hours"] == 10.0 and report["estimated_remaining_hours"] == 8.0
    assert report["critical_path"] == ["C", "D"] and report["critical_path_hours"] == 6.0
    assert report["next_task"] == "B" and report["ready_tasks"] == 3


def test_plan_edit_syncs_definitions_and_keeps_progress(chain: Project, tmp_path: Path) -> None:
    chain.complete("A")
    chain.add_tasks([{"task_id": "API-1", "title": "added from Python", "dependencies": ["A"]}])
    chain.close()
    write_plan(
        tmp_path,
        task_block("A", estimated_hours=3.0)  # changed
        + task_block("B", ["A"], priority="high")
        + task_block("C", ["A"], estimated_hours=5.0)
        + task_block("F", ["C"]),  # D and E removed, F added
    )
    project = Project.open(tmp_path)
    assert sorted(project.tasks) == ["A", "API-1", "B", "C", "F"]
    assert project.task("A").status == TaskStatus.COMPLETED and project.task("A").estimated_hours == 3.0
    assert project.task("API-1").origin == "api"
    assert project.history()[-1].summary.endswith("1 added, 1 changed, 2 removed")
    project.close()


def test_invalid_plan_edit_writes_nothing(chain: Project, tmp_path: Path) -> None:
    chain.close()
    before = (tmp_path / ".orchestra" / "journal.log").read_bytes()
    write_plan(tmp_path, task_block("A", ["B"]) + task_block("B", ["A"]))
    with pytest.raises(PlanError, match=r"A -> B -> A"):
        Project.open(tmp_path)
    assert (tmp_path / ".orchestra" / "journal.log").read_bytes() == before


def test_a_plan_edit_that_strands_an_api_task_is_refused(chain: Project, tmp_path: Path) -> None:
    """The plan's own graph is checked when it loads; a sync checks the tasks added through the API with it."""
    chain.add_tasks([{"task_id": "API-1", "title": "added from Python", "dependencies": ["E"]}])
    chain.close()
    before = (tmp_path / ".orchestra" / "journal.log").read_bytes()
    write_plan(tmp_path, task_block("A") + task_block("B", ["A"]))  # E removed: API-1 would wait for nothing
    with pytest.raises(PlanError, match="task API-1: field 'dependencies': unknown task 'E'"):
        Project.open(tmp_path)
    assert (tmp_path / ".orchestra" / "journal.log").read_bytes() == before


def test_api_tasks_are_validated(chain: Project) -> None:
    with pytest.raises(PlanError, match="unknown task 'NOPE'"):
        chain.add_tasks([{"task_id": "X", "title": "x", "dependencies": ["NOPE"]}])
    chain.add_tasks([{"task_id": "X", "title": "x", "dependencies": ["E"]}])
    with pytest.raises(PlanError, match="cycle"):
        chain.update_task("E", {"dependencies": ["X"]})
    with pytest.raises(TransitionError, match="unknown field 'priorty' \\(did you mean 'priority'\\?\\)"):
        chain.update_task("X", {"priorty": "high"})
    with pytest.raises(TransitionError, match="cannot remove E: X depends on it"):
        chain.remove_task("E")
    chain.update_task("X", {"priority": "critical", "estimated_hours": 4})
    assert chain.task("X").priority == "critical" and chain.task("X").estimated_hours == 4.0
    chain.remove_task("X")
    assert "X" not in chain.tasks and "X" not in chain.graph


def test_rollback_is_an_entry_and_undo_restores(chain: Project) -> None:
    chain.complete("A")
    chain.complete("B")
    chain.complete("C")
    after_c = {k: v for k, v in chain.store.tasks.items()}
    entry = chain.rollback(2)  # right after "A completed"
    assert entry.action == "rollback" and entry.extra["target"] == "00000002"
    assert statuses(chain)["B"] == "ready" and statuses(chain)["C"] == "ready"
    chain.undo()
    assert chain.store.tasks == after_c
    assert [e.action for e in chain.history()] == ["plan", "complete", "complete", "complete", "rollback", "undo"]


def test_repeated_undo_walks_back(chain: Project) -> None:
    chain.complete("A")
    chain.complete("B")
    chain.complete("C")
    chain.undo()
    assert statuses(chain)["C"] == "ready"
    chain.undo()
    assert statuses(chain)["B"] == "ready"
    chain.undo()
    assert statuses(chain)["A"] == "ready"
    assert chain.undo() is None  # nothing before the plan itself
    chain.complete("A")
    chain.undo()  # undoes the new change, not an old undo
    assert statuses(chain)["A"] == "ready"


def test_rollback_keeps_current_plan_definitions(chain: Project, tmp_path: Path) -> None:
    chain.complete("A")
    chain.close()
    write_plan(tmp_path, task_block("A", estimated_hours=9.0) + task_block("B", ["A"]))
    project = Project.open(tmp_path)
    project.rollback(1)
    assert sorted(project.tasks) == ["A", "B"]  # C, D, E are gone from the plan and stay gone
    assert project.task("A").status == TaskStatus.PENDING and project.task("A").estimated_hours == 9.0
    project.close()


def test_rollback_to_unknown_entry(chain: Project) -> None:
    with pytest.raises(UnknownEntryError, match="unknown history entry '999'"):
        chain.rollback(999)
    with pytest.raises(UnknownEntryError):
        chain.rollback("yesterday")


def test_diff_between_entries(chain: Project) -> None:
    chain.complete("A")
    chain.fail("C", "no")
    changes = chain.diff(1)
    assert {(c["task"], c["after"]["status"]) for c in changes} == {("A", "completed"), ("C", "failed")}
    assert chain.diff(2, 3) == [c for c in chain.diff(2) if c["task"] == "C"]


def test_second_process_changes_are_picked_up(chain: Project, tmp_path: Path) -> None:
    other = Project.open(tmp_path, actor="tui")
    other.complete("A")
    assert chain.task("A").status == TaskStatus.PENDING
    assert chain.refresh() is True
    assert chain.task("A").status == TaskStatus.COMPLETED and statuses(chain)["B"] == "ready"
    chain.complete("B")  # computed on the fresh state
    other.refresh()
    assert other.task("B").status == TaskStatus.COMPLETED
    other.close()


def test_record_run_keeps_tokens_and_cost(chain: Project) -> None:
    chain.start("A", run_id="run-1")
    chain.record_run("A", {"input_tokens": 10, "output_tokens": 5, "cost_usd": 0.01}, "A used 15 tokens")
    report = chain.report()
    assert (report["input_tokens"], report["output_tokens"], report["cost_usd"]) == (10, 5, 0.01)
    assert chain.task("A").last_run_id == "run-1"
    with pytest.raises(ValueError):
        chain.record_run("A", {"status": "completed"}, "nope")


def test_demo_project_opens_and_runs_in_order(demo_dir: Path) -> None:
    with Project.open(demo_dir) as project:
        assert len(project.tasks) == 10
        assert {t.phase.value for t in project.tasks.values()} == {"design", "development", "testing"}
        order = []
        while (task := project.next_task()) is not None:
            order.append(task.task_id)
            project.complete(task.task_id)
        assert len(order) == 10 and order[0] == "DES-001" and order[-1] == "TST-003"
        assert project.report()["completion_percentage"] == 100.0


def test_report_gives_tokens_and_cost_per_agent(tmp_path: Path) -> None:
    write_plan(
        tmp_path,
        '[agents.gpt]\ntype = "openai"\nmodel = "gpt-4o"\n\n'
        + task_block("A", agent="gpt")
        + task_block("B")
        + task_block("C", agent="gpt"),
    )
    with Project.open(tmp_path) as project:
        project.start("A", run_id="r1")
        project.record_run("A", {"input_tokens": 100, "output_tokens": 20, "cost_usd": 0.5}, "A used tokens")
        project.start("C", run_id="r2")
        project.record_run("C", {"input_tokens": 1, "output_tokens": 2, "cost_usd": 0.25}, "C used tokens")
        by_agent = project.report()["by_agent"]
    assert by_agent == {
        "gpt": {
            "tasks": 2,
            "input_tokens": 101,
            "output_tokens": 22,
            "cache_read_tokens": None,
            "cache_write_tokens": None,
            "cost_usd": 0.75,
            "unpriced_runs": 0,
        },
        "shell": {
            "tasks": 1,
            "input_tokens": None,
            "output_tokens": None,
            "cache_read_tokens": None,
            "cache_write_tokens": None,
            "cost_usd": None,
            "unpriced_runs": 0,
        },  # nothing ran: unknown, never a made-up 0
    }


def test_graph_after_bulk_changes_equals_one_built_afresh(chain: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bulk change (tasks added) and a status-only entry after it (as an import commits) build no graph; the
    graph read afterwards is the one built from the tasks, and one task's change keeps it in step again."""
    from orchestra_tui.graph import TaskGraph
    from orchestra_tui.store import Mutation
    from orchestra_tui.store.changes import diff_record

    builds: list[int] = []
    build = TaskGraph.build
    monkeypatch.setattr(TaskGraph, "build", classmethod(lambda cls, tasks: builds.append(1) or build(tasks)))
    chain.add_tasks(
        [{"id": "F", "title": "f", "dependencies": ["E"]}, {"id": "G", "title": "g", "dependencies": ["F"]}]
    )

    def statuses_set() -> Mutation:
        records = chain.store.tasks
        done = {"A": "completed", "E": "completed", "F": "in_progress"}
        changes = [
            diff_record(task_id, records[task_id], {**records[task_id], "status": status})
            for task_id, status in done.items()
        ]
        return Mutation([change for change in changes if change is not None], "import", "statuses")

    chain.store.commit(statuses_set, actor="cli")
    assert builds == []
    graph = chain.graph
    assert builds == [1]
    fresh = build(chain.tasks.values())
    assert {t: graph.status_of(t) for t in chain.tasks} == {t: fresh.status_of(t) for t in chain.tasks}
    assert statuses(chain) == {
        "A": "completed",
        "B": "ready",
        "C": "ready",
        "D": "blocked",
        "E": "completed",
        "F": "in_progress",
        "G": "blocked",
    }
    assert graph.next_task() == fresh.next_task() == "B"
    chain.complete("F")  # one task's change: the built graph follows it incrementally
    assert chain.status_of("G") is TaskStatus.READY and builds == [1]
