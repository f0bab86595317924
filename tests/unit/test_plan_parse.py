"""The plan's TOML is parsed by tomli (compiled) and, when it refuses a file, by tomllib, whose error is shown."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import tomli

from orchestra_tui.errors import PlanError
from orchestra_tui.plan import PLAN_FILE, load_plan

PLAN = """\
[project]
id = "parse"
name = "Pärse \\u00e9 \\"quoted\\""

[agents.claude]
type = "anthropic"
headers = { "X-A" = "1", b = "two" }

[[tasks]]
id = "A"
title = 'literal \\ string'
description = \"\"\"
Two lines,\\
 joined; and "quotes".\"\"\"
estimated_hours = 1.5e0
metadata = { when = 2026-12-03T07:00:00Z, day = 2026-12-03, n = 0x1F, inf = inf, list = [1, [2, 3]] }

[[tasks]]
id = "B"
title = "b"
dependencies = ["A"]
tags = [ "x", 'y', ]  # a comment
"""


def test_a_valid_plan_is_parsed_by_tomli_as_tomllib_parses_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / PLAN_FILE).write_text(PLAN, encoding="utf-8")
    assert tomli.loads(PLAN) == tomllib.loads(PLAN)

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("tomllib parsed a file tomli accepts")

    monkeypatch.setattr(tomllib, "loads", refuse)
    plan = load_plan(tmp_path, environ={})
    assert [task.task_id for task in plan.tasks] == ["A", "B"]
    assert plan.tasks[0].description == 'Two lines,joined; and "quotes".'
    assert plan.project.name == 'Pärse é "quoted"'


@pytest.mark.parametrize(
    "text",
    [
        '[project\nid = "x"\n',
        '[project]\nid = "x"\n[[tasks]\nid = "A"\n',
        '[project]\nid = "x"\nname = "\\uD800"\n',
        '[project]\nid = "x"\nid = "y"\n',
        '[project]\nid = "x"\nname = """never closed\n',
        '[project]\nid = "x"\n[[tasks]]\nid = "A"\ntitle = "a"\nmetadata = { a = 1,\n b = 2 }\n',  # TOML 1.1 only
    ],
)
def test_a_refused_file_gets_tomllibs_error(tmp_path: Path, text: str) -> None:
    (tmp_path / PLAN_FILE).write_text(text, encoding="utf-8")
    with pytest.raises(tomllib.TOMLDecodeError) as expected:
        tomllib.loads(text)
    message = str(expected.value)
    with pytest.raises(PlanError) as info:
        load_plan(tmp_path, environ={})
    (line,) = info.value.problems
    assert line.startswith(f"{tmp_path / PLAN_FILE}:") or line.startswith(f"{PLAN_FILE}:"), line
    assert "invalid TOML: " + message.split(" (at ")[0] in line, (line, message)


def test_a_refusal_by_tomli_alone_would_still_be_tomllibs_to_judge(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever tomli says, the standard library has the last word: a file it reads loads."""
    (tmp_path / PLAN_FILE).write_text(PLAN, encoding="utf-8")

    def refuse(text: str) -> None:
        raise tomli.TOMLDecodeError("refused", text, 0)

    monkeypatch.setattr(tomli, "loads", refuse)
    assert [task.task_id for task in load_plan(tmp_path, environ={}).tasks] == ["A", "B"]
