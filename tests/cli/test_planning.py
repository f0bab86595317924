"""``orchestra plan DOC`` with a real ``cli`` agent (a Python script reading the prompt on stdin): the answer is
validated as the plan file would be, problems go back to the agent, and the person's TOML keeps its comments."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from orchestra_tui.engine.planning import extract_tasks, task_schema

from ..helpers.cli import cli, ok, user_error
from ..helpers.planner import GOOD, project

CYCLE = {"tasks": [{**GOOD["tasks"][0], "dependencies": ["REQ-2"]}, GOOD["tasks"][1]]}


def test_an_invalid_answer_goes_back_to_the_agent_and_the_valid_one_is_added_keeping_comments(tmp_path: Path) -> None:
    root = project(tmp_path, CYCLE, GOOD)
    before = (root / "orchestra.toml").read_text()
    result = json.loads(ok(root, "plan", str(root / "req.md"), "--yes", "--json").stdout)
    assert result["rounds"] == 2 and result["added"] == ["REQ-1", "REQ-2"] and result["written"] is True
    assert result["critical_path"] == ["REQ-1", "REQ-2"] and result["critical_path_hours"] == 4.0
    text = (root / "orchestra.toml").read_text()
    assert text.startswith(before) and "# keep this comment" in text
    assert [task["id"] for task in tomllib.loads(text)["tasks"]] == ["DES-1", "REQ-1", "REQ-2"]
    prompts = (root / "prompts.txt").read_text().split("=====")
    assert "A parser for the config format" in prompts[0] and "DES-1" in prompts[0]  # the document, the ids taken
    assert "dependency cycle REQ-1 -> REQ-2 -> REQ-1" in prompts[1]  # the problem went back


def test_no_valid_plan_within_the_rounds_is_one_line_and_nothing_is_written(tmp_path: Path) -> None:
    root = project(tmp_path, CYCLE)
    before = (root / "orchestra.toml").read_bytes()
    line = user_error(
        root, "plan", str(root / "req.md"), "--repair", "1", "--yes", "--json"
    )  # --json: no answer streamed
    assert line.startswith("error: no valid plan after 2 rounds:") and "dependency cycle" in line
    assert (root / "orchestra.toml").read_bytes() == before
    assert (root / "rounds.txt").read_text() == "2"


def test_an_answer_without_json_and_bad_fields_are_problems_for_the_agent(tmp_path: Path) -> None:
    bad_enum = {"tasks": [{"id": "REQ-1", "title": "x", "priority": "urgent"}]}
    root = project(tmp_path, "I cannot do that.", bad_enum, GOOD)
    assert json.loads(ok(root, "plan", str(root / "req.md"), "--yes", "--json").stdout)["rounds"] == 3
    prompts = (root / "prompts.txt").read_text().split("=====")
    assert "the answer holds no JSON object" in prompts[1]
    assert "task REQ-1: field 'priority'" in prompts[2]


def test_without_a_terminal_it_asks_for_yes_and_writes_nothing(tmp_path: Path) -> None:
    root = project(tmp_path, GOOD)
    before = (root / "orchestra.toml").read_bytes()
    result = cli(root, "plan", str(root / "req.md"))
    assert result.exit_code == 1 and result.stderr.splitlines()[-1].endswith("add --yes")
    assert "```json" in result.stderr  # the answer streamed while it was written
    assert (root / "orchestra.toml").read_bytes() == before
    assert user_error(root, "plan", str(root / "req.md"), "--agent", "nope").startswith("error: unknown agent 'nope'")
    assert user_error(root, "plan", str(root / "missing.md"), "--yes").startswith(
        f"error: cannot read {root / 'missing.md'}"
    )


def test_the_answer_schema_uses_the_plan_files_names() -> None:
    schema = task_schema()["properties"]["tasks"]["items"]
    assert {"id", "title", "dependencies", "parent", "estimated_hours", "success_criteria"} <= set(schema["properties"])
    assert "task_id" not in schema["properties"] and schema["required"] == ["id", "title"]
    assert extract_tasks('noise {"tasks": [{"id": "A", "title": "a"}]} trailing') == [{"id": "A", "title": "a"}]


def test_expand_splits_a_task_into_subtasks_its_dependants_still_wait_for_the_whole(tmp_path: Path) -> None:
    # the agent's own ids ("1", "2") are renumbered under the task, their dependencies follow
    parts = {
        "tasks": [
            {"id": "1", "title": "Lexer", "estimated_hours": 2},
            {"id": "2", "title": "Grammar", "dependencies": ["1"]},
        ]
    }
    root = project(tmp_path, parts)
    with (root / "orchestra.toml").open("a") as plan:
        plan.write(
            '\n[[tasks]]\nid = "DEV-1"\ntitle = "Build the parser"\ndependencies = ["DES-1"]\n'
            '\n[[tasks]]\nid = "QA-1"\ntitle = "Release"\ndependencies = ["DEV-1"]\n'
        )
    result = json.loads(ok(root, "expand", "DEV-1", "--into", "3", "--yes", "--json").stdout)
    assert result["added"] == ["DEV-1.1", "DEV-1.2"]
    tasks = {task["id"]: task for task in tomllib.loads((root / "orchestra.toml").read_text())["tasks"]}
    assert tasks["DEV-1.1"]["parent"] == "DEV-1" and tasks["DEV-1.2"]["dependencies"] == ["DEV-1.1"]
    assert (
        "Split task DEV-1" in (root / "prompts.txt").read_text()
        and "Build the parser" in (root / "prompts.txt").read_text()
    )
    ok(root, "complete", "DES-1")
    detail = json.loads(ok(root, "show", "DEV-1", "--json").stdout)
    assert detail["subtasks"] == ["DEV-1.1", "DEV-1.2"] and detail["derived_status"] == "blocked"
    assert json.loads(ok(root, "show", "QA-1", "--json").stdout)["waiting_on"] == ["DEV-1"]
    assert user_error(root, "expand", "NOPE", "--yes").startswith("error: unknown task 'NOPE'")
