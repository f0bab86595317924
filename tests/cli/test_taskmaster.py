"""``orchestra import taskmaster`` over the 40 real files of ``../shared/corpus/taskmaster`` and bad inputs;
subtasks (the ``parent`` field) in the graph, the CLI and the TUI's detail."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from orchestra_tui.engine.project import Project
from orchestra_tui.graph import TaskGraph, dependency_problems
from orchestra_tui.interop.taskmaster import read_taskmaster
from orchestra_tui.models import AgentTask

from ..helpers.cli import cli, ok, user_error
from ..helpers.plans import REPO, write_plan

SHARED = next(
    (path for path in (REPO.parent / "shared", REPO.parents[1] / "shared") if path.is_dir()), REPO.parent / "shared"
)
CORPUS = SHARED / "corpus" / "taskmaster"
INDEX = (
    list(csv.DictReader((CORPUS / "INDEX.tsv").open(encoding="utf-8"), delimiter="\t"))
    if (CORPUS / "INDEX.tsv").is_file()
    else []
)


def test_the_corpus_is_there() -> None:
    assert len(INDEX) == 40, f"expected the 40-file corpus at {CORPUS}"


@pytest.mark.parametrize("row", INDEX, ids=[row["file"][:2] for row in INDEX])
def test_every_corpus_file_imports_losing_nothing(tmp_path: Path, row: dict[str, str]) -> None:
    source = CORPUS / row["file"]
    result = ok(tmp_path, "import", "taskmaster", str(source), "--all-tags", "--json")
    summary = json.loads(result.stdout)
    tasks, subtasks, entries = int(row["tasks"]), int(row["subtasks"]), int(row["dependencies"])
    assert (summary["tasks"], summary["subtasks"]) == (tasks, subtasks)
    # Every dependency entry of the file is either kept (perhaps re-interpreted) or reported as dropped.
    assert summary["dependencies"] + len(summary["dropped"]) == entries
    assert all(set(item) == {"task", "dependency", "why"} and item["why"] for item in summary["dropped"])
    assert sum(summary["statuses"].values()) == tasks + subtasks
    with Project.open(tmp_path, actor="cli") as project:
        assert len(project.tasks) == tasks + subtasks
        assert sum(len(task.dependencies) for task in project.tasks.values()) == summary["dependencies"]
        assert sum(task.parent is not None for task in project.tasks.values()) == subtasks
        counts = {
            status: sum(task.status == status for task in project.tasks.values()) for status in summary["statuses"]
        }
        assert counts == summary["statuses"]
        # details -> notes and testStrategy -> success_criteria, for every task and subtask that has them
        written = _raw_tasks(json.loads(source.read_text(encoding="utf-8-sig")))
        for key, kept in (("details", lambda t: t.notes), ("testStrategy", lambda t: "".join(t.success_criteria))):
            assert sorted(t[key] for t in written if isinstance(t.get(key), str) and t[key].strip()) == sorted(
                kept(task) for task in project.tasks.values() if kept(task)
            )
        assert all(task.metadata["taskmaster"]["tag"] in summary["tags"] for task in project.tasks.values())


def _raw_tasks(doc: object) -> list[dict]:
    """Every task and subtask object in a tasks.json, at any depth."""
    found: list[dict] = []
    stack = [doc]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if "id" in node and ("title" in node or "description" in node):
                found.append(node)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def test_details_and_test_strategy_reach_the_prompt(tmp_path: Path) -> None:
    from orchestra_tui.agents.prompt import render_prompt

    source = CORPUS / "30-2040147482__GatherGo.json"
    ok(tmp_path, "import", "taskmaster", str(source))
    raw = json.loads(source.read_text(encoding="utf-8"))["tasks"][0]
    with Project.open(tmp_path) as project:
        prompt = render_prompt(project.task("1"), root=tmp_path, dependency_outputs={})
        sub = project.task("1.2")
    assert raw["details"].strip()[:40] in prompt and raw["testStrategy"].strip()[:40] in prompt
    assert sub.parent == "1" and sub.dependencies == ["1.1"]


def test_one_tag_by_default_and_a_note_about_the_others(tmp_path: Path) -> None:
    result = ok(tmp_path, "import", "taskmaster", str(CORPUS / "01-eyaltoledano__claude-task-master.json"))
    assert "note: imported tag master of master, test-tag, cc-kiro-hooks" in result.stdout
    data = tomllib.loads((tmp_path / "orchestra.toml").read_text())
    assert len([t for t in data["tasks"] if "parent" not in t]) == 103
    other = tmp_path / "other"
    other.mkdir()
    summary = json.loads(
        ok(
            other,
            "import",
            "taskmaster",
            str(CORPUS / "01-eyaltoledano__claude-task-master.json"),
            "--tag",
            "test-tag",
            "--json",
        ).stdout
    )
    assert summary["tags"] == ["test-tag"] and summary["tasks"] == 1
    # the dangling dependency of that tag, reported with its reason
    assert summary["dropped"] == [{"task": "1", "dependency": "16", "why": "no task 16 in tag test-tag"}]
    assert user_error(
        other, "import", "taskmaster", str(CORPUS / "21-Galaxybigbird__QT-MT5-2.5.json"), "--tag", "nope"
    ).endswith("no tag 'nope'; its tags: quantower")


def test_ambiguous_sibling_dependencies_follow_the_rule_and_are_reported(tmp_path: Path) -> None:
    result = ok(tmp_path, "import", "taskmaster", str(CORPUS / "08-5yearsKim__ApplyCrypto.json"))
    lines = result.stdout.splitlines()
    # 10.1 depends on [3,4,5,6,7]; its parent task 10 on [3,4,7,8]: as siblings 3, 4 and 7 close cycles, so they
    # are read as the tasks the parent depends on; 5 and 6 stay siblings.
    assert any(
        line.startswith("re-interpreted: task 10.1: dependency 3 read as task 3: as sibling 10.3 it closes the cycle")
        for line in lines
    )
    assert any(line.startswith("dropped: task 10.5: dependency 1: it closes the dependency cycle") for line in lines)
    with Project.open(tmp_path) as project:
        assert project.task("10.1").dependencies == ["3", "4", "10.5", "10.6", "7"]
        assert project.task("10.1").metadata["taskmaster"]["dependencies"] == [3, 4, 5, 6, 7]  # as written


def test_duplicate_subtask_ids_are_renamed_and_reported(tmp_path: Path) -> None:
    result = ok(tmp_path, "import", "taskmaster", str(CORPUS / "35-traceme__hezm-smartchat.json"))
    assert "renamed: task 8.1-2: id 8.1 is used by an earlier task of tag master" in result.stdout
    with Project.open(tmp_path) as project:
        assert project.task("8.1-2").metadata["taskmaster"]["id"] == 8.1  # as written (a float)


def test_statuses_are_one_undoable_entry(tmp_path: Path) -> None:
    ok(tmp_path, "import", "taskmaster", str(CORPUS / "13-1rokoko__hotel-boost.json"))
    with Project.open(tmp_path) as project:
        entry = project.history()[-1]
        assert entry.action == "import" and "completed" in entry.summary
        completed = sum(task.status == "completed" for task in project.tasks.values())
        assert completed > 0
    ok(tmp_path, "undo")
    with Project.open(tmp_path) as project:
        assert {task.status for task in project.tasks.values()} == {"pending"}


def test_unknown_statuses_become_tags_and_metadata(tmp_path: Path) -> None:
    ok(tmp_path, "import", "taskmaster", str(CORPUS / "32-GARFEX33__flow-logic-service.json"))
    with Project.open(tmp_path) as project:
        deferred = [task for task in project.tasks.values() if task.metadata["taskmaster"].get("status") == "deferred"]
    assert deferred and all(task.status == "pending" and "deferred" in task.tags for task in deferred)


def test_a_parent_cannot_complete_before_its_subtasks(tmp_path: Path) -> None:
    ok(tmp_path, "import", "taskmaster", str(CORPUS / "14-Ancienttwo__Astro3.json"))
    assert (
        user_error(tmp_path, "complete", "1")
        == "error: cannot complete 1: its subtasks are not completed: 1.1 (ready), 1.2 (ready)"
    )
    shown = ok(tmp_path, "show", "1").stdout
    assert "subtasks" in shown and "1.1 (ready), 1.2 (ready)" in shown
    detail = json.loads(ok(tmp_path, "show", "1", "--json").stdout)
    assert detail["subtasks"] == ["1.1", "1.2"]
    ok(tmp_path, "complete", "1.1")
    ok(tmp_path, "complete", "1.2")
    assert "1 completed" in ok(tmp_path, "complete", "1").stdout


def test_a_subtask_waits_for_what_its_parent_waits_for() -> None:
    tasks = [
        AgentTask(task_id="A", title="a"),
        AgentTask(task_id="B", title="b", dependencies=["A"]),
        AgentTask(task_id="B.1", title="b1", parent="B"),
        AgentTask(task_id="B.2", title="b2", parent="B", dependencies=["B.1"]),
    ]
    graph = TaskGraph.build(tasks)
    assert graph.status_of("B.1") == "blocked" and graph.waiting_on("B.1") == ["A"]
    assert graph.waiting_on("B") == ["A", "B.1", "B.2"] and graph.children("B") == ["B.1", "B.2"]
    graph.set_status("A", "completed")
    assert graph.status_of("B.1") == "ready" and graph.status_of("B") == "blocked"
    # a subtask depending on its parent closes a cycle; an unknown or self parent is a problem of its own
    assert [p.kind for p in dependency_problems([("P", []), ("C", ["P"])], {"C": "P"})] == ["cycle"]
    assert dependency_problems([("C", [])], {"C": "nope"})[0].kind == "parent"


def test_plan_validation_names_a_bad_parent(tmp_path: Path) -> None:
    write_plan(tmp_path, '[[tasks]]\nid = "A"\ntitle = "a"\nparent = "Z"\n')
    result = cli(tmp_path, "validate")
    assert result.exit_code == 1
    assert "orchestra.toml:8: task A: field 'parent': unknown task 'Z'" in result.stderr


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "empty file, not a Taskmaster tasks.json"),
        (b"  \n", "empty file, not a Taskmaster tasks.json"),
        (
            b'{"tasks": [\n<<<<<<< HEAD\n{"id": 1}\n=======\n{"id": 2}\n>>>>>>> branch\n]}',
            ":2: git merge-conflict markers (<<<<<<<)",
        ),
        (
            b'{"master": {"tasks": []}}\n{"master": {"tasks": []}}\n',
            ":2:1: a second JSON document starts here; a tasks.json holds one",
        ),
        (
            b'{"name": "pkg", "version": "1.0.0", "dependencies": {}}',
            "not a Taskmaster tasks.json: no tag holds a 'tasks' list (top-level keys: name, version, dependencies",
        ),
        (
            b'{"version": 2, "format_version": 2, "tasks": {"T-1": {"title": "x"}}}',
            "not a Taskmaster tasks.json: 'tasks' is a JSON dict",
        ),
        (b"[1, 2, 3]", "not a Taskmaster tasks.json: an array, but not of tasks with ids"),
        (b'{"tasks": [{"id": 1,}]}', ":1:21: not JSON: Expecting property name"),
        (b"\xff\xfe{}", "not UTF-8 text"),
    ],
)
def test_not_a_taskmaster_file_is_one_line_and_writes_nothing(tmp_path: Path, content: bytes, expected: str) -> None:
    source = tmp_path / "tasks.json"
    source.write_bytes(content)
    project = tmp_path / "project"
    project.mkdir()
    line = user_error(project, "import", "taskmaster", str(source))
    assert expected in line, line
    assert list(project.iterdir()) == []


def test_an_existing_plan_is_never_overwritten_and_merge_keeps_comments(tmp_path: Path) -> None:
    plan = write_plan(tmp_path, '# my own comment\n[[tasks]]\nid = "MINE"   # keep this\ntitle = "Mine"\n')
    source = CORPUS / "26-Gamepig__NexusGaming.json"
    before = plan.read_bytes()
    assert "add --merge" in user_error(tmp_path, "import", "taskmaster", str(source))
    assert plan.read_bytes() == before
    assert "add --yes" in user_error(tmp_path, "import", "taskmaster", str(source), "--merge")  # no terminal to ask
    assert plan.read_bytes() == before
    result = ok(tmp_path, "import", "taskmaster", str(source), "--merge", "--yes")
    assert "orchestra.toml: 11 tasks added, 0 changed, 0 unchanged" in result.stdout
    text = plan.read_text()
    assert text.startswith(before.decode()) and "# keep this" in text
    again = ok(tmp_path, "import", "taskmaster", str(source), "--merge", "--yes")
    assert "0 tasks added, 0 changed, 11 unchanged" in again.stdout and plan.read_text() == text
    with Project.open(tmp_path) as project:
        assert len(project.tasks) == 12


def test_a_re_import_follows_the_file_and_keeps_what_a_person_added(tmp_path: Path) -> None:
    source = tmp_path / "tasks.json"
    first = {"tasks": [{"id": 1, "title": "one"}, {"id": 2, "title": "two", "dependencies": [1], "details": "how"}]}
    source.write_text(json.dumps(first))
    project = tmp_path / "project"
    project.mkdir()
    ok(project, "import", "taskmaster", str(source))
    plan = project / "orchestra.toml"
    plan.write_text(plan.read_text().replace('title = "two"', 'title = "two"\nagent = "shell"   # mine'))
    source.write_text(
        json.dumps({"tasks": [{"id": 1, "title": "one"}, {"id": 2, "title": "two, again", "dependencies": []}]})
    )
    assert (
        "0 tasks added, 1 changed, 1 unchanged"
        in ok(project, "import", "taskmaster", str(source), "--merge", "--yes").stdout
    )
    task = next(t for t in tomllib.loads(plan.read_text())["tasks"] if t["id"] == "2")
    assert task["title"] == "two, again" and "dependencies" not in task and "notes" not in task  # gone from the file
    assert task["agent"] == "shell" and "# mine" in plan.read_text()  # the person's key and comment stay


def test_merge_refuses_what_would_not_validate(tmp_path: Path) -> None:
    # the person's X is a subtask of 1 waiting on 2; the import makes 2 wait on 1: 1 -> X -> 2 -> 1
    plan = write_plan(tmp_path, '[[tasks]]\nid = "X"\ntitle = "Mine"\nparent = "1"\ndependencies = ["2"]\n')
    source = tmp_path / "tasks.json"
    source.write_text(
        json.dumps({"tasks": [{"id": 1, "title": "one"}, {"id": 2, "title": "two", "dependencies": [1]}]})
    )
    before = plan.read_bytes()
    line = user_error(tmp_path, "import", "taskmaster", str(source), "--merge", "--yes")
    assert "dependency cycle" in line
    assert plan.read_bytes() == before


def test_generated_ids_are_valid_and_nested_subtasks_keep_their_parent() -> None:
    imported = read_taskmaster(CORPUS / "18-5dlabs__taskmaster-sync.json")
    by_id = {task["task_id"]: task for task in imported.tasks}
    nested = [task for task in imported.tasks if task.get("parent") and by_id[task["parent"]].get("parent")]
    assert len(nested) == 2
    for task in imported.tasks:
        AgentTask.model_validate(task)


# ------------------------------------------------------------------------------------------ export


def _definitions(imported: object) -> dict[str, dict]:
    """What a round trip must keep: every task's definition and status (the original dependency list aside)."""
    result = {}
    for spec in imported.tasks:  # type: ignore[attr-defined]
        task = AgentTask.model_validate(spec)
        meta = {key: value for key, value in task.metadata["taskmaster"].items() if key != "dependencies"}
        result[task.task_id] = {
            **task.model_dump(
                include={
                    "title",
                    "description",
                    "notes",
                    "success_criteria",
                    "parent",
                    "dependencies",
                    "priority",
                    "estimated_hours",
                    "tags",
                }
            ),
            "meta": meta,
            "status": imported.statuses[task.task_id],
        }  # type: ignore[attr-defined]
    return result


@pytest.mark.parametrize("row", INDEX, ids=[row["file"][:2] for row in INDEX])
def test_import_export_import_round_trips(tmp_path: Path, row: dict[str, str]) -> None:
    from orchestra_tui.interop.taskmaster_export import export_taskmaster

    first = read_taskmaster(CORPUS / row["file"], all_tags=True)
    tasks = [AgentTask.model_validate({**spec, "status": first.statuses[spec["task_id"]]}) for spec in first.tasks]
    exported = tmp_path / "tasks.json"
    exported.write_text(export_taskmaster(tasks), encoding="utf-8")
    second = read_taskmaster(exported, all_tags=True)
    assert second.dropped == [] and second.reinterpreted == []
    assert _definitions(second) == _definitions(first)


def test_export_writes_where_told_and_never_over_a_file(tmp_path: Path) -> None:
    ok(tmp_path, "import", "taskmaster", str(CORPUS / "26-Gamepig__NexusGaming.json"))
    assert "wrote 11 tasks to" in ok(tmp_path, "export", "taskmaster").stdout
    written = tmp_path / ".taskmaster" / "tasks" / "tasks.json"
    before = written.read_bytes()
    assert "add --force" in user_error(tmp_path, "export", "taskmaster")
    assert written.read_bytes() == before
    with Project.open(tmp_path) as project:
        first_sub = next(
            task for task in project.tasks.values() if task.parent and project.graph.status_of(task.task_id) == "ready"
        )
    ok(tmp_path, "complete", first_sub.task_id)
    ok(tmp_path, "export", "taskmaster", "--force")
    doc = json.loads(written.read_text())
    parent = next(task for task in doc["master"]["tasks"] if str(task["id"]) == first_sub.parent)
    assert (
        next(sub for sub in parent["subtasks"] if str(sub["id"]) == first_sub.metadata["taskmaster"]["id"])["status"]
        == "done"
    )
    assert json.loads(ok(tmp_path, "export", "taskmaster", "-").stdout)["master"]["tasks"] == doc["master"]["tasks"]


def test_export_follows_no_symlink_out_of_the_project(tmp_path: Path) -> None:
    project, outside = tmp_path / "project", tmp_path / "outside"
    project.mkdir()
    outside.mkdir()
    ok(project, "import", "taskmaster", str(CORPUS / "26-Gamepig__NexusGaming.json"))
    (project / ".taskmaster").symlink_to(outside)
    assert "leads outside the project through a symlink" in user_error(project, "export", "taskmaster")
    (project / "tasks.json").symlink_to(outside / "tasks.json")
    assert "is a symlink" in user_error(project, "export", "taskmaster", "tasks.json")
    assert list(outside.iterdir()) == []


TASK_MASTER = shutil.which("task-master")


@pytest.mark.skipif(TASK_MASTER is None, reason="the real task-master CLI (npm task-master-ai) is installed by .ci/run")
def test_the_real_task_master_reads_the_export(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    ok(project, "import", "taskmaster", str(CORPUS / "08-5yearsKim__ApplyCrypto.json"))
    ok(project, "undo")  # back to pending, so the statuses written are not all "done"
    ok(project, "complete", "1.1")
    ok(project, "export", "taskmaster")
    home = tmp_path / "home"
    home.mkdir()
    # Offline and without keys: a bare environment with a temporary HOME.
    env = {"HOME": str(home), "PATH": os.environ["PATH"], "NO_COLOR": "1", "CI": "1"}
    result = subprocess.run(
        [TASK_MASTER, "list", "--with-subtasks", "--json", "-p", str(project)],
        env=env,
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    # (on a first run it may print a notice box after the JSON)
    listed = json.JSONDecoder().raw_decode(result.stdout[result.stdout.index("{") :])[0]["tasks"]
    with Project.open(project) as opened:
        top = [task for task in opened.tasks.values() if task.parent is None]
        assert sorted((str(t["id"]), t["title"]) for t in listed) == sorted((task.task_id, task.title) for task in top)
        first = next(t for t in listed if str(t["id"]) == "1")
        subtasks = {str(s["id"]): s["status"] for s in first["subtasks"]}
        assert subtasks["1"] == "done" and subtasks["2"] == "pending"
        assert len(first["subtasks"]) == len(opened.graph.children("1"))
    text = subprocess.run(
        [TASK_MASTER, "list", "-p", str(project)], env=env, cwd=project, capture_output=True, text=True, timeout=120
    ).stdout
    assert "Configuration Manager" in text


@pytest.mark.parametrize("row", INDEX, ids=[row["file"][:2] for row in INDEX])
def test_the_written_plan_reads_back_as_the_data_that_primes_the_parse_cache(
    tmp_path: Path, row: dict[str, str]
) -> None:
    from orchestra_tui.engine.plan_edit import new_plan
    from orchestra_tui.interop.taskmaster import project_settings

    source = CORPUS / row["file"]
    edit = new_plan(project_settings(tmp_path, source), read_taskmaster(source, all_tags=True).tasks, "header")
    assert tomllib.loads(edit.text) == edit.data
