"""The brief an agent gets: sections, inputs confined to the project root, bounded parts, env expansion."""

from __future__ import annotations

import os
from pathlib import Path

from orchestra_tui.agents.prompt import EXPANDED_FIELDS, expand_task, render_prompt
from orchestra_tui.models import AgentTask, TaskSpec


def full_task(**fields: object) -> AgentTask:
    defaults: dict[str, object] = {
        "description": "Write the lexer for the config language.",
        "priority": "high",
        "phase": "development",
        "tags": ["parser"],
        "success_criteria": ["all tokens recognised", "errors carry line numbers"],
        "deliverables": ["src/lexer.py", "tests/test_lexer.py"],
        "notes": "Keep it dependency-free.",
        "output": "docs/lexer.md",
        "verify": ["pytest -q tests/test_lexer.py"],
        "metadata": {"requirements": ["Python 3.11", "no regex backtracking"]},
    }
    defaults.update(fields)
    return AgentTask("T-7", "Lexer", **defaults)


def test_brief_has_every_section_in_order(tmp_path: Path) -> None:
    prompt = render_prompt(full_task(), root=tmp_path, dependency_outputs={})
    assert prompt.startswith("# Task T-7: Lexer\n\nPriority: high · Phase: development · Tags: parser\n")
    headings = [line for line in prompt.splitlines() if line.startswith("## ")]
    assert headings == ["## Description", "## Requirements", "## Notes", "## Success criteria", "## Deliverables"]
    assert "- Python 3.11\n- no regex backtracking\n" in prompt
    assert "saved to `docs/lexer.md`" in prompt
    assert "`pytest -q tests/test_lexer.py`" in prompt
    assert "- all tokens recognised\n- errors carry line numbers" in prompt
    assert "- `src/lexer.py`\n- `tests/test_lexer.py`" in prompt


def test_empty_parts_are_left_out(tmp_path: Path) -> None:
    prompt = render_prompt(AgentTask("T-1", "Bare"), root=tmp_path, dependency_outputs={})
    assert prompt == "# Task T-1: Bare\n\nPriority: medium · Phase: development\n"


def test_inputs_are_quoted_and_missing_or_outside_files_noted(tmp_path: Path) -> None:
    root = tmp_path / "project"
    (root / "docs").mkdir(parents=True)
    (root / "docs" / "spec.md").write_text("The grammar is LL(1).\n")
    (tmp_path / "secret.txt").write_text("TOP SECRET")
    (root / "escape").symlink_to(tmp_path / "secret.txt")
    task = full_task(
        inputs=["docs/spec.md", "../secret.txt", str(tmp_path / "secret.txt"), "escape", "docs/none.md", "docs"]
    )
    prompt = render_prompt(task, root=root, dependency_outputs={})
    assert "### `docs/spec.md`\n\n```\nThe grammar is LL(1).\n```" in prompt
    assert "TOP SECRET" not in prompt
    assert prompt.count("(refused: the path is outside the project root)") == 3
    assert "### `docs/none.md`\n\n(missing: no such file in the project)" in prompt
    assert "### `docs`\n\n(not a file)" in prompt


def test_absolute_input_inside_the_root_is_read(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("inside")
    prompt = render_prompt(full_task(inputs=[str(tmp_path / "a.txt")]), root=tmp_path, dependency_outputs={})
    assert "```\ninside\n```" in prompt


def test_every_part_is_bounded_with_a_visible_marker(tmp_path: Path) -> None:
    (tmp_path / "big.txt").write_text("a" * 50_000)
    (tmp_path / "exact.txt").write_text("b" * 100)
    task = full_task(description="d" * 300, inputs=["big.txt", "exact.txt"])
    prompt = render_prompt(task, root=tmp_path, dependency_outputs={"T-1": "o" * 5_000}, limit_per_part=100)
    assert "d" * 100 + "\n[... truncated: 200 more characters not shown ...]" in prompt
    assert "d" * 101 not in prompt
    assert (
        "```\n" + "a" * 100 + "\n```\n[... truncated: the first 100 characters of a 50,000-byte file shown ...]"
        in prompt
    )
    assert "a" * 101 not in prompt
    assert (
        "```\n" + "b" * 100 + "\n```\n" in prompt and "b" * 100 + "\n```\n[" not in prompt
    )  # exactly the limit: not cut
    assert "```\n" + "o" * 100 + "\n```\n[... truncated: 4,900 more characters not shown ...]" in prompt
    assert len(prompt) < 2_500


def test_dependency_outputs_in_the_given_order(tmp_path: Path) -> None:
    prompt = render_prompt(
        full_task(), root=tmp_path, dependency_outputs={"T-2": "second answer", "T-1": "first answer", "T-3": " "}
    )
    section = prompt.split("## Outputs of completed dependencies\n\n", 1)[1]
    assert section.index("### T-2") < section.index("### T-1") < section.index("### T-3")
    assert "### T-2\n\n```\nsecond answer\n```" in section
    assert "### T-3\n\n(no output recorded)" in section


def test_quoted_content_cannot_close_its_fence(tmp_path: Path) -> None:
    text = "before\n```\nnot the end\n````\nstill inside"
    prompt = render_prompt(full_task(), root=tmp_path, dependency_outputs={"T-1": text})
    assert f"`````\n{text}\n`````" in prompt


def test_undecodable_input_is_shown_with_replacement_characters(tmp_path: Path) -> None:
    (tmp_path / "bin.dat").write_bytes(b"ok\xff\xfe end")
    prompt = render_prompt(full_task(inputs=["bin.dat"]), root=tmp_path, dependency_outputs={})
    assert "ok\ufffd\ufffd end" in prompt


def test_expand_task_expands_every_string_field_in_a_copy() -> None:
    values = {
        "title": "Build ${APP}",
        "description": "Deploy ${APP} to ${REGION:-eu-west-1}",
        "notes": "Owner: ${OWNER}",
        "output": "out/${APP}.md",
        "commands": ["make ${APP}", "echo ${UNSET_VAR}"],
        "verify": ["test -f out/${APP}.md"],
        "inputs": ["docs/${APP}.md"],
        "deliverables": ["dist/${APP}.whl"],
        "success_criteria": ["${APP} starts"],
    }
    task = AgentTask("T-1", **values)
    env = {"APP": "orchestra", "OWNER": "ana"}
    expanded = expand_task(task, env)
    assert set(values) == set(EXPANDED_FIELDS)
    assert expanded.title == "Build orchestra"
    assert expanded.description == "Deploy orchestra to eu-west-1"
    assert expanded.notes == "Owner: ana"
    assert expanded.output == "out/orchestra.md"
    assert expanded.commands == ["make orchestra", "echo ${UNSET_VAR}"]  # unset stays as written
    assert expanded.verify == ["test -f out/orchestra.md"]
    assert expanded.inputs == ["docs/orchestra.md"]
    assert expanded.deliverables == ["dist/orchestra.whl"]
    assert expanded.success_criteria == ["orchestra starts"]
    assert task.title == "Build ${APP}" and task.commands[0] == "make ${APP}"  # the original is untouched


def test_expand_task_accepts_a_plan_spec_and_keeps_other_fields() -> None:
    spec = TaskSpec(task_id="T-9", title="${X}", dependencies=["T-1"], estimated_hours=3)
    expanded = expand_task(spec, {"X": "expanded"})
    assert isinstance(expanded, AgentTask)
    assert (expanded.title, expanded.dependencies, expanded.estimated_hours) == ("expanded", ["T-1"], 3)


def test_prompt_of_an_expanded_task_reads_the_expanded_input_path(tmp_path: Path) -> None:
    (tmp_path / "notes-prod.md").write_text("prod notes")
    task = expand_task(full_task(inputs=["notes-${STAGE}.md"]), {**os.environ, "STAGE": "prod"})
    assert "prod notes" in render_prompt(task, root=tmp_path, dependency_outputs={})


def test_an_indented_triple_quoted_description_is_dedented(tmp_path: Path) -> None:
    task = AgentTask(
        "T",
        "t",
        """
        Design the architecture.
        REQUIREMENTS:
          1. Components
        """,
    )
    prompt = render_prompt(task, root=tmp_path, dependency_outputs={})
    assert "Design the architecture.\nREQUIREMENTS:\n  1. Components" in prompt
