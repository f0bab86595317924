"""The seed-compatible Python API (``ProjectOrchestrator``) and its script flags, on real project directories."""

from __future__ import annotations

import json
import logging
import os
import pty
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from orchestra_tui import AgentTask, ProjectOrchestrator, ProjectPhase, TaskPriority, TaskStatus
from orchestra_tui.errors import OrchestraError, PlanError, TransitionError, UnknownEntryError, UnknownTaskError

from ..helpers.plans import SAMPLES

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


def task(task_id: str, deps: list[str] | None = None, **fields: object) -> AgentTask:
    return AgentTask(task_id=task_id, title=f"Task {task_id}", dependencies=deps or [], **fields)


@pytest.fixture
def orch(tmp_path: Path) -> ProjectOrchestrator:
    """A -> B -> D, A -> C -> D: a directory with no orchestra.toml, tasks added through the API."""
    orchestrator = ProjectOrchestrator(tmp_path)
    orchestrator.add_tasks(
        [
            task("A", estimated_hours=2, priority=TaskPriority.CRITICAL, phase=ProjectPhase.DESIGN),
            task("B", ["A"], priority=TaskPriority.HIGH),
            task("C", ["A"], estimated_hours=5),
            task("D", ["B", "C"], phase=ProjectPhase.TESTING),
        ]
    )
    yield orchestrator
    orchestrator.close()


@pytest.fixture
def piped_stdin(monkeypatch: pytest.MonkeyPatch):
    """stdin that is not a terminal, as when a script runs from cron or CI (also under ``pytest -s``)."""
    with open(os.devnull) as devnull:
        monkeypatch.setattr(sys, "stdin", devnull)
        yield


def history_length(orchestrator: ProjectOrchestrator) -> int:
    return len(orchestrator.project.history())


# -- tasks -------------------------------------------------------------------------------------------


def test_add_task_and_get_task(tmp_path: Path) -> None:
    with ProjectOrchestrator(tmp_path) as orchestrator:
        assert orchestrator.add_task(task("T1", priority=TaskPriority.CRITICAL, estimated_hours=8)) is True
        got = orchestrator.get_task("T1")
        assert got is not None and got.priority == TaskPriority.CRITICAL and got.estimated_hours == 8
        assert got.status == TaskStatus.PENDING and got.origin == "api"
        assert orchestrator.get_task("NOPE") is None
        entry = orchestrator.project.history()[-1]
        assert (entry.actor, entry.action, entry.summary) == ("api", "add", "T1 added")


def test_add_task_refusals_write_nothing(orch: ProjectOrchestrator) -> None:
    before = history_length(orch)
    with pytest.raises(TransitionError, match="A already exists"):
        orch.add_task(task("A"))
    with pytest.raises(PlanError, match="unknown task 'GHOST'"):
        orch.add_task(task("E", ["GHOST"]))
    with pytest.raises(PlanError, match="dependency cycle"):
        orch.add_tasks([task("X", ["Y"]), task("Y", ["X"])])
    assert history_length(orch) == before
    assert set(orch.tasks) == {"A", "B", "C", "D"}


def test_add_tasks_is_one_entry(tmp_path: Path) -> None:
    with ProjectOrchestrator(tmp_path) as orchestrator:
        assert orchestrator.add_tasks([task("A"), task("B", ["A"]), task("C", ["B"])]) == 3
        assert [e.action for e in orchestrator.project.history()] == ["add"]
        assert orchestrator.add_tasks([]) == 0
        assert history_length(orchestrator) == 1


def test_tasks_mapping_is_read_only_and_hands_out_copies(orch: ProjectOrchestrator) -> None:
    view = orch.tasks
    assert len(view) == 4 and "A" in view and "Z" not in view and sorted(view) == ["A", "B", "C", "D"]
    with pytest.raises(TypeError):
        view["E"] = task("E")  # type: ignore[index]
    copy = view["A"]
    copy.title = "edited locally"
    got = orch.get_task("A")
    assert got is not None
    got.notes = "also local"
    assert orch.get_task("A").title == "Task A" and orch.get_task("A").notes == ""
    assert orch.project.tasks["A"].title == "Task A"


def test_update_task_by_id_and_by_task(orch: ProjectOrchestrator) -> None:
    assert orch.update_task("B", notes="check the schema", priority="low") is True
    assert orch.get_task("B").notes == "check the schema" and orch.get_task("B").priority == TaskPriority.LOW
    edited = orch.get_task("C")
    edited.title = "Implement the core"
    edited.estimated_hours = 7
    assert orch.update_task(edited) is True
    assert orch.get_task("C").title == "Implement the core" and orch.get_task("C").estimated_hours == 7
    before = history_length(orch)
    assert orch.update_task(orch.get_task("C")) is False  # nothing differs: no entry
    assert history_length(orch) == before


def test_update_task_refusals(orch: ProjectOrchestrator) -> None:
    before = history_length(orch)
    edited = orch.get_task("A")
    edited.status = TaskStatus.COMPLETED
    with pytest.raises(TransitionError, match="not status; use start_task, complete_task"):
        orch.update_task(edited)
    with pytest.raises(TransitionError, match=r"unknown field 'titel'.*did you mean 'title'"):
        orch.update_task("A", titel="x")
    with pytest.raises(UnknownTaskError, match="unknown task 'Q'"):
        orch.update_task("Q", notes="x")
    with pytest.raises(PlanError, match="dependency cycle"):
        orch.update_task("A", dependencies=["D"])
    with pytest.raises(TypeError):
        orch.update_task(orch.get_task("A"), notes="x")
    assert history_length(orch) == before
    assert orch.get_task("A").status == TaskStatus.PENDING


def test_update_task_with_a_fresh_definition_keeps_progress(orch: ProjectOrchestrator) -> None:
    orch.start_task("A")
    assert orch.update_task(AgentTask(task_id="A", title="Design it", estimated_hours=3)) is True
    got = orch.get_task("A")
    assert got.title == "Design it" and got.status == TaskStatus.IN_PROGRESS


def test_remove_task(orch: ProjectOrchestrator) -> None:
    with pytest.raises(TransitionError, match="cannot remove A: B, C depend on it"):
        orch.remove_task("A")
    with pytest.raises(UnknownTaskError):
        orch.remove_task("Z")
    assert orch.remove_task("D") is True
    assert orch.get_task("D") is None and "D" not in orch.tasks


def test_next_and_ready_tasks(orch: ProjectOrchestrator) -> None:
    assert orch.get_next_task().task_id == "A"
    assert orch.get_next_task(priority=TaskPriority.HIGH) is None
    assert orch.get_next_task(phase="design").task_id == "A"
    orch.start_task("A")
    orch.complete_task("A")
    # B is high; C is medium but longer: priority first.
    assert orch.get_next_task().task_id == "B"
    assert orch.get_next_task(priority="medium").task_id == "C"
    assert [t.task_id for t in orch.get_ready_tasks()] == ["B", "C"]
    assert [t.task_id for t in orch.get_ready_tasks(max_count=1)] == ["B"]
    orch.complete_task("B")
    orch.complete_task("C")
    orch.complete_task("D")
    assert orch.get_next_task() is None and orch.get_ready_tasks() == []


def test_lifecycle_methods(orch: ProjectOrchestrator) -> None:
    assert orch.start_task("A") is True
    started = orch.get_task("A")
    assert started.status == TaskStatus.IN_PROGRESS and started.started_at is not None and started.attempts == 1
    assert orch.complete_task("A") is True
    assert orch.get_task("A").status == TaskStatus.COMPLETED and orch.get_task("A").completed_at is not None
    assert orch.fail_task("B", "schema review rejected") is True  # the seed passed the message positionally
    assert orch.get_task("B").status == TaskStatus.FAILED and orch.get_task("B").last_error == "schema review rejected"
    assert orch.fail_task("C", error="disk full") is True  # ... or as error=
    assert orch.get_task("C").last_error == "disk full"
    assert orch.cancel_task("D") is True
    assert orch.get_task("D").status == TaskStatus.CANCELLED
    actions = [e.action for e in orch.project.history()]
    assert actions[-5:] == ["start", "complete", "fail", "fail", "cancel"]


def test_refused_transitions_raise_one_line_errors(orch: ProjectOrchestrator) -> None:
    before = history_length(orch)
    cases = [
        (lambda: orch.complete_task("D"), TransitionError, "cannot complete D: it depends on tasks not completed"),
        (lambda: orch.start_task("B"), TransitionError, "cannot start B: it depends on tasks not completed: A"),
        (lambda: orch.start_task("NOPE"), UnknownTaskError, "unknown task 'NOPE'"),
        (lambda: orch.complete_task("a"), UnknownTaskError, "did you mean 'A'"),
        (lambda: orch.fail_task("NOPE", "x"), UnknownTaskError, "unknown task"),
        (lambda: orch.cancel_task("NOPE"), UnknownTaskError, "unknown task"),
    ]
    for call, kind, text in cases:
        with pytest.raises(kind) as raised:
            call()
        assert text in str(raised.value) and "\n" not in str(raised.value)
        assert isinstance(raised.value, OrchestraError)
    orch.cancel_task("A")
    with pytest.raises(TransitionError, match="cannot start A: it is cancelled"):
        orch.start_task("A")
    assert history_length(orch) == before + 1


def test_generate_report(orch: ProjectOrchestrator) -> None:
    orch.start_task("A")
    orch.complete_task("A")
    orch.fail_task("C", "broken")
    report = orch.generate_report()
    assert set(report) >= SEED_KEYS
    assert report["project_id"] == orch.project_id
    assert (report["total_tasks"], report["completed_tasks"], report["failed_tasks"]) == (4, 1, 1)
    assert (report["pending_tasks"], report["blocked_tasks"], report["ready_tasks"]) == (2, 1, 1)
    assert report["completion_percentage"] == 25.0
    assert report["estimated_total_hours"] == 9.0 and report["estimated_remaining_hours"] == 7.0
    assert report["next_task"] == "B"
    assert report["blocked_by"] == {"D": ["C"]}


# -- history -----------------------------------------------------------------------------------------


def test_list_backups_newest_first_with_the_seed_keys(orch: ProjectOrchestrator) -> None:
    orch.start_task("A")
    orch.complete_task("A")
    backups = orch.list_backups()
    assert [b["action"] for b in backups] == ["complete", "start", "add"]
    assert set(backups[0]) >= {"id", "timestamp", "tasks", "completion_percentage", "actor", "action", "summary"}
    assert backups[0]["id"] == "00000003" and backups[0]["tasks"] == 4 and backups[0]["completion_percentage"] == 25.0
    assert backups[-1]["completion_percentage"] == 0.0 and backups[0]["actor"] == "api"
    assert backups[0]["summary"] == "A completed"
    assert [b["id"] for b in orch.list_backups(limit=2)] == ["00000003", "00000002"]


@pytest.mark.usefixtures("piped_stdin")
def test_rollback_needs_confirmation_when_not_interactive(
    orch: ProjectOrchestrator, caplog: pytest.LogCaptureFixture
) -> None:
    orch.start_task("A")
    orch.complete_task("A")
    before = history_length(orch)
    with caplog.at_level(logging.WARNING, logger="orchestra_tui.api"):
        assert orch.rollback_to_backup("1") is False
    assert "not done" in caplog.text and "confirm=True" in caplog.text
    assert history_length(orch) == before and orch.get_task("A").status == TaskStatus.COMPLETED


def test_rollback_confirmed_is_a_new_undoable_entry(orch: ProjectOrchestrator) -> None:
    orch.start_task("A")
    orch.complete_task("A")
    assert orch.rollback_to_backup("00000001", confirm=True) is True
    assert orch.get_task("A").status == TaskStatus.PENDING
    assert orch.list_backups()[0]["action"] == "rollback"
    assert orch.rollback_to_backup("3", confirm=True) is True  # undo the rollback
    assert orch.get_task("A").status == TaskStatus.COMPLETED
    with pytest.raises(UnknownEntryError, match="unknown history entry '99'"):
        orch.rollback_to_backup("99", confirm=True)


CONFIRM_SCRIPT = """
import sys
from orchestra_tui import ProjectOrchestrator
orchestrator = ProjectOrchestrator(sys.argv[1])
print("RESULT", orchestrator.rollback_to_backup("1"), orchestrator.get_task("A").status.value, flush=True)
"""


@pytest.mark.parametrize(("answer", "result", "status"), [("y", "True", "pending"), ("n", "False", "completed")])
def test_rollback_asks_on_an_interactive_stdin(
    orch: ProjectOrchestrator, tmp_path: Path, answer: str, result: str, status: str
) -> None:
    orch.start_task("A")
    orch.complete_task("A")
    orch.close()
    master, slave = pty.openpty()
    try:
        child = subprocess.Popen(
            [sys.executable, "-c", CONFIRM_SCRIPT, str(tmp_path)],
            stdin=slave,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        os.write(master, f"{answer}\n".encode())
        out, err = child.communicate(timeout=60)
    finally:
        os.close(slave)
        os.close(master)
    assert child.returncode == 0, err
    assert "Roll back to 00000001" in out and "[y/N]" in out
    assert f"RESULT {result} {status}" in out


# -- processes and lifetime ---------------------------------------------------------------------------


def test_two_orchestrators_see_each_other_after_refresh(tmp_path: Path) -> None:
    first, second = ProjectOrchestrator(tmp_path), ProjectOrchestrator(tmp_path)
    try:
        first.add_task(task("A"))
        assert second.get_task("A") is None
        assert second.refresh() is True and second.get_task("A") is not None
        assert second.refresh() is False
        second.start_task("A")
        first.refresh()
        assert first.get_task("A").status == TaskStatus.IN_PROGRESS
        # A change from a stale view is computed on the fresh state: the transition is checked against it.
        second.complete_task("A")
        with pytest.raises(TransitionError, match="cannot start A: it is completed"):
            first.start_task("A")
        assert [e.actor for e in first.project.history()] == ["api"] * 3
    finally:
        first.close()
        second.close()


def test_close_brings_the_state_file_up_to_date(tmp_path: Path) -> None:
    with ProjectOrchestrator(tmp_path) as orchestrator:
        orchestrator.add_tasks([task("A"), task("B", ["A"])])
        orchestrator.start_task("A")
    state = json.loads((tmp_path / ".orchestra" / "project_state.json").read_text())
    assert state["tasks"]["A"]["status"] == "in_progress" and set(state["tasks"]) == {"A", "B"}
    with ProjectOrchestrator(tmp_path) as again:
        assert again.get_task("A").status == TaskStatus.IN_PROGRESS and again.project_root == tmp_path.resolve()


def test_an_invalid_plan_fails_to_open_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "orchestra.toml").write_text(
        '[project]\nid = "x"\n[[tasks]]\nid = "A"\ntitle = "a"\npriority = "urgent"\n'
    )
    with pytest.raises(PlanError) as raised:
        ProjectOrchestrator(tmp_path)
    assert "orchestra.toml:6: task A: field 'priority'" in str(raised.value) and "\n" not in str(raised.value)


# -- run_cli in process ------------------------------------------------------------------------------


def test_run_cli_flags(orch: ProjectOrchestrator, capsys: pytest.CaptureFixture[str]) -> None:
    assert orch.run_cli(["--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in lines] == [
        ["A", "ready"],
        ["B", "blocked"],
        ["C", "blocked"],
        ["D", "blocked"],
    ]
    assert orch.run_cli(["--next"]) == 0
    assert capsys.readouterr().out.startswith("A: Task A\n  priority critical, phase design, 2h, agent shell")
    assert orch.run_cli(["--complete", "A"]) == 0
    assert capsys.readouterr().out == "A completed.\n"
    assert orch.get_task("A").status == TaskStatus.COMPLETED
    assert orch.run_cli(["--report"]) == 0
    report = capsys.readouterr().out
    assert "25.0% complete" in report and "critical path: C -> D (6h)" in report and "next task: B" in report
    assert orch.run_cli(["--list-backups"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[0].startswith("00000002") and "A completed" in rows[0] and rows[1].startswith("00000001")
    assert orch.run_cli([]) == 0
    assert "--list-backups" in capsys.readouterr().out


def test_run_cli_errors(orch: ProjectOrchestrator, capsys: pytest.CaptureFixture[str]) -> None:
    assert orch.run_cli(["--complete", "D"]) == 1
    captured = capsys.readouterr()
    assert (
        captured.out == ""
        and captured.err.strip()
        == "error: cannot complete D: it depends on tasks not completed: B (blocked), C (blocked)"
    )
    assert orch.run_cli(["--complete", "NOPE"]) == 1
    assert capsys.readouterr().err == "error: unknown task 'NOPE'\n"
    assert orch.run_cli(["--rollback", "42", "--yes"]) == 1
    assert "unknown history entry '42'" in capsys.readouterr().err
    assert orch.run_cli(["--bogus"]) == 2
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err
    assert orch.run_cli(["--list", "--report"]) == 2
    assert "not allowed with" in capsys.readouterr().err
    assert orch.run_cli(["--help"]) == 0
    assert history_length(orch) == 1


@pytest.mark.usefixtures("piped_stdin")
def test_run_cli_rollback(orch: ProjectOrchestrator, capsys: pytest.CaptureFixture[str]) -> None:
    orch.start_task("A")
    assert orch.run_cli(["--rollback", "-1"]) == 1  # stdin is not a terminal: needs --yes
    assert capsys.readouterr().err == "error: rollback to 00000001 needs confirmation: pass --yes\n"
    assert orch.get_task("A").status == TaskStatus.IN_PROGRESS
    assert orch.run_cli(["--rollback", "-1", "--yes"]) == 0
    assert "Rolled back to 00000001" in capsys.readouterr().out
    assert orch.get_task("A").status == TaskStatus.PENDING


# -- the seed Quick Start script, as a user runs it ---------------------------------------------------


@pytest.fixture
def quickstart(tmp_path: Path) -> Path:
    target = tmp_path / "seed-quickstart"
    shutil.copytree(SAMPLES / "seed-quickstart", target, ignore=shutil.ignore_patterns(".orchestra", "__pycache__"))
    return target


def run_script(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "project_orchestrator.py", *args],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def test_quickstart_script_and_its_flags(quickstart: Path) -> None:
    first = run_script(quickstart)
    assert first.returncode == 0, first.stderr
    assert "Added 5 tasks." in first.stdout and "Completed TASK-001." in first.stdout
    second = run_script(quickstart)  # idempotent: no task is added twice, the next one is worked on
    assert second.returncode == 0, second.stderr
    assert "Added" not in second.stdout and "Completed TASK-002." in second.stdout
    assert "Progress: 2/5 tasks (40.0%)" in second.stdout

    listing = run_script(quickstart, "--list")
    assert listing.returncode == 0, listing.stderr
    status = {line.split()[0]: line.split()[1] for line in listing.stdout.splitlines()}
    assert status == {
        "TASK-001": "completed",
        "TASK-002": "completed",
        "TASK-003": "ready",
        "TASK-004": "ready",
        "TASK-005": "blocked",
    }

    nxt = run_script(quickstart, "--next")
    assert nxt.returncode == 0 and nxt.stdout.startswith("TASK-003: Implement Authentication API")

    done = run_script(quickstart, "--complete", "TASK-004")
    assert done.returncode == 0 and done.stdout == "TASK-004 completed.\n"
    refused = run_script(quickstart, "--complete", "TASK-005")
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr == "error: cannot complete TASK-005: it depends on tasks not completed: TASK-003 (ready)\n"

    report = run_script(quickstart, "--report")
    assert report.returncode == 0 and "60.0% complete" in report.stdout and "next task: TASK-003" in report.stdout

    backups = run_script(quickstart, "--list-backups")
    rows = backups.stdout.splitlines()
    assert (
        backups.returncode == 0
        and len(rows) == 6
        and "TASK-004 completed" in rows[0]
        and rows[-1].startswith("00000001")
    )

    unconfirmed = run_script(quickstart, "--rollback", "1")
    assert unconfirmed.returncode == 1 and "pass --yes" in unconfirmed.stderr and "Traceback" not in unconfirmed.stderr
    rolled = run_script(quickstart, "--rollback", "1", "--yes")
    assert rolled.returncode == 0, rolled.stderr
    after = run_script(quickstart, "--list")
    assert [line.split()[1] for line in after.stdout.splitlines()] == [
        "ready",
        "blocked",
        "blocked",
        "blocked",
        "blocked",
    ]

    # The script never closes its orchestrator: the snapshot is still brought up to date at exit.
    state = json.loads((quickstart / ".orchestra" / "project_state.json").read_text())
    assert {t["status"] for t in state["tasks"].values()} == {"pending"}


def test_quickstart_ignores_its_runtime_state() -> None:
    ignore = (SAMPLES / "seed-quickstart" / ".gitignore").read_text().splitlines()
    assert ".orchestra/" in ignore


# -- the seed's exact signatures ---------------------------------------------------------------------


def test_seed_positional_agent_task_and_helpers() -> None:
    seed_style = AgentTask(
        "API-001", "Design Authentication API", "Create REST API...", "claude-code", priority=TaskPriority.CRITICAL
    )
    assert (seed_style.task_id, seed_style.title, seed_style.agent) == (
        "API-001",
        "Design Authentication API",
        "claude-code",
    )
    copy = AgentTask.from_dict(seed_style.to_dict())
    assert copy == seed_style and copy.output_files == []
    assert AgentTask("B", "b", dependencies=["API-001"]).is_ready({"API-001"})
    assert AgentTask("B", "b", dependencies=["API-001"]).is_blocked(set())


def test_seed_complete_task_keeps_output_files_and_notes(orch: ProjectOrchestrator) -> None:
    orch.start_task("A")
    assert orch.complete_task("A", output_files=["docs/DESIGN.md"], notes="reviewed by Ana")
    done = orch.get_task("A")
    assert done.output_files == ["docs/DESIGN.md"] and done.notes == "reviewed by Ana"


def test_seed_errors_are_value_errors(orch: ProjectOrchestrator) -> None:
    """The seed raised ValueError for unknown and duplicate tasks; scripts that catch it keep working."""
    with pytest.raises(ValueError):
        orch.add_task(task("A"))
    with pytest.raises(ValueError):
        orch.complete_task("NOPE")
    with pytest.raises(ValueError):
        orch.complete_task("D")


def test_seed_print_report_and_list_backups_print(
    orch: ProjectOrchestrator, capsys: pytest.CaptureFixture[str]
) -> None:
    orch.complete_task("A")
    orch.print_report()
    out = capsys.readouterr().out
    assert f"Project {orch.project_id}: 25.0% complete" in out and "next task: B" in out
    backups = orch.list_backups()
    out = capsys.readouterr().out
    assert backups[0]["summary"] == "A completed" and "A completed" in out.splitlines()[0]
    assert orch.list_backups(show=False) == backups and capsys.readouterr().out == ""


def test_seed_project_id_names_a_project_without_plan(tmp_path: Path) -> None:
    with ProjectOrchestrator(tmp_path, project_id="calendar-platform") as orchestrator:
        assert orchestrator.project_id == "calendar-platform"
        assert orchestrator.generate_report()["project_id"] == "calendar-platform"
