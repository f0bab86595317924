"""Importing the seed framework's ``project_state.json`` (format_version 1 and 2) into a project."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from orchestra_tui.engine import Project
from orchestra_tui.engine.seed_import import import_seed_state
from orchestra_tui.errors import OrchestraError, PlanError, StateError
from orchestra_tui.models import ProjectPhase, TaskPriority, TaskStatus

from ..helpers.plans import task_block, write_plan


def seed_task(task_id: str, deps: list[str] | None = None, **fields: Any) -> dict[str, Any]:
    """A task as the seed's ``AgentTask.to_dict()`` wrote it."""
    return {
        "task_id": task_id,
        "title": f"Seed {task_id}",
        "description": f"Do {task_id}.",
        "agent": "claude-code",
        "priority": "medium",
        "phase": "development",
        "dependencies": deps or [],
        "estimated_hours": 2.0,
        "deliverables": [],
        "success_criteria": [],
        "commands": [],
        "tags": [],
        "status": "pending",
        "started_at": None,
        "completed_at": None,
        "output_files": [],
        "notes": "",
        "metadata": {},
        **fields,
    }


def write_state(
    path: Path, tasks: Any, *, format_version: Any = 2, checksum: str | bool | None = True, **top: Any
) -> Path:
    """A seed state file; ``checksum=True`` computes the seed's 16 hex digits, a string is written as is."""
    doc: dict[str, Any] = {
        "version": "1.0",
        "format_version": format_version,
        "project_id": "seed-project",
        "last_updated": "2025-11-12T01:30:45.123456",
        "tasks": tasks,
        "metrics": {"total_tasks": len(tasks), "completed_tasks": 0},
        **top,
    }
    if checksum is True:
        doc["checksum"] = hashlib.sha256(json.dumps(tasks, sort_keys=True).encode()).hexdigest()[:16]
    elif isinstance(checksum, str):
        doc["checksum"] = checksum
    if format_version is None:
        del doc["format_version"]
    path.write_text(json.dumps(doc, indent=2))
    return path


@pytest.fixture
def project(tmp_path: Path) -> Project:
    """A plan with PLAN-1 (high, 3h) so imports meet a task the project already has."""
    write_plan(tmp_path / "proj", task_block("PLAN-1", priority="high", estimated_hours=3.0))
    opened = Project.open(tmp_path / "proj", actor="cli")
    yield opened
    opened.close()


def snapshot(project: Project) -> tuple[int, dict[str, dict[str, Any]]]:
    return len(project.history()), json.loads(json.dumps(project.store.tasks))


# -- accepted files ----------------------------------------------------------------------------------


def test_v2_dict_shape_is_one_import_entry(project: Project, tmp_path: Path) -> None:
    path = write_state(
        tmp_path / "project_state.json",
        {
            "TASK-001": seed_task(
                "TASK-001",
                priority="critical",
                phase="design",
                estimated_hours=8,
                status="completed",
                started_at="2025-11-10T09:00:00",
                completed_at="2025-11-10T17:00:00",
                deliverables=["docs/SYSTEM-DESIGN.md"],
                success_criteria=["All components diagrammed"],
            ),
            "TASK-002": seed_task("TASK-002", ["TASK-001"], priority="high"),
            "TASK-003": seed_task("TASK-003", ["TASK-002", "PLAN-1"]),
        },
    )
    entry = import_seed_state(project, path)
    assert entry is not None
    assert (entry.action, entry.actor) == ("import", "cli")
    assert entry.summary == "imported project_state.json (seed format 2): 3 added, 0 updated"
    assert entry.extra["format_version"] == 2 and "warnings" not in entry.extra
    assert entry.extra["source_project"] == "seed-project"
    assert [e.action for e in project.history()] == ["plan", "import"]

    first = project.task("TASK-001")
    assert first.title == "Seed TASK-001" and first.agent == "claude-code" and first.origin == "api"
    assert first.priority == TaskPriority.CRITICAL and first.phase == ProjectPhase.DESIGN and first.estimated_hours == 8
    assert first.deliverables == ["docs/SYSTEM-DESIGN.md"] and first.success_criteria == ["All components diagrammed"]
    assert first.status == TaskStatus.COMPLETED
    assert first.started_at == datetime(2025, 11, 10, 9, tzinfo=UTC)  # naive means UTC
    assert first.completed_at == datetime(2025, 11, 10, 17, tzinfo=UTC)
    assert project.status_of("TASK-002") == TaskStatus.READY and project.status_of("TASK-003") == TaskStatus.BLOCKED
    assert project.next_task().task_id == "PLAN-1"  # high, ready; TASK-002 is high too but its chain is shorter


def test_v1_list_shape_with_liberal_spellings(project: Project, tmp_path: Path) -> None:
    path = write_state(
        tmp_path / "old_state.json",
        [
            seed_task(
                "A",
                priority="CRITICAL",
                phase="ProjectPhase.DESIGN",
                status="TaskStatus.COMPLETED",
                completed_at="2025-11-10T17:00:00+02:00",
            ),
            seed_task("B", ["A"], priority="TaskPriority.HIGH", status="blocked"),
            seed_task("C", ["A"], status="READY"),
            seed_task("D", ["A"], status="in_progress", started_at="2025-11-11T08:00:00Z"),
            {"id": "E", "dependencies": ["B"]},  # minimal: everything else takes its default
        ],
        format_version=1,
        checksum=None,
    )
    entry = import_seed_state(project, path)
    assert entry is not None and entry.summary == "imported old_state.json (seed format 1): 5 added, 0 updated"
    a = project.task("A")
    assert (a.priority, a.phase, a.status) == (TaskPriority.CRITICAL, ProjectPhase.DESIGN, TaskStatus.COMPLETED)
    assert a.completed_at == datetime(2025, 11, 10, 15, tzinfo=UTC)
    assert project.task("B").priority == TaskPriority.HIGH
    assert project.task("B").status == TaskStatus.PENDING and project.task("C").status == TaskStatus.PENDING
    assert project.status_of("B") == TaskStatus.READY
    d = project.task("D")
    assert d.status == TaskStatus.FAILED and d.last_error == "interrupted (imported)"
    assert d.started_at == datetime(2025, 11, 11, 8, tzinfo=UTC)
    e = project.task("E")
    assert (e.title, e.priority, e.phase, e.estimated_hours, e.agent) == (
        "E",
        TaskPriority.MEDIUM,
        ProjectPhase.DEVELOPMENT,
        1.0,
        None,
    )
    assert "checksum" not in entry.summary


def test_a_file_without_format_version_is_taken_as_v1(project: Project, tmp_path: Path) -> None:
    path = write_state(tmp_path / "s.json", {"A": seed_task("A")}, format_version=None, checksum=None)
    assert import_seed_state(project, path).extra["format_version"] == 1


def test_tasks_already_present_take_only_progress_from_the_file(project: Project, tmp_path: Path) -> None:
    project.start("PLAN-1")
    project.fail("PLAN-1", "first try broke")
    assert project.task("PLAN-1").attempts == 1
    path = write_state(
        tmp_path / "s.json",
        {
            "PLAN-1": seed_task(
                "PLAN-1",
                title="Seed title",
                priority="low",
                estimated_hours=9,
                status="completed",
                started_at="2025-11-10T09:00:00",
                completed_at="2025-11-10T10:30:00",
                actual_hours=1.5,
            ),
        },
    )
    entry = import_seed_state(project, path)
    assert entry is not None and entry.summary.endswith("0 added, 1 updated")
    task = project.task("PLAN-1")
    assert (task.title, task.priority, task.estimated_hours, task.origin) == (
        "Task PLAN-1",
        TaskPriority.HIGH,
        3.0,
        "plan",
    )
    assert task.status == TaskStatus.COMPLETED and task.actual_hours == 1.5 and task.last_error is None
    assert task.completed_at == datetime(2025, 11, 10, 10, 30, tzinfo=UTC)
    assert task.attempts == 1  # the file does not record attempts: the project's count stays
    with_attempts = write_state(
        tmp_path / "s2.json",
        {
            "PLAN-1": seed_task(
                "PLAN-1",
                status="completed",
                attempts=4,
                completed_at="2025-11-10T10:30:00",
                actual_hours=1.5,
                started_at="2025-11-10T09:00:00",
            )
        },
    )
    import_seed_state(project, with_attempts)
    assert project.task("PLAN-1").attempts == 4


def test_reimporting_the_same_file_writes_nothing(project: Project, tmp_path: Path) -> None:
    path = write_state(
        tmp_path / "s.json", {"A": seed_task("A", status="completed", completed_at="2025-11-10T10:00:00")}
    )
    assert import_seed_state(project, path) is not None
    before = snapshot(project)
    assert import_seed_state(project, path) is None
    assert snapshot(project) == before


def test_the_import_survives_reopening_and_can_be_rolled_back(project: Project, tmp_path: Path) -> None:
    path = write_state(tmp_path / "s.json", {"A": seed_task("A"), "B": seed_task("B", ["A"])})
    import_seed_state(project, path)
    root = project.root
    project.close()
    reopened = Project.open(root)
    try:
        assert {"A", "B", "PLAN-1"} == set(reopened.tasks)
        reopened.undo()
        assert set(reopened.tasks) == {"PLAN-1"}
    finally:
        reopened.close()


def test_checksum_mismatch_is_a_warning_not_an_error(project: Project, tmp_path: Path) -> None:
    path = write_state(tmp_path / "s.json", {"A": seed_task("A")}, checksum="0123456789abcdef")
    entry = import_seed_state(project, path)
    assert entry is not None and "A" in project.tasks
    assert "warning: checksum mismatch (the file says 0123456789abcdef" in entry.summary
    assert len(entry.extra["warnings"]) == 1 and "checksum mismatch" in entry.extra["warnings"][0]


def test_a_matching_checksum_gives_no_warning_and_seed_only_fields_are_listed(project: Project, tmp_path: Path) -> None:
    path = write_state(tmp_path / "s.json", {"A": seed_task("A", output_files=["docs/A.md"], assigned_to="ana")})
    entry = import_seed_state(project, path)
    assert "warning" not in entry.summary and "warnings" not in entry.extra
    assert entry.extra["ignored_fields"] == ["assigned_to"]
    assert project.task("A").output_files == ["docs/A.md"]


def test_a_malformed_checksum_is_a_warning(project: Project, tmp_path: Path) -> None:
    entry = import_seed_state(project, write_state(tmp_path / "s.json", {"A": seed_task("A")}, checksum="abc"))
    assert "not the seed's 16 hex digits" in entry.summary


# -- refused files: one line, nothing written ---------------------------------------------------------


def refused(project: Project, path: Path, kind: type[OrchestraError], *fragments: str) -> str:
    before = snapshot(project)
    with pytest.raises(kind) as raised:
        import_seed_state(project, path)
    message = str(raised.value)
    assert "\n" not in message and raised.value.exit_code == 1
    for fragment in fragments:
        assert fragment in message, message
    assert snapshot(project) == before
    return message


def test_not_json(project: Project, tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{\n  "tasks": {\n    "A": {"title": "x",}\n  }\n}\n')
    refused(project, path, StateError, f"{path}:3:", "not JSON", "property name")
    binary = tmp_path / "binary.json"
    binary.write_bytes(b'{"tasks": "\xff"}')
    refused(project, binary, StateError, f"{binary}:1:", "not UTF-8")


def test_missing_file(project: Project, tmp_path: Path) -> None:
    refused(project, tmp_path / "nowhere.json", StateError, "cannot read", "nowhere.json")


def test_not_a_seed_state_file(project: Project, tmp_path: Path) -> None:
    for content, found in (
        ("[1, 2]", "a JSON list"),
        ('{"name": "x"}', "an object without 'tasks'"),
        ('{"tasks": "A"}', "'tasks' is a str"),
    ):
        path = tmp_path / "other.json"
        path.write_text(content)
        refused(project, path, StateError, "not a seed state file", found)


@pytest.mark.parametrize("version", [3, 0, "two", True])
def test_unsupported_format_version(project: Project, tmp_path: Path, version: Any) -> None:
    path = write_state(tmp_path / "s.json", {"A": seed_task("A")}, format_version=version)
    refused(project, path, StateError, f"format_version {version!r} is not supported", "format_version 1 or 2")


def test_orchestras_own_state_file_is_named_as_such(project: Project, tmp_path: Path) -> None:
    own = project.root / ".orchestra" / "project_state.json"
    project.store.flush()
    refused(project, own, StateError, "format_version 3 is not supported", "orchestra's own state")


@pytest.mark.parametrize(
    ("task", "fragments"),
    [
        (seed_task("A", estimated_hours=-1), ("task A: field 'estimated_hours'", "greater than 0", "-1")),
        (
            seed_task("A", priority="urgent"),
            ("task A: field 'priority'", "'critical', 'high', 'medium' or 'low'", "'urgent'"),
        ),
        (seed_task("A", phase="documentation"), ("task A: field 'phase'", "'documentation'")),
        (seed_task("A", status="done"), ("task A: field 'status'", "'done'")),
        (seed_task("A", started_at="yesterday"), ("task A: field 'started_at'", "'yesterday'")),
        (seed_task("A", dependencies="B"), ("task A: field 'dependencies'", "valid list")),
        (seed_task("A", metadata=[1]), ("task A: field 'metadata'",)),
        (seed_task("A", title=""), ("task A: field 'title'",)),
    ],
)
def test_a_bad_field_names_the_task_and_field(
    project: Project, tmp_path: Path, task: dict[str, Any], fragments: tuple[str, ...]
) -> None:
    path = write_state(tmp_path / "s.json", {"OK": seed_task("OK"), "A": task})
    refused(project, path, PlanError, str(path), *fragments)


def test_bad_ids(project: Project, tmp_path: Path) -> None:
    mismatch = write_state(tmp_path / "m.json", {"A": seed_task("B")})
    refused(project, mismatch, PlanError, "task A: field 'task_id': 'B' does not match its key 'A'")
    no_id = write_state(tmp_path / "n.json", [seed_task("A"), {"title": "anonymous"}])
    refused(project, no_id, PlanError, "task #2: field 'task_id': missing")
    twice = write_state(tmp_path / "t.json", [seed_task("A"), seed_task("A")])
    refused(project, twice, PlanError, "task A: duplicate task id")
    spaced = write_state(tmp_path / "s.json", {"has space": seed_task("has space")})
    refused(project, spaced, PlanError, "task has space: field 'task_id'")
    not_object = write_state(tmp_path / "o.json", {"A": "pending"})
    refused(project, not_object, PlanError, "task A: expected an object, found a JSON str")


def test_the_merged_graph_must_validate(project: Project, tmp_path: Path) -> None:
    unknown = write_state(tmp_path / "u.json", {"A": seed_task("A", ["GHOST"])})
    refused(project, unknown, PlanError, f"{unknown}: task A: field 'dependencies': unknown task 'GHOST'")
    cycle = write_state(tmp_path / "c.json", {"A": seed_task("A", ["B"]), "B": seed_task("B", ["A"])})
    refused(project, cycle, PlanError, "field 'dependencies': dependency cycle A -> B -> A")
    itself = write_state(tmp_path / "i.json", {"A": seed_task("A", ["A"])})
    refused(project, itself, PlanError, "task A: field 'dependencies': a task cannot depend on itself")
