"""Tests of orchestra_tui.plan: reading, validating and caching orchestra.toml (docs/ARCHITECTURE.md C2, C3, C5)."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import textwrap
import tomllib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestra_tui.errors import PlanError
from orchestra_tui.models import AgentType, TaskPriority
from orchestra_tui.plan import (
    PLAN_FILE,
    SEED_CONFIG_FILE,
    Plan,
    expand_env,
    find_plan,
    load_plan,
    plan_schema,
    starter_plan,
    validate,
)
from orchestra_tui.plan.loader import CHECKED_BY

HEAD = '[project]\nid = "demo"\n'


# ------------------------------------------------------------------------------------------ helpers


def big_plan(n: int, *, agent: bool = True) -> str:
    """A valid plan of ``n`` tasks: a chain plus a fan-in to i // 2, multi-line descriptions."""
    out = ['[project]\nid = "big"\nname = "Big"\n']
    if agent:
        out.append('[agents.claude]\ntype = "anthropic"\napi_key_env = "ANTHROPIC_API_KEY"\n')
    priorities = ["low", "medium", "high", "critical"]
    for i in range(n):
        deps = ", ".join(f'"T-{j}"' for j in sorted({i - 1, i // 2}) if 0 <= j < i)
        out.append(
            f'[[tasks]]\nid = "T-{i}"\ntitle = "Task {i}"\n'
            f'description = """\nDo thing {i}.\n"""\n'
            f'priority = "{priorities[i % 4]}"\ndependencies = [{deps}]\n'
            f'estimated_hours = {1 + i % 5}\ndeliverables = ["out/{i}.txt"]\n'
            f'commands = ["echo {i} > out/{i}.txt"]\ntags = ["t{i % 7}"]\n'
        )
    return "\n".join(out)


def write(root: Path, text: str, name: str = PLAN_FILE) -> Path:
    path = root / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems_of(root: Path, **kwargs) -> list[str]:
    kwargs.setdefault("environ", {})
    with pytest.raises(PlanError) as info:
        load_plan(root, **kwargs)
    problems = info.value.problems
    assert problems, "a PlanError must list its problems"
    for line in problems:
        assert "\n" not in line and "Traceback" not in line
    return problems


def only(problems: list[str], needle: str) -> str:
    hits = [line for line in problems if needle in line]
    assert len(hits) == 1, (needle, problems)
    return hits[0]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project directory that is also the cwd, so files are shown as plain `orchestra.toml`."""
    root = tmp_path / "my-proj"
    root.mkdir()
    monkeypatch.chdir(root)
    return root


# ---------------------------------------------------------------------------------- malformed TOML


def test_malformed_toml_line_and_column(project: Path) -> None:
    write(project, '[project]\nid = "demo"\nname = nope\n')
    (line,) = problems_of(project)
    assert line.startswith("orchestra.toml:3:8: invalid TOML: ")
    assert "(at line" not in line


def test_malformed_toml_at_end_of_document(project: Path) -> None:
    write(project, '[project]\nid = "demo\n')
    (line,) = problems_of(project)
    assert line.startswith("orchestra.toml:")
    assert "invalid TOML" in line and "Traceback" not in line


def test_not_utf8(project: Path) -> None:
    (project / PLAN_FILE).write_bytes(b'[project]\nid = "d\xffemo"\n')
    (line,) = problems_of(project)
    assert line.startswith("orchestra.toml:2:") and "not UTF-8" in line


def test_file_outside_cwd_is_shown_as_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    root = tmp_path / "proj"
    root.mkdir()
    monkeypatch.chdir(elsewhere)
    write(root, "[project\n")
    (line,) = problems_of(root)
    assert line.startswith(f"{root / PLAN_FILE}:1:")


def test_file_in_subdirectory_of_cwd_is_relative(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "proj"
    root.mkdir()
    monkeypatch.chdir(tmp_path)
    write(root, "[project\n")
    (line,) = problems_of(root)
    assert line.startswith("proj/orchestra.toml:1:")


# ------------------------------------------------------------------------------------- unknown keys


def test_unknown_task_key_with_suggestion(project: Path) -> None:
    write(
        project,
        HEAD + '\n[[tasks]]\nid = "T-1"\ntitle = "a"\n\n[[tasks]]\nid = "T-2"\ntitle = "b"\nprioirty = "high"\n',
    )
    (line,) = problems_of(project)
    assert line == "orchestra.toml:11: task T-2: unknown key 'prioirty' (did you mean 'priority'?)"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[project]\nid = "demo"\nparalel_max = 2\n',
            "orchestra.toml:3: project: unknown key 'paralel_max' (did you mean 'parallel_max'?)",
        ),
        (
            HEAD + '[agents.claude]\ntype = "anthropic"\nmodle = "m"\n',
            "orchestra.toml:5: agent claude: unknown key 'modle' (did you mean 'model'?)",
        ),
        (
            HEAD + '[[webhooks]]\nurl = "http://x"\nevent = ["rollback"]\n',
            "orchestra.toml:5: webhook #1: unknown key 'event' (did you mean 'events'?)",
        ),
        (HEAD + '[[task]]\nid = "T-1"\ntitle = "a"\n', "orchestra.toml:3: unknown key 'task' (did you mean 'tasks'?)"),
        (HEAD + '[[tasks]]\nid = "T-1"\ntitle = "a"\nzzz = 1\n', "orchestra.toml:6: task T-1: unknown key 'zzz'"),
    ],
)
def test_unknown_keys_everywhere(project: Path, text: str, expected: str) -> None:
    assert problems_of_text(project, text) == [expected]


def problems_of_text(root: Path, text: str) -> list[str]:
    (root / PLAN_FILE).write_text(text, encoding="utf-8")
    return problems_of(root)


def test_id_and_task_id_both_given(project: Path) -> None:
    problems = problems_of_text(project, HEAD + '[[tasks]]\nid = "T-1"\ntask_id = "T-1"\ntitle = "a"\n')
    assert problems == ["orchestra.toml:5: task T-1: both 'id' and 'task_id' are given; keep only 'id'"]


def test_task_id_alias_accepted(project: Path) -> None:
    (project / PLAN_FILE).write_text(HEAD + '[[tasks]]\ntask_id = "T-1"\ntitle = "a"\n')
    plan = load_plan(project, environ={})
    assert [task.task_id for task in plan.tasks] == ["T-1"]


# ----------------------------------------------------------------------------- values, types, missing


def test_bad_enum_lists_allowed_values(project: Path) -> None:
    problems = problems_of_text(
        project, HEAD + '[[tasks]]\nid = "T-1"\ntitle = "a"\n\npriority = "urgent"\nphase = "qa"\n'
    )
    assert only(problems, "'priority'") == (
        "orchestra.toml:7: task T-1: field 'priority': invalid value 'urgent' (allowed: critical, high, medium, low)"
    )
    assert only(problems, "'phase'") == (
        "orchestra.toml:8: task T-1: field 'phase': invalid value 'qa' "
        "(allowed: planning, design, development, testing, deployment, maintenance)"
    )


def test_bad_agent_type_and_webhook_event(project: Path) -> None:
    problems = problems_of_text(
        project, HEAD + '[agents.x]\ntype = "anthropc"\n\n[[webhooks]]\nurl = "http://h"\nevents = ["task_done"]\n'
    )
    assert only(problems, "agent x") == (
        "orchestra.toml:4: agent x: field 'type': invalid value 'anthropc' "
        "(did you mean 'anthropic'?) (allowed: anthropic, openai, gemini, ollama, http, shell, cli, "
        "interactive, python)"
    )
    assert only(problems, "webhook").startswith(
        "orchestra.toml:8: webhook #1: field 'events[0]': invalid value 'task_done' (did you mean "
        "'task_completed'?) (allowed: task_started,"
    )


@pytest.mark.parametrize("hours", ["0", "-2", "-0.5"])
def test_non_positive_hours(project: Path, hours: str) -> None:
    problems = problems_of_text(project, HEAD + f'[[tasks]]\nid = "T-1"\ntitle = "a"\nestimated_hours = {hours}\n')
    assert problems == [f"orchestra.toml:6: task T-1: field 'estimated_hours': must be greater than 0 (got {hours})"]


def test_wrong_types(project: Path) -> None:
    problems = problems_of_text(
        project,
        '[project]\nid = "demo"\nparallel_max = "many"\nauto_complete = "yes please"\n'
        '[[tasks]]\nid = "T-1"\ntitle = 5\ndependencies = "T-0"\n',
    )
    assert only(problems, "'title'") == "orchestra.toml:7: task T-1: field 'title': expected a string, got integer 5"
    assert only(problems, "'dependencies'") == (
        "orchestra.toml:8: task T-1: field 'dependencies': expected an array, got string 'T-0'"
    )
    assert only(problems, "parallel_max").startswith(
        "orchestra.toml:3: project: field 'parallel_max': expected an integer"
    )
    assert only(problems, "auto_complete").startswith(
        "orchestra.toml:4: project: field 'auto_complete': expected true or false"
    )


def test_parallel_max_range(project: Path) -> None:
    problems = problems_of_text(project, '[project]\nid = "demo"\nparallel_max = 0\n')
    assert problems == ["orchestra.toml:3: project: field 'parallel_max': must be at least 1 (got 0)"]


def test_missing_required_fields(project: Path) -> None:
    problems = problems_of_text(
        project, '[project]\nname = "Demo"\n\n[[tasks]]\nid = "T-1"\n\n[[tasks]]\ntitle = "no id"\n'
    )
    assert only(problems, "project") == "orchestra.toml:1: project: field 'id': required field missing"
    assert only(problems, "T-1") == "orchestra.toml:4: task T-1: field 'title': required field missing"
    assert only(problems, "task #2") == "orchestra.toml:7: task #2: field 'id': required field missing"


def test_invalid_task_id(project: Path) -> None:
    problems = problems_of_text(project, HEAD + '[[tasks]]\nid = "bad id"\ntitle = "a"\n')
    assert problems[0].startswith("orchestra.toml:4: task bad id: field 'id': invalid id 'bad id'")


def test_task_that_is_not_a_table(project: Path) -> None:
    problems = problems_of_text(project, 'tasks = ["T-1"]\n' + HEAD)
    assert problems == ["orchestra.toml:1: task #1: a [[tasks]] entry must be a table, got string 'T-1'"]


def test_key_after_project_header_belongs_to_project(project: Path) -> None:
    problems = problems_of_text(project, HEAD + 'tasks = ["T-1"]\n')
    assert problems == ["orchestra.toml:3: project: unknown key 'tasks'"]


def test_missing_project_table(project: Path) -> None:
    problems = problems_of_text(project, '[[tasks]]\nid = "T-1"\ntitle = "a"\n')
    assert problems == ['orchestra.toml: missing [project] table (it needs at least: id = "...")']


def test_project_not_a_table(project: Path) -> None:
    problems = problems_of_text(project, 'project = "demo"\n')
    assert problems == ["orchestra.toml:1: project: [project] must be a table, got string 'demo'"]


# ------------------------------------------------------------------------------ cross-task checks


def test_duplicate_ids(project: Path) -> None:
    problems = problems_of_text(
        project, HEAD + '[[tasks]]\nid = "T-1"\ntitle = "a"\n\n[[tasks]]\nid = "T-1"\ntitle = "b"\n'
    )
    assert problems == ["orchestra.toml:8: task T-1: duplicate id 'T-1' (first defined at line 4)"]


def test_dependency_problems_of_a_duplicated_task_point_at_the_right_entry(project: Path) -> None:
    problems = problems_of_text(
        project,
        HEAD + '[[tasks]]\nid = "A"\ntitle = "a"\n\n[[tasks]]\nid = "A"\ntitle = "b"\ndependencies = ["A", "B"]\n',
    )
    assert problems == [
        "orchestra.toml:8: task A: duplicate id 'A' (first defined at line 4)",
        "orchestra.toml:10: task A: field 'dependencies': a task cannot depend on itself",
        "orchestra.toml:10: task A: field 'dependencies': unknown task 'B'",
    ]


def test_unknown_dependency_with_suggestion(project: Path) -> None:
    problems = problems_of_text(
        project,
        HEAD
        + (
            '[[tasks]]\nid = "TASK-001"\ntitle = "a"\n\n'
            '[[tasks]]\nid = "TASK-002"\ntitle = "b"\ndependencies = ["TASK-01"]\n'
        ),
    )
    assert problems == [
        "orchestra.toml:10: task TASK-002: field 'dependencies': unknown task 'TASK-01' (did you mean 'TASK-001'?)"
    ]


def test_self_dependency(project: Path) -> None:
    problems = problems_of_text(project, HEAD + '[[tasks]]\nid = "T-1"\ntitle = "a"\ndependencies = ["T-1"]\n')
    assert problems == ["orchestra.toml:6: task T-1: field 'dependencies': a task cannot depend on itself"]


def test_cycle_printed_as_path(project: Path) -> None:
    text = HEAD
    for task_id, dep in (("A", "B"), ("B", "C"), ("C", "A"), ("D", "A")):
        text += f'\n[[tasks]]\nid = "{task_id}"\ntitle = "t"\ndependencies = ["{dep}"]\n'
    problems = problems_of_text(project, text)
    assert problems == ["orchestra.toml:7: task A: field 'dependencies': dependency cycle A -> B -> C -> A"]


def test_dependency_checks_run_even_when_tasks_are_invalid(project: Path) -> None:
    problems = problems_of_text(project, HEAD + '[[tasks]]\nid = "T-1"\npriority = "urgent"\ndependencies = ["T-9"]\n')
    assert len(problems) == 3
    assert any("unknown task 'T-9'" in line for line in problems)
    assert any("'title': required field missing" in line for line in problems)


# ---------------------------------------------------------------------------------- agent names


def test_unknown_agent_for_task_and_default(project: Path) -> None:
    problems = problems_of_text(
        project,
        '[project]\nid = "demo"\ndefault_agent = "claud"\n\n[agents.claude]\ntype = "anthropic"\n\n'
        '[[tasks]]\nid = "T-1"\ntitle = "a"\nagent = "gpt"\n',
    )
    assert only(problems, "default_agent") == (
        "orchestra.toml:3: project: field 'default_agent': unknown agent 'claud' (did you mean 'claude'?); "
        "configured agents: claude (built in: interactive, shell)"
    )
    assert only(problems, "T-1").startswith("orchestra.toml:11: task T-1: field 'agent': unknown agent 'gpt';")


def test_builtin_agents_need_no_table(project: Path) -> None:
    write(
        project,
        '[project]\nid = "demo"\ndefault_agent = "interactive"\n'
        '[[tasks]]\nid = "T-1"\ntitle = "a"\nagent = "shell"\n'
        '[[tasks]]\nid = "T-2"\ntitle = "b"\nagent = "interactive"\n',
    )
    plan = load_plan(project, environ={})
    assert plan.agents == {}
    assert plan.project.default_agent == "interactive"


def test_shell_table_may_configure_builtin(project: Path) -> None:
    write(project, HEAD + '[agents.shell]\ntype = "shell"\nread_timeout = 5\n')
    plan = load_plan(project, environ={})
    assert plan.agents["shell"].read_timeout == 5


# -------------------------------------------------------------------------------- every problem


def test_every_problem_is_listed_in_file_order(project: Path) -> None:
    problems = problems_of_text(
        project,
        '[project]\nid = "demo"\nparallel_max = 0\n\n[agents.a]\ntype = "nope"\n\n'
        '[[tasks]]\nid = "T-1"\ntitle = "a"\nprioirty = "high"\ndependencies = ["T-2"]\n\n'
        '[[tasks]]\nid = "T-2"\ntitle = "b"\nestimated_hours = -1\ndependencies = ["T-1", "T-3"]\n',
    )
    assert len(problems) == 6
    numbers = [int(line.split(":")[1]) for line in problems]
    assert numbers == sorted(numbers)
    error = PlanError(problems)
    assert str(error).endswith("(and 5 more problems)")


def test_multiline_strings_do_not_confuse_line_numbers(project: Path) -> None:
    text = HEAD + (
        '[[tasks]]\nid = "T-1"\ntitle = "a"\ndescription = """\n[[tasks]]\npriority = 1\n"""\n\n'
        '[[tasks]]\nid = "T-2"\ntitle = "b"\npriority = "urgent"\n'
    )
    problems = problems_of_text(project, text)
    assert problems == [
        "orchestra.toml:14: task T-2: field 'priority': invalid value 'urgent' (allowed: critical, high, medium, low)"
    ]


# ------------------------------------------------------------------------------------------- env


def test_expand_env_function() -> None:
    env = {"A": "1", "EMPTY": ""}
    assert expand_env("x${A}y", env) == ("x1y", set())
    assert expand_env("${B}", env) == ("${B}", {"B"})
    assert expand_env("${B:-dflt}", env) == ("dflt", set())
    assert expand_env("${EMPTY:-dflt}", env) == ("dflt", set())
    assert expand_env("${EMPTY}", env) == ("", set())
    assert expand_env("${A:-}", env) == ("1", set())
    assert expand_env("$A ${ not a ref", env) == ("$A ${ not a ref", set())


@given(st.text(max_size=40))
@settings(max_examples=200, deadline=None)
def test_expand_env_never_fails(value: str) -> None:
    expanded, missing = expand_env(value, {"HOME": "/h"})
    if "${" not in value:
        assert expanded == value and not missing


def test_env_expanded_in_config_not_in_tasks(project: Path) -> None:
    write(
        project,
        """\
        [project]
        id = "demo"
        name = "${PROJECT_NAME}"
        description = "${UNSET_ONE}"
        parallel_max = "${PAR:-3}"

        [agents.local]
        type = "openai"
        base_url = "${LLM_URL:-http://localhost:8000/v1}"
        headers = { Authorization = "Bearer ${TOKEN}" }

        [[webhooks]]
        url = "${HOOK_URL}"

        [[tasks]]
        id = "T-1"
        title = "uses ${SECRET}"
        commands = ["echo ${SECRET}"]
        """,
    )
    config = project.parent / "user-config"
    config.mkdir()
    (config / "config.toml").write_text('allow_env = ["TOKEN"]\n')  # the person allows the header's variable
    env = {
        "PROJECT_NAME": "Named",
        "TOKEN": "tok",
        "HOOK_URL": "https://hooks.example",
        "SECRET": "s3cr3t",
        "ORCHESTRA_CONFIG_DIR": str(config),
    }
    plan = load_plan(project, environ=env)
    assert plan.project.name == "Named"
    assert plan.project.description == "${UNSET_ONE}"
    assert plan.project.parallel_max == 3
    assert plan.agents["local"].base_url == "http://localhost:8000/v1"
    assert plan.agents["local"].headers == {"Authorization": "Bearer tok"}
    assert plan.webhooks[0].url == "https://hooks.example"
    assert plan.missing_env == frozenset({"UNSET_ONE"})
    task = plan.tasks[0]
    assert task.title == "uses ${SECRET}" and task.commands == ["echo ${SECRET}"]
    assert "s3cr3t" not in repr(plan)
    # the engine expands task strings itself, at run time
    assert expand_env(task.commands[0], env)[0] == "echo s3cr3t"


def test_task_references_to_unset_vars_are_not_missing(project: Path) -> None:
    write(project, HEAD + '[[tasks]]\nid = "T-1"\ntitle = "${NOPE}"\n')
    assert load_plan(project, environ={}).missing_env == frozenset()


def test_error_messages_show_values_as_written_not_expanded(project: Path) -> None:
    write(project, HEAD + '[agents.x]\ntype = "${KIND}"\n')
    (line,) = problems_of(project, environ={"KIND": "supersecret"})
    assert "'${KIND}'" in line and "supersecret" not in line


def test_environ_defaults_to_os_environ(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCH_TEST_NAME", "From env")
    write(project, '[project]\nid = "demo"\nname = "${ORCH_TEST_NAME}"\n')
    assert load_plan(project).project.name == "From env"


# ------------------------------------------------------------------------------------------ seed


SEED = {
    "state_file": "project_state.json",
    "backups_dir": "backups",
    "parallel_max": 2,
    "default_agent": "anthropic",
    "llm_providers": {
        "anthropic": {"api_key": "${ANTHROPIC_API_KEY}", "model": "claude-sonnet-4-5"},
        "openai": {"api_key": "sk-LITERAL-KEY-123", "model": "gpt-4o", "base_url": "https://api.openai.com/v1"},
        "local": {"api_key": "${LOCAL_KEY:-sk-default-literal}", "model": "llama", "base_url": "${LOCAL_URL}"},
        "gem": {"type": "gemini", "model": "gemini-2.5-pro", "extra_thing": 1},
    },
}


def test_seed_config_only(project: Path) -> None:
    (project / SEED_CONFIG_FILE).write_text(json.dumps(SEED, indent=2))
    assert find_plan(project) == project / SEED_CONFIG_FILE
    plan = load_plan(project, environ={"LOCAL_URL": "http://localhost:1234/v1"})
    assert plan.path == project / SEED_CONFIG_FILE
    assert plan.project.id == "my-proj" and plan.project.name == "my-proj"
    assert plan.project.parallel_max == 2 and plan.project.default_agent == "anthropic"
    assert plan.tasks == []
    agents = plan.agents
    assert agents["anthropic"].type is AgentType.ANTHROPIC
    assert agents["anthropic"].api_key_env == "ANTHROPIC_API_KEY"
    assert agents["openai"].type is AgentType.OPENAI and agents["openai"].api_key_env is None
    assert agents["local"].type is AgentType.OPENAI and agents["local"].api_key_env == "LOCAL_KEY"
    assert agents["local"].base_url == "http://localhost:1234/v1"
    assert agents["gem"].type is AgentType.GEMINI
    assert plan.sha256 and len(plan.sha256) == 64
    dumped = json.dumps({name: agent.model_dump(mode="json") for name, agent in agents.items()})
    for secret in ("sk-LITERAL-KEY-123", "sk-default-literal"):
        assert secret not in repr(plan)
        assert secret not in dumped


def test_seed_project_id_from_directory_name_slugified(tmp_path: Path) -> None:
    root = tmp_path / "My Project!"
    root.mkdir()
    (root / SEED_CONFIG_FILE).write_text(json.dumps({"llm_providers": {}}))
    plan = load_plan(root, environ={})
    assert plan.project.id == "my-project" and plan.project.name == "My Project!"


def test_seed_agents_fill_names_toml_does_not_define(project: Path) -> None:
    (project / SEED_CONFIG_FILE).write_text(json.dumps(SEED))
    write(
        project,
        '[project]\nid = "demo"\ndefault_agent = "gem"\n\n[agents.openai]\ntype = "openai"\nmodel = "from-toml"\n'
        '[[tasks]]\nid = "T-1"\ntitle = "a"\nagent = "anthropic"\n',
    )
    plan = load_plan(project, environ={})
    assert plan.path == project / PLAN_FILE
    assert plan.project.parallel_max == 4  # the TOML's project wins; seed settings are ignored
    assert plan.agents["openai"].model == "from-toml"
    assert set(plan.agents) == {"openai", "anthropic", "local", "gem"}
    assert plan.missing_env == frozenset({"LOCAL_URL"})
    assert "sk-LITERAL-KEY-123" not in repr(plan)


def test_malformed_seed_json(project: Path) -> None:
    (project / SEED_CONFIG_FILE).write_text('{\n  "parallel_max": 2,\n  "default_agent": shell\n}\n')
    (line,) = problems_of(project)
    assert line.startswith("orchestration.config.json:3:20: invalid JSON: Expecting value")


def test_seed_bad_values(project: Path) -> None:
    seed = {"parallel_max": 0, "llm_providers": {"x": {"type": "nope"}, "anthropic": {"model": 5}}}
    (project / SEED_CONFIG_FILE).write_text(json.dumps(seed, indent=2))
    problems = problems_of(project)
    assert only(problems, "parallel_max").startswith(
        "orchestration.config.json:2: field 'parallel_max': must be at least 1"
    )
    assert only(problems, "agent x").startswith(
        "orchestration.config.json:4: agent x: field 'type': invalid value 'nope'"
    )
    assert only(problems, "agent anthropic").startswith(
        "orchestration.config.json:7: agent anthropic: field 'model': expected a string"
    )


def test_seed_not_an_object(project: Path) -> None:
    (project / SEED_CONFIG_FILE).write_text("[1, 2]")
    assert problems_of(project) == ["orchestration.config.json:1: invalid config: expected a JSON object, got array"]


# ----------------------------------------------------------------------------------------- cache


def _forbid_toml_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args, **kwargs):
        raise AssertionError("TOML parsed although the cache matches")

    monkeypatch.setattr(tomllib, "loads", boom)


def cached(cache: Path) -> dict:
    """The payload of the signed cache file (its first line is the MAC), its tasks' tables (the last line) in place."""
    head, _, tables = (cache / "plan-cache.json").read_bytes().partition(b"\n")[2].partition(b"\n")
    document = json.loads(head)
    if "tasks" in document["data"]:
        document["data"]["tasks"] = json.loads(tables)
    return document


def payload_of(document: dict) -> bytes:
    """The cache's payload for ``document`` (as ``cached`` gives it)."""
    data = document["data"]
    head = {**document, "data": {**data, "tasks": None}}
    return json.dumps(head, separators=(",", ":")).encode() + b"\n" + json.dumps(data.get("tasks")).encode()


def test_cache_hit_skips_parsing(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(project, big_plan(20))
    cache = project / ".orchestra"
    first = load_plan(project, cache_dir=cache, environ={})
    stored = cached(cache)
    assert stored["sha256"] == first.sha256 and stored["data"]["project"]["id"] == "big"
    assert not [p for p in cache.iterdir() if p.name != "plan-cache.json"], "temp files left behind"
    _forbid_toml_parse(monkeypatch)
    second = load_plan(project, cache_dir=cache, environ={})
    assert second == first
    assert second.line_of_task("T-3") == first.line_of_task("T-3")


def test_cache_still_validates(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(project, HEAD + '[[tasks]]\nid = "T-1"\ntitle = "a"\nagent = "${AGENT}"\n')
    cache = project / ".orchestra"
    load_plan(project, cache_dir=cache, environ={"AGENT": "shell"})
    _forbid_toml_parse(monkeypatch)
    problems = problems_of(project, cache_dir=cache, environ={"AGENT": "nope"})
    assert only(problems, "agent").startswith("orchestra.toml:6: task T-1: field 'agent': unknown agent '${AGENT}'")


def test_cache_mismatch_is_reparsed_and_rewritten(project: Path) -> None:
    write(project, big_plan(3))
    cache = project / ".orchestra"
    load_plan(project, cache_dir=cache, environ={})
    write(project, big_plan(5))
    plan = load_plan(project, cache_dir=cache, environ={})
    assert len(plan.tasks) == 5
    assert cached(cache)["sha256"] == plan.sha256


@pytest.mark.parametrize(
    "garbage",
    [b"", b"{not json", b"[]", b'{"sha256": 5}', b"\xff\xfe", b'{"sha256": "x", "data": []}'],
)
def test_corrupt_cache_is_ignored_and_rewritten(project: Path, garbage: bytes) -> None:
    write(project, big_plan(3))
    cache = project / ".orchestra"
    cache.mkdir()
    (cache / "plan-cache.json").write_bytes(garbage)
    plan = load_plan(project, cache_dir=cache, environ={})
    assert len(plan.tasks) == 3
    assert cached(cache)["sha256"] == plan.sha256


def test_forged_cache_with_matching_hash_is_ignored_silently(project: Path) -> None:
    """Issue 9 item 6: a cache keyed by the plan's sha256 but holding other data (unsigned, or signed with
    another key) is neither used nor reported as problems of the user's plan."""
    write(project, HEAD + '[[tasks]]\nid = "T-1"\ntitle = "a"\ncommands = ["echo honest"]\n')
    cache = project / ".orchestra"
    sha = load_plan(project, cache_dir=cache, environ={}).sha256
    forged = {
        "sha256": sha,
        "data": {"project": {"id": "x"}, "tasks": [{"id": "T-1", "title": "a", "commands": ["echo forged"]}]},
    }
    mac, _, _payload = (cache / "plan-cache.json").read_bytes().partition(b"\n")
    for data in (
        json.dumps(forged).encode(),
        mac + b"\n" + json.dumps(forged).encode(),
        json.dumps({"sha256": sha, "data": {"project": {"id": "x"}, "bogus": 1}}).encode(),
    ):
        (cache / "plan-cache.json").write_bytes(data)
        plan = load_plan(project, cache_dir=cache, environ={})  # no PlanError: the cache's data is not the plan
        assert plan.project.id != "x" and plan.tasks[0].commands == ["echo honest"]
        assert cached(cache)["data"]["tasks"][0]["commands"] == ["echo honest"]  # rewritten


def test_cache_not_written_when_invalid(project: Path) -> None:
    write(project, HEAD + '[[tasks]]\nid = "T-1"\n')
    cache = project / ".orchestra"
    problems_of(project, cache_dir=cache)
    assert not (cache / "plan-cache.json").exists()


def test_cache_problems_never_fail_the_load(project: Path) -> None:
    write(project, HEAD)
    blocker = project / "not-a-dir"
    blocker.write_text("file where the cache directory should be")
    assert load_plan(project, cache_dir=blocker, environ={}).project.id == "demo"


def test_toml_dates_are_fine_with_the_cache(project: Path) -> None:
    write(project, HEAD + '[[tasks]]\nid = "T-1"\ntitle = "a"\nmetadata = { due = 2025-01-31 }\n')
    cache = project / ".orchestra"
    for _ in range(2):
        plan = load_plan(project, cache_dir=cache, environ={})
        assert str(plan.tasks[0].metadata["due"]) == "2025-01-31"


def _forbid_task_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args, **kwargs):
        raise AssertionError("tasks checked again although the signed cache says they were")

    monkeypatch.setattr(validate, "_dependency_checks", boom)


def test_checked_tasks_are_not_validated_again(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 15 item 3: the signed cache marks a plan whose tasks validated; opening it again validates only what
    depends on the environment, and the tasks (the same) only when asked for."""
    write(project, big_plan(30))
    cache = project / ".orchestra"
    first = load_plan(project, cache_dir=cache, environ={})
    assert cached(cache)["checked"] == CHECKED_BY
    _forbid_task_checks(monkeypatch)
    second = load_plan(project, cache_dir=cache, environ={})
    assert "tasks" not in vars(second)  # nothing asked for them yet
    assert second.tasks == first.tasks and second.task_ids == [f"T-{i}" for i in range(30)]
    assert second.line_of_task("T-7") == first.line_of_task("T-7")


def test_checked_tasks_tables_are_not_even_decoded_until_asked_for(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 15 item 3: the cache's tables are its last line, decoded only when the tasks are asked for (an open
    whose tasks are checked reads the plan's other sections alone)."""
    from orchestra_tui.plan import cache as plan_cache

    write(project, big_plan(30))
    cache = project / ".orchestra"
    first = load_plan(project, cache_dir=cache, environ={})
    tables = (cache / "plan-cache.json").read_bytes().rpartition(b"\n")[2]
    decoded: list[bytes] = []
    loads = json.loads
    monkeypatch.setattr(plan_cache.json, "loads", lambda text, **kw: decoded.append(bytes(text)) or loads(text, **kw))
    second = load_plan(project, cache_dir=cache, environ={})
    assert len(decoded) == 1 and tables not in decoded[0]
    assert second.tasks == first.tasks and decoded[-1] == tables


def test_a_tables_line_changed_under_a_signed_head_is_ignored(project: Path) -> None:
    """The MAC covers both lines: tables swapped under a genuine head (and MAC) are neither used nor reported."""
    write(project, HEAD + '[[tasks]]\nid = "T-1"\ntitle = "a"\ncommands = ["echo honest"]\n')
    cache = project / ".orchestra"
    load_plan(project, cache_dir=cache, environ={})
    signed = (cache / "plan-cache.json").read_bytes()
    (cache / "plan-cache.json").write_bytes(signed.replace(b"echo honest", b"echo forged"))
    plan = load_plan(project, cache_dir=cache, environ={})
    assert plan.tasks[0].commands == ["echo honest"]
    assert cached(cache)["data"]["tasks"][0]["commands"] == ["echo honest"]  # rewritten


def test_a_cache_in_the_one_line_form_is_parsed_again_and_rewritten(project: Path) -> None:
    """A cache an older orchestra wrote (one JSON document, signed by this user) is not this form: the plan is
    parsed again, and the cache rewritten."""
    from orchestra_tui.signing import write_signed

    content = write(project, big_plan(3)).read_bytes()
    cache = project / ".orchestra"
    cache.mkdir()
    old = {
        "sha256": hashlib.sha256(content).hexdigest(),
        "data": tomllib.loads(content.decode()),
        "checked": CHECKED_BY,
    }
    write_signed(cache, "plan-cache.json", json.dumps(old).encode())
    assert len(load_plan(project, cache_dir=cache, environ={}).tasks) == 3
    assert cached(cache)["format"] == 2 and len(cached(cache)["data"]["tasks"]) == 3


def test_a_seed_config_beside_a_checked_plan_has_its_tasks_checked_again(project: Path) -> None:
    """The mark says nothing once a seed config adds agents: the tasks are read and validated again."""
    write(project, HEAD + '[[tasks]]\nid = "T-1"\ntitle = "a"\n')
    cache = project / ".orchestra"
    first = load_plan(project, cache_dir=cache, environ={})
    assert cached(cache)["checked"] == CHECKED_BY
    (project / SEED_CONFIG_FILE).write_text(json.dumps(SEED))
    again = load_plan(project, cache_dir=cache, environ={})
    assert again.tasks == first.tasks and "anthropic" in again.agents


def test_checked_plan_still_checks_what_the_environment_changes(project: Path) -> None:
    write(project, '[project]\nid = "demo"\ndefault_agent = "${AGENT}"\n[[tasks]]\nid = "T-1"\ntitle = "a"\n')
    cache = project / ".orchestra"
    load_plan(project, cache_dir=cache, environ={"AGENT": "shell"})
    assert cached(cache)["checked"] == CHECKED_BY
    problems = problems_of(project, cache_dir=cache, environ={"AGENT": "nope"})
    assert only(problems, "default_agent").startswith("orchestra.toml:3: project: field 'default_agent': unknown agent")


ENV_SECTIONS = (
    '[project]\nid = "demo"\nparallel_max = "${PAR}"\n'
    '[agents.bot]\ntype = "${TYPE}"\nread_timeout = "${WAIT}"\n'
    '[[webhooks]]\nurl = "${URL}"\n'
    '[[tasks]]\nid = "T-1"\ntitle = "a"\nagent = "bot"\n'
)


@pytest.mark.parametrize(
    "bad",
    [{"PAR": "0"}, {"PAR": "many"}, {"TYPE": "robot"}, {"WAIT": "-1"}, {"URL": ""}, {"PAR": "0", "TYPE": "x"}],
)
def test_a_checked_plan_reports_its_sections_problems_as_an_unchecked_one(project: Path, bad: dict[str, str]) -> None:
    """Issue 15 item 3: with the tasks marked checked, the sections are validated without them (``PlanSections``,
    no schema built for the tasks): what the environment breaks there is reported word for word as a load
    without the cache reports it."""
    write(project, ENV_SECTIONS)
    cache = project / ".orchestra"
    good = {"PAR": "2", "TYPE": "shell", "WAIT": "30", "URL": "http://127.0.0.1:9/hook"}
    checked = load_plan(project, cache_dir=cache, environ=good)
    assert cached(cache)["checked"] == CHECKED_BY
    assert checked == load_plan(project, environ=good) and checked.project.parallel_max == 2
    environ = {**good, **bad}
    assert problems_of(project, cache_dir=cache, environ=environ) == problems_of(project, environ=environ)


def test_a_primed_cache_is_marked_once_validated(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A writer primes the cache with what it wrote, unchecked; the first load validates it and marks it."""
    from orchestra_tui.plan.cache import _cache_write

    content = write(project, big_plan(5)).read_bytes()
    cache = project / ".orchestra"
    cache.mkdir()
    _cache_write(cache, hashlib.sha256(content).hexdigest(), tomllib.loads(content.decode()))
    assert "checked" not in cached(cache)
    first = load_plan(project, cache_dir=cache, environ={})
    assert cached(cache)["checked"] == CHECKED_BY
    _forbid_task_checks(monkeypatch)
    assert load_plan(project, cache_dir=cache, environ={}).tasks == first.tasks


def test_a_primed_cache_is_read_from_memory_once(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A writer that opens the project next (an import) hands over what it wrote: the open neither reads nor
    decodes the cache file again; the next load reads the file (marked by then)."""
    from orchestra_tui.plan import cache as plan_cache

    content = write(project, big_plan(5)).read_bytes()
    cache = project / ".orchestra"
    plan_cache._cache_prime(cache, hashlib.sha256(content).hexdigest(), tomllib.loads(content.decode()))
    reads: list[Path] = []
    read = plan_cache._read
    monkeypatch.setattr(plan_cache, "_read", lambda path: reads.append(path) or read(path))
    _forbid_toml_parse(monkeypatch)
    first = load_plan(project, cache_dir=project / ".." / project.name / ".orchestra", environ={})  # spelt otherwise
    assert reads == [] and cached(cache)["checked"] == CHECKED_BY
    assert load_plan(project, cache_dir=cache, environ={}) == first and reads == [cache / "plan-cache.json"]


@pytest.mark.parametrize("why", ["seed config", "task agent from the environment"])
def test_no_mark_when_the_tasks_checks_depend_on_more_than_the_file(project: Path, why: str) -> None:
    task_agent = '"${AGENT}"' if why != "seed config" else '"anthropic"'
    write(project, HEAD + f'[[tasks]]\nid = "T-1"\ntitle = "a"\nagent = {task_agent}\n')
    if why == "seed config":
        (project / SEED_CONFIG_FILE).write_text(json.dumps(SEED))
    cache = project / ".orchestra"
    for _ in range(2):
        load_plan(project, cache_dir=cache, environ={"AGENT": "shell"})
        assert "checked" not in cached(cache)


def test_a_forged_mark_does_not_skip_validation(project: Path) -> None:
    """A mark that this user's key did not sign (planted in .orchestra/) is ignored: every problem is reported."""
    write(
        project,
        HEAD + '[[tasks]]\nid = "A"\ntitle = "a"\ndependencies = ["B"]\n'
        '[[tasks]]\nid = "B"\ntitle = "b"\ndependencies = ["A"]\n',
    )
    cache = project / ".orchestra"
    problems = problems_of(project, cache_dir=cache)
    assert any("dependency cycle" in line for line in problems)
    content = (project / PLAN_FILE).read_bytes()
    document = {"format": 2, "sha256": hashlib.sha256(content).hexdigest(), "data": tomllib.loads(content.decode())}
    payload = payload_of({**document, "checked": CHECKED_BY})
    cache.mkdir(exist_ok=True)
    for mac in (b"0" * 64, hmac.new(b"k" * 32, payload, hashlib.sha256).hexdigest().encode(), b""):
        (cache / "plan-cache.json").write_bytes(mac + b"\n" + payload)
        assert problems_of(project, cache_dir=cache) == problems


# -------------------------------------------------------------------------------- no plan at all


def test_neither_file(tmp_path: Path) -> None:
    root = tmp_path / "Some Dir"
    root.mkdir()
    assert find_plan(root) is None
    plan = load_plan(root, environ={})
    assert plan.path is None and plan.sha256 == "" and plan.tasks == []
    assert plan.project.id == "some-dir" and plan.project.name == "Some Dir"
    assert plan.agents == {} and plan.webhooks == [] and plan.missing_env == frozenset()
    assert plan.line_of_task("T-1") is None


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(PlanError) as info:
        load_plan(tmp_path / "nope", environ={})
    assert info.value.problems[0].endswith("nope: not a directory")


def test_find_plan_prefers_toml(tmp_path: Path) -> None:
    (tmp_path / SEED_CONFIG_FILE).write_text("{}")
    (tmp_path / PLAN_FILE).write_text(HEAD)
    assert find_plan(tmp_path) == tmp_path / PLAN_FILE


# ------------------------------------------------------------------------------------- line_of_task


def test_line_of_task(project: Path) -> None:
    write(
        project,
        HEAD
        + (
            '\n[[tasks]]\nid = "T-1"\ntitle = "a"\ndescription = """\n[[tasks]]\n"""\n\n'
            '[[tasks]]  # second\nid = "T-2"\ntitle = "b"\n'
        ),
    )
    plan = load_plan(project, environ={})
    assert plan.line_of_task("T-1") == 4
    assert plan.line_of_task("T-2") == 11
    assert plan.line_of_task("T-404") is None


def test_line_of_task_crlf(project: Path) -> None:
    (project / PLAN_FILE).write_bytes((HEAD + '[[tasks]]\nid = "T-1"\ntitle = "a"\n').replace("\n", "\r\n").encode())
    assert load_plan(project, environ={}).line_of_task("T-1") == 3


# ------------------------------------------------------------------------------------ starter plan


def test_starter_plan_round_trip(tmp_path: Path) -> None:
    text = starter_plan("my-app", 'My "quoted" App \\ ünïcode')
    (tmp_path / PLAN_FILE).write_text(text, encoding="utf-8")
    plan = load_plan(tmp_path, environ={})
    assert plan.project.id == "my-app" and plan.project.name == 'My "quoted" App \\ ünïcode'
    assert plan.project.default_agent == "shell"
    assert plan.missing_env == frozenset()
    assert [task.task_id for task in plan.tasks] == ["HELLO-1", "HELLO-2", "HELLO-3"]
    assert plan.tasks[2].dependencies == ["HELLO-1", "HELLO-2"]
    assert all(task.commands and (task.agent in (None, "shell")) for task in plan.tasks)
    for kind in ("anthropic", "openai", "gemini", "ollama", "cli"):
        assert f'# type = "{kind}"' in text
    for key in ("id", "name", "description", "parallel_max", "default_agent", "auto_complete"):
        assert any(line.startswith(f"{key} = ") and "#" in line for line in text.splitlines()), key


def test_starter_plan_commented_agents_are_valid(tmp_path: Path) -> None:
    """Uncommenting every example agent and webhook still gives a valid plan."""
    text = starter_plan("x", "X")
    example = re.compile(r"^# (\[|[a-z_]+ = )")
    uncommented = "\n".join(line[2:] if example.match(line) else line for line in text.splitlines())
    data = tomllib.loads(uncommented)
    assert set(data["agents"]) >= {"claude", "gpt", "gemini", "llama", "litellm", "claude-code", "codex"}
    (tmp_path / PLAN_FILE).write_text(uncommented)
    plan = load_plan(tmp_path, environ={})
    assert {agent.type.value for agent in plan.agents.values()} >= {"anthropic", "openai", "gemini", "ollama", "cli"}
    assert plan.webhooks


# ------------------------------------------------------------------------------------------ schema


def test_schema() -> None:
    schema = plan_schema()
    assert schema["$schema"].startswith("https://json-schema.org/")
    task = schema["$defs"]["TaskSpec"]
    assert "id" in task["properties"] and "task_id" not in task["properties"]
    assert "id" in task["required"] and "title" in task["required"]
    assert schema["$defs"]["TaskPriority"]["enum"] == [p.value for p in TaskPriority]
    assert "anthropic" in schema["$defs"]["AgentType"]["enum"]
    assert task["properties"]["estimated_hours"]["exclusiveMinimum"] == 0
    json.dumps(schema)


# ------------------------------------------------------------------------------------ scale and fuzz


def test_two_thousand_tasks_load_and_a_second_load_parses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The load times are bench/bench_foundation.py's figures (README)."""
    from orchestra_tui.plan import loader

    (tmp_path / PLAN_FILE).write_text(big_plan(2000))
    cache = tmp_path / ".orchestra"
    plan = load_plan(tmp_path, cache_dir=cache, environ={})
    parsed: list[object] = []
    parse = loader._parse_toml
    monkeypatch.setattr(loader, "_parse_toml", lambda *args: parsed.append(args) or parse(*args))
    again = load_plan(tmp_path, cache_dir=cache, environ={})
    assert len(plan.tasks) == len(again.tasks) == 2000
    assert plan.line_of_task("T-1999") == plan.line_of_task("T-1998") + 13
    assert parsed == []  # the second load read the parse cache


def test_many_problems_in_a_big_plan(tmp_path: Path) -> None:
    text = big_plan(2000).replace('priority = "low"', 'priority = "lowest"')
    (tmp_path / PLAN_FILE).write_text(text)
    with pytest.raises(PlanError) as info:
        load_plan(tmp_path, environ={})
    assert len(info.value.problems) == 500
    assert info.value.problems[-1].endswith(
        "task T-1996: field 'priority': invalid value 'lowest' (did you mean 'low'?) (allowed: critical, high, "
        "medium, low)"
    )


def test_thousands_of_unknown_dependencies_stay_fast(tmp_path: Path) -> None:
    text = big_plan(2000).replace('dependencies = ["T-', 'dependencies = ["X-')
    (tmp_path / PLAN_FILE).write_text(text)
    with pytest.raises(PlanError) as info:
        load_plan(tmp_path, environ={})
    assert len(info.value.problems) == 1999
    assert "did you mean" in info.value.problems[0]


@given(st.text(alphabet=st.sampled_from(list("[]{}=\"'.,#\n abcdeiklnoprstT-0123456789_")), max_size=120))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_fuzz_never_raises_anything_but_plan_error(tmp_path: Path, text: str) -> None:
    (tmp_path / PLAN_FILE).write_text(text, encoding="utf-8")
    try:
        plan = load_plan(tmp_path, environ={})
    except PlanError as error:
        assert error.problems and all("\n" not in line for line in error.problems)
    else:
        assert isinstance(plan, Plan)


@pytest.mark.parametrize(
    "snippet",
    [
        HEAD + "tasks = 5\n",
        HEAD + "agents = 5\n",
        HEAD + "[agents]\nx = 5\n",
        HEAD + "webhooks = [1]\n",
        HEAD + '[[tasks]]\nid = 5\ntitle = "a"\ndependencies = [1, "T"]\n',
        HEAD + '[[tasks]]\nid = "T"\ntitle = "a"\nmetadata = 3\ninputs = [[1]]\n',
        '[project]\nid = ""\n',
        "[project]\nid = 1979-05-27T07:32:00Z\n",
        HEAD + '[agents."we ird"]\ntype = "cli"\ncommand = "claude"\nprompt_via = "pipe"\n',
    ],
)
def test_odd_shapes_are_plan_errors(project: Path, snippet: str) -> None:
    problems = problems_of_text(project, snippet)
    assert all(line.startswith("orchestra.toml") for line in problems)
