"""The ``orchestra`` command line (docs/ARCHITECTURE.md C5): CliRunner for every command, real processes for the entry
point.

Every project is a copy in tmp_path (``demo_dir``, ``write_plan``); the repo's sample projects are never written.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from orchestra_tui.models import AgentTask

from ..helpers.cli import as_json, cli, ok, user_error
from ..helpers.plans import task_block, write_plan
from ..helpers.waits import read_until

ENTRY_POINT = [sys.executable, "-m", "orchestra_tui"]


# ------------------------------------------------------------------------------------------ helpers


def status(root: Path, task_id: str) -> str:
    data = as_json(root, "show", task_id)
    assert isinstance(data, dict)
    return data["derived_status"]


def small_plan(root: Path) -> Path:
    """A -> B, and C alone."""
    write_plan(root, task_block("A", estimated_hours=2) + task_block("B", ["A"]) + task_block("C"))
    return root


def run_entry_point(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ENTRY_POINT, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )


# ------------------------------------------------------------------------------ overview and init


def test_bare_command_shows_header_and_task_list(demo_dir: Path) -> None:
    out = ok(demo_dir).stdout
    assert "wordfreq: a word-frequency CLI" in out
    assert "0% complete · 0/10 tasks · 0 h done, 15 h remaining" in out
    assert "ready 1 · blocked 9" in out
    assert "next: DES-001  Write the specification" in out
    for task_id in ("DES-001", "DEV-003", "TST-003"):
        assert task_id in out


def test_directory_without_plan_says_how_to_start_and_creates_nothing(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    line = user_error(empty)
    assert (
        line
        == f"error: no orchestra.toml in {empty} or above it: run `orchestra init {empty}`, or try `orchestra demo`"
    )
    assert user_error(empty, "list").startswith("error: no orchestra.toml in")
    assert list(empty.iterdir()) == []
    assert user_error(tmp_path / "missing", "next") == f"error: no such directory: {tmp_path / 'missing'}"


def test_init_writes_a_valid_starter_plan_named_after_the_directory(tmp_path: Path) -> None:
    target = tmp_path / "nested" / "My Project"
    out = ok(None, "init", str(target)).stdout
    assert f"wrote {target / 'orchestra.toml'}" in out
    plan = tomllib.loads((target / "orchestra.toml").read_text())
    assert plan["project"]["id"] == "my-project" and plan["project"]["name"] == "My Project"
    assert ok(target, "validate").stdout.startswith("OK orchestra.toml: ")


def test_init_uses_the_project_option_and_refuses_an_existing_plan_byte_for_byte(demo_dir: Path) -> None:
    path = demo_dir / "orchestra.toml"
    before = path.read_bytes()
    line = user_error(demo_dir, "init")
    assert "already exists; nothing was written" in line and str(path) in line
    assert user_error(None, "init", str(demo_dir)) == line
    assert path.read_bytes() == before


# ----------------------------------------------------------------------------------- plan problems


def test_validate_prints_a_one_line_summary(demo_dir: Path) -> None:
    result = ok(demo_dir, "validate")
    assert result.stdout == "OK orchestra.toml: 10 tasks, 3 phases, 1 agent, critical path 10 h\n"


def test_validate_lists_every_problem_on_its_own_line(tmp_path: Path) -> None:
    write_plan(
        tmp_path,
        (
            '[[tasks]]\nid = "A"\ntitle = "a"\npriority = "urgent"\nestimated_hours = 0\n\n'
            '[[tasks]]\nid = "B"\ntitle = "b"\ndependencies = ["C", "GHOST"]\n\n'
            '[[tasks]]\nid = "C"\ntitle = "c"\ndependencies = ["B"]\n'
        ),
    )
    result = cli(tmp_path, "validate")
    assert result.exit_code == 1 and result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 4, lines
    assert all(re.match(r"^.*orchestra\.toml:\d+: task [ABC]: field '", line) for line in lines), lines
    joined = "\n".join(lines)
    for expected in (
        "invalid value 'urgent'",
        "must be greater than 0",
        "unknown task 'GHOST'",
        "dependency cycle B -> C -> B",
    ):
        assert expected in joined
    assert not (tmp_path / ".orchestra").exists()
    # Any other command: one line, pointing at validate for the rest.
    line = user_error(tmp_path, "list")
    assert line.endswith("(and 3 more problems); `orchestra validate` lists them all")


def test_malformed_toml_names_file_line_and_column(tmp_path: Path) -> None:
    (tmp_path / "orchestra.toml").write_text('[project]\nid = "x"\n[[tasks]\nid = "A"\n')
    line = user_error(tmp_path, "next")
    assert re.search(r"orchestra\.toml:3:\d+: invalid TOML: ", line), line
    assert not (tmp_path / ".orchestra").exists()


def test_unknown_key_gets_a_suggestion(tmp_path: Path) -> None:
    write_plan(tmp_path, '[[tasks]]\nid = "A"\ntitle = "a"\ndependecies = []\n')
    line = user_error(tmp_path, "list")
    assert re.search(
        r"orchestra\.toml:8: task A: unknown key 'dependecies' \(did you mean 'dependencies'\?\)$", line
    ), line


# ------------------------------------------------------------------------------------------- reads


def test_list_table_json_and_filters(demo_dir: Path) -> None:
    tasks = as_json(demo_dir, "list")
    assert isinstance(tasks, list) and len(tasks) == 10
    assert tasks[0]["task_id"] == "DES-001" and tasks[0]["derived_status"] == "ready"
    assert set(AgentTask.model_fields) <= set(tasks[0])
    assert {t["derived_status"] for t in tasks[1:]} == {"blocked"}

    ready = ok(demo_dir, "list", "--status", "ready").stdout
    assert "DES-001" in ready and "DES-002" not in ready
    assert len(as_json(demo_dir, "list", "--status", "pending")) == 10  # type: ignore[arg-type]
    assert [t["task_id"] for t in as_json(demo_dir, "list", "--status", "BLOCKED", "--phase", "testing")] == [
        "TST-001",
        "TST-002",
        "TST-003",
    ]  # type: ignore[union-attr]
    high = as_json(demo_dir, "list", "--priority", "high")
    assert {t["task_id"] for t in high} == {"DES-002", "DEV-001", "DEV-002", "TST-001", "TST-002"}  # type: ignore[union-attr]
    assert ok(demo_dir, "list", "--status", "failed").stderr == "no tasks match\n"
    assert cli(demo_dir, "list", "--status", "bogus").exit_code == 2


def test_list_marks_failed_and_cancelled_and_has_no_colour_when_piped(demo_dir: Path) -> None:
    ok(demo_dir, "fail", "DES-001", "--reason", "no time")
    ok(demo_dir, "cancel", "DES-002")
    out = ok(demo_dir, "list").stdout
    assert re.search(r"DES-001\s+✗ failed", out) and re.search(r"DES-002\s+⊘ cancelled", out)
    assert "\x1b[" not in out
    coloured = ok(demo_dir, "list", env={"FORCE_COLOR": "1", "NO_COLOR": None, "TERM": "xterm-256color"}).stdout
    assert "\x1b[" in coloured  # colour is rich's decision: a terminal gets it


def test_show_json_and_text(demo_dir: Path) -> None:
    ok(demo_dir, "complete", "DES-001")
    ok(demo_dir, "fail", "DES-003", "--reason", "corpus missing")
    detail = as_json(demo_dir, "show", "DES-002")
    assert isinstance(detail, dict)
    assert detail["derived_status"] == "ready" and detail["effective_agent"] == "shell"
    assert detail["unblocks"] == ["DEV-001", "DEV-002"] and detail["dependants"] == ["DEV-001", "DEV-002"]
    blocked = as_json(demo_dir, "show", "TST-001")
    assert blocked["waiting_on"] == ["DES-003", "DEV-001"] and blocked["blockers"] == ["DES-003"]  # type: ignore[index]
    text = ok(demo_dir, "show", "TST-001").stdout
    assert "Test the tokenizer" in text and "DES-003 (failed)" in text
    failed = ok(demo_dir, "show", "DES-003").stdout
    assert "corpus missing" in failed


def test_unknown_task_id_gets_a_suggestion(demo_dir: Path) -> None:
    assert user_error(demo_dir, "show", "DES-01") == "error: unknown task 'DES-01'; did you mean 'DES-001'?"
    assert user_error(demo_dir, "complete", "dev-001").startswith("error: unknown task 'dev-001'")


def test_next_plain_json_and_null_when_all_done(tmp_path: Path) -> None:
    root = small_plan(tmp_path)
    assert ok(root, "next").stdout.startswith("next: A  Task A (medium, development, 2 h, agent shell)")
    result = ok(root, "next", "--json")
    assert result.stdout == json.dumps(json.loads(result.stdout), indent=2) + "\n"  # plain json.dumps, nothing else
    assert json.loads(result.stdout)["task_id"] == "A"
    for task_id in ("A", "B", "C"):
        ok(root, "complete", task_id)
    assert ok(root, "next", "--json").stdout == "null\n"
    assert ok(root, "next").stdout == "nothing to do: all 3 tasks are completed\n"


def test_project_comes_from_the_environment(demo_dir: Path) -> None:
    result = ok(None, "next", "--json", env={"ORCHESTRA_PROJECT": str(demo_dir)})
    assert json.loads(result.stdout)["task_id"] == "DES-001"


def test_report_json_markdown_and_text(demo_dir: Path) -> None:
    ok(demo_dir, "complete", "DES-001")
    data = as_json(demo_dir, "report")
    assert isinstance(data, dict)
    assert data["completed_tasks"] == 1 and data["completion_percentage"] == 10.0
    assert data["critical_path"] == ["DES-002", "DEV-001", "DEV-003", "TST-002", "TST-003"]
    markdown = ok(demo_dir, "report", "--markdown").stdout
    assert markdown.startswith("# Progress: wordfreq: a word-frequency CLI\n")
    assert "| Completion | 10% (1 of 10 tasks) |" in markdown
    assert "`DES-002` → `DEV-001` → `DEV-003` → `TST-002` → `TST-003` (8 h)" in markdown
    text = ok(demo_dir, "report").stdout
    assert "DES-002 -> DEV-001 -> DEV-003 -> TST-002 -> TST-003 (8 h)" in text
    assert cli(demo_dir, "report", "--json", "--markdown").exit_code == 2


def test_time_spent_reads_in_seconds_minutes_or_hours() -> None:
    from orchestra_tui.formatting import spent

    assert [spent(h) for h in (None, 0.0, 4.1 / 3600, 0.2, 0.99, 1.5, 12.25)] == [
        "-",
        "0 s",
        "4 s",
        "12 min",
        "59 min",
        "1.5 h",
        "12.2 h",
    ]


def test_schema_is_the_plan_json_schema() -> None:
    schema = json.loads(ok(None, "schema").stdout)
    assert "tasks" in schema["properties"] and "id" in schema["$defs"]["TaskSpec"]["properties"]


def test_version() -> None:
    assert ok(None, "--version").stdout == "orchestra 0.1.0\n"


# ----------------------------------------------------------------------------------------- changes


def test_complete_reports_entry_and_what_became_ready(demo_dir: Path) -> None:
    out = ok(demo_dir, "complete", "DES-001").stdout
    assert out == "DES-001 completed (entry 00000002); now ready: DES-002, DES-003, DEV-004\n"
    assert ok(demo_dir, "complete", "DES-003").stdout == "DES-003 completed (entry 00000003)\n"


def test_refused_transition_names_the_dependency(demo_dir: Path) -> None:
    line = user_error(demo_dir, "complete", "DES-002")
    assert line == "error: cannot complete DES-002: it depends on tasks not completed: DES-001 (ready)"
    assert status(demo_dir, "DES-002") == "blocked"
    assert user_error(demo_dir, "start", "DEV-003").startswith(
        "error: cannot start DEV-003: it depends on tasks not completed: DEV-001"
    )


def test_start_fail_cancel_and_retry_downstream(demo_dir: Path) -> None:
    assert ok(demo_dir, "start", "DES-001").stdout == "DES-001 started (entry 00000002)\n"
    assert status(demo_dir, "DES-001") == "in_progress"
    ok(demo_dir, "complete", "DES-001")
    assert (
        ok(demo_dir, "fail", "DES-002", "--reason", "spec unclear").stdout
        == "DES-002 failed (entry 00000004): spec unclear\n"
    )
    assert ok(demo_dir, "cancel", "DEV-001").stdout == "DEV-001 cancelled (entry 00000005)\n"
    assert user_error(demo_dir, "cancel", "DEV-001") == "error: cannot cancel DEV-001: it is cancelled"
    out = ok(demo_dir, "retry", "DES-002", "--downstream").stdout
    assert out == "DES-002 reopened with DEV-001 (entry 00000006); now ready: DES-002\n"
    assert status(demo_dir, "DEV-001") == "blocked"
    assert cli(demo_dir, "fail", "DES-003").exit_code == 2  # --reason is required


# ----------------------------------------------------------------------------------------- history


def test_backups_newest_first_with_limit(demo_dir: Path) -> None:
    ok(demo_dir, "complete", "DES-001")
    ok(demo_dir, "complete", "DES-002")
    entries = as_json(demo_dir, "backups")
    assert [e["id"] for e in entries] == ["00000003", "00000002", "00000001"]  # type: ignore[union-attr]
    assert entries[0]["actor"] == "cli" and entries[0]["progress"]["completed_tasks"] == 2  # type: ignore[index]
    assert [e["id"] for e in as_json(demo_dir, "backups", "--limit", "1")] == ["00000003"]  # type: ignore[union-attr]
    table = ok(demo_dir, "backups").stdout
    assert re.search(
        r"00000003\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+cli\s+complete\s+DES-002 completed\s+2/10\s+20%", table
    ), table


def test_rollback_with_yes_then_undo(demo_dir: Path) -> None:
    ok(demo_dir, "complete", "DES-001")
    ok(demo_dir, "complete", "DES-002")
    out = ok(demo_dir, "rollback", "2", "--yes").stdout
    assert "rolling back to 00000002" in out and "changes 1 task:" in out
    assert "  DES-002: status completed -> pending" in out
    assert out.endswith("rollback to 00000002: 1 task changed (entry 00000004); `orchestra undo` reverts it\n")
    assert status(demo_dir, "DES-002") == "ready"
    assert (
        ok(demo_dir, "rollback", "00000002", "--yes").stdout
        == "nothing to roll back: the state already matches entry 00000002\n"
    )
    undo = ok(demo_dir, "undo").stdout
    assert undo.startswith("undid 00000004 (rollback to 00000002: 1 task changed) as entry 00000005")
    assert status(demo_dir, "DES-002") == "completed"


def test_rollback_refuses_without_confirmation_and_unknown_entries(demo_dir: Path) -> None:
    ok(demo_dir, "complete", "DES-001")
    result = cli(demo_dir, "rollback", "1")  # CliRunner's stdin is not a terminal
    assert result.exit_code == 1
    assert result.stderr == "error: refusing to roll back without confirmation: add --yes\n"
    assert "DES-001: status completed -> pending" in result.stdout
    assert status(demo_dir, "DES-001") == "completed"
    assert len(as_json(demo_dir, "backups")) == 2  # type: ignore[arg-type]
    assert (
        user_error(demo_dir, "rollback", "42", "--yes")
        == "error: unknown history entry '42'; `orchestra backups` lists them"
    )
    assert user_error(demo_dir, "rollback", "latest").startswith("error: unknown history entry 'latest'")


def test_undo_with_nothing_to_undo(demo_dir: Path) -> None:
    assert ok(demo_dir, "undo").stdout == "nothing to undo\n"


def test_diff_between_entries_and_against_now(tmp_path: Path) -> None:
    root = small_plan(tmp_path)
    ok(root, "complete", "A")
    lines = ok(root, "diff", "1").stdout.splitlines()
    assert lines[0] == "00000001 -> now: 1 change"
    assert lines[1].startswith("A: status pending -> completed; completed_at none -> ")
    # The plan changes: C removed, D added (synced as one entry when the project is next opened).
    write_plan(root, task_block("A", estimated_hours=2) + task_block("B", ["A"]) + task_block("D"))
    ok(root, "next")
    out = ok(root, "diff", "2", "3").stdout.splitlines()
    assert re.fullmatch(r"00000002 -> 00000003: \d+ changes", out[0]) and out[1:3] == ["- C removed", "+ D added"]
    assert all(line.startswith("project: ") for line in out[3:])  # project-wide values, e.g. the plan's hash
    changes = as_json(root, "diff", "2", "3")
    assert [(c["task"], c["op"]) for c in changes if c["task"]] == [("C", "remove"), ("D", "add")]  # type: ignore[union-attr]
    assert ok(root, "diff", "3", "3").stdout == "00000003 -> 00000003: no differences\n"
    assert user_error(root, "diff", "9") == "error: unknown history entry '9'; `orchestra backups` lists them"


# ------------------------------------------------------------------------------------------- graph


MERMAID_NODE = re.compile(r'^    (t_[A-Za-z0-9_]+)\["([^"]*)"\]$')
MERMAID_EDGE = re.compile(r"^    (t_[A-Za-z0-9_]+) (-->|==>) (t_[A-Za-z0-9_]+)$")
MERMAID_CLASSDEF = re.compile(r"^    classDef ([a-z_]+) [a-z-]+:[#0-9a-z]+(,[a-z-]+:[#0-9a-z]+)*$")
MERMAID_CLASS = re.compile(r"^    class (t_[A-Za-z0-9_]+(?:,t_[A-Za-z0-9_]+)*) ([a-z_]+)$")
QUOTED = r'"((?:[^"\\]|\\.)*)"'
DOT_NODE = re.compile(
    rf'^    {QUOTED} \[label={QUOTED}, fillcolor="#[0-9a-f]{{6}}"(, color="#[0-9a-f]{{6}}", penwidth=3)?\];$'
)
DOT_EDGE = re.compile(rf'^    {QUOTED} -> {QUOTED}( \[color="#[0-9a-f]{{6}}", penwidth=3\])?;$')


def odd_plan(root: Path) -> Path:
    """Ids that need sanitising in Mermaid (and collide once sanitised), a reserved word, quotes in titles."""
    write_plan(
        root,
        (
            '[[tasks]]\nid = "a.b:c-1"\ntitle = "Say \\"hi\\" \\\\ now"\nestimated_hours = 3\n\n'
            '[[tasks]]\nid = "a_b_c_1"\ntitle = "collides"\ndependencies = ["a.b:c-1"]\n\n'
            '[[tasks]]\nid = "end"\ntitle = "reserved"\ndependencies = ["a_b_c_1", "a.b:c-1"]\n\n'
            '[[tasks]]\nid = "side"\ntitle = "side"\nestimated_hours = 0.5\n'
        ),
    )
    return root


def test_graph_mermaid_is_well_formed(tmp_path: Path) -> None:
    root = odd_plan(tmp_path)
    ok(root, "complete", "side")
    text = ok(root, "graph").stdout
    lines = [line for line in text.splitlines() if not line.startswith("%%")]
    assert lines[0] == "flowchart TD"
    nodes: dict[str, str] = {}
    edges: list[tuple[str, str, str]] = []
    classes: dict[str, set[str]] = {}
    defined: set[str] = set()
    for line in lines[1:]:
        if match := MERMAID_NODE.match(line):
            assert match[1] not in nodes
            nodes[match[1]] = match[2]
        elif match := MERMAID_EDGE.match(line):
            assert match[1] in nodes and match[3] in nodes
            edges.append((match[1], match[2], match[3]))
        elif match := MERMAID_CLASSDEF.match(line):
            defined.add(match[1])
        elif match := MERMAID_CLASS.match(line):
            assert match[2] in defined
            for node in match[1].split(","):
                assert node in nodes
                classes.setdefault(node, set()).add(match[2])
        else:
            pytest.fail(f"not a well-formed line: {line!r}")
    by_task = {label.split(": ", 1)[0]: node for node, label in nodes.items()}
    assert set(by_task) == {"a.b:c-1", "a_b_c_1", "end", "side"}
    assert nodes[by_task["a.b:c-1"]] == "a.b:c-1: Say #quot;hi#quot; \\ now"
    assert classes[by_task["side"]] == {"completed"}
    # Critical path a.b:c-1 -> a_b_c_1 -> end: thick edges and the critical class; the shortcut edge is thin.
    thick = {(a, b) for a, arrow, b in edges if arrow == "==>"}
    assert thick == {(by_task["a.b:c-1"], by_task["a_b_c_1"]), (by_task["a_b_c_1"], by_task["end"])}
    assert (by_task["a.b:c-1"], "-->", by_task["end"]) in edges
    assert {node for node, names in classes.items() if "critical" in names} == {
        by_task[t] for t in ("a.b:c-1", "a_b_c_1", "end")
    }


def test_graph_dot_is_well_formed(tmp_path: Path) -> None:
    root = odd_plan(tmp_path)
    lines = ok(root, "graph", "--format", "dot").stdout.splitlines()
    assert lines[0] == 'digraph "t" {' and lines[-1] == "}"
    assert text_balanced("\n".join(lines))
    unescape = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}

    def value(quoted: str) -> str:
        return re.sub(r"\\.", lambda m: unescape[m[0]], quoted)

    nodes: dict[str, str] = {}
    critical_nodes: set[str] = set()
    edges: dict[tuple[str, str], bool] = {}
    for line in lines[1:-1]:
        if match := DOT_NODE.match(line):
            nodes[value(match[1])] = value(match[2])
            if match[3]:
                critical_nodes.add(value(match[1]))
        elif match := DOT_EDGE.match(line):
            a, b = value(match[1]), value(match[2])
            assert a in nodes and b in nodes
            edges[(a, b)] = bool(match[3])
        else:
            assert re.match(r'^    (label=".*"|labelloc=t|rankdir=LR|node \[.*\]);$', line), line
    assert nodes["a.b:c-1"] == 'a.b:c-1\nSay "hi" \\ now\n[ready]'
    assert nodes["end"].endswith("[blocked]")
    assert edges == {("a.b:c-1", "a_b_c_1"): True, ("a.b:c-1", "end"): False, ("a_b_c_1", "end"): True}
    assert critical_nodes == {"a.b:c-1", "a_b_c_1", "end"}
    assert cli(root, "graph", "--format", "svg").exit_code == 2


def text_balanced(text: str) -> bool:
    """Braces and brackets balance outside quoted strings."""
    depth, in_string, escaped = 0, False, False
    for char in text:
        if in_string:
            escaped = char == "\\" and not escaped
            if char == '"' and not escaped:
                in_string = False
            continue
        if char == '"':
            in_string, escaped = True, False
        elif char in "{[":
            depth += 1
        elif char in "}]":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0 and not in_string


# ------------------------------------------------------------------------------------------ agents


def agents_plan(root: Path) -> Path:
    write_plan(
        root,
        (
            '[agents.claude]\ntype = "anthropic"\nmodel = "claude-sonnet-4-5"\napi_key_env = "ORCH_CLI_TEST_KEY"\n\n'
            '[agents.local]\ntype = "openai"\nmodel = "qwen"\nbase_url = "${ORCH_CLI_TEST_URL}"\n\n'
            '[agents.coder]\ntype = "cli"\ncommand = ["orchestra-test-no-such-binary", "-p"]\n\n'
            + task_block("A", agent="claude")
            + task_block("B", agent="claude")
            + task_block("C")
        ),
    )
    return root


def test_agents_report_key_presence_without_the_key(tmp_path: Path) -> None:
    root = agents_plan(tmp_path)
    secret = "sk-orchestra-test-secret-123"
    env = {"ORCH_CLI_TEST_KEY": secret, "ORCH_CLI_TEST_URL": None}
    result = ok(root, "agents", "--offline", "--json", env=env)
    assert secret not in result.stdout and secret not in result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert set(rows) == {"claude", "coder", "interactive", "local", "shell"}
    claude = rows["claude"]
    assert (claude["key"], claude["usable"], claude["endpoint_checked"], claude["tasks"]) == ("set", True, False, 2)
    assert rows["local"]["missing_env"] == ["ORCH_CLI_TEST_URL"] and rows["local"]["usable"] is False
    assert rows["coder"]["problems"] == ["command 'orchestra-test-no-such-binary' not found on PATH"]
    assert (
        rows["shell"]["builtin"]
        and rows["shell"]["default"]
        and rows["shell"]["tasks"] == 1
        and rows["shell"]["usable"]
    )
    table = ok(root, "agents", "--offline", env=env).stdout
    assert secret not in table and "endpoint not checked" in table

    unset = json.loads(ok(root, "agents", "--offline", "--json", env={"ORCH_CLI_TEST_KEY": None}).stdout)
    claude = next(row for row in unset if row["name"] == "claude")
    assert claude["key"] == "missing" and claude["problems"] == ["$ORCH_CLI_TEST_KEY is not set"]


# ------------------------------------------------------------------------------------ seed import


def test_import_state_merges_a_seed_file(demo_dir: Path, tmp_path: Path) -> None:
    seed = tmp_path / "project_state.json"
    seed.write_text(
        json.dumps(
            {
                "version": "1.0",
                "format_version": 2,
                "project_id": "demo",
                "tasks": {
                    "DES-001": {"task_id": "DES-001", "title": "Write the specification", "status": "completed"},
                    "X-1": {"task_id": "X-1", "title": "Extra", "status": "pending", "dependencies": ["DES-001"]},
                },
            }
        )
    )
    out = ok(demo_dir, "import-state", str(seed)).stdout
    assert out == (
        "imported project_state.json (seed format 2): 1 added, 1 updated (entry 00000002); "
        "`orchestra undo` reverts it\n"
    )
    assert status(demo_dir, "DES-001") == "completed" and status(demo_dir, "X-1") == "ready"
    assert ok(demo_dir, "import-state", str(seed)).stdout.startswith("nothing to import")

    broken = tmp_path / "broken.json"
    broken.write_text('{"tasks": {\n  "A": }\n')
    assert re.match(
        rf"^error: {re.escape(str(broken))}:2:\d+: not JSON", user_error(demo_dir, "import-state", str(broken))
    )
    dangling = tmp_path / "dangling.json"
    dangling.write_text(json.dumps({"tasks": {"Z": {"task_id": "Z", "dependencies": ["NOPE", "NADA"]}}}))
    line = user_error(demo_dir, "import-state", str(dangling))
    assert "unknown task" in line and "orchestra validate" not in line
    assert len(as_json(demo_dir, "backups")) == 2  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------- the store


def test_store_repairs_go_to_stderr_and_json_stays_clean(demo_dir: Path) -> None:
    ok(demo_dir, "complete", "DES-001")
    snapshot = demo_dir / ".orchestra" / "project_state.json"
    data = bytearray(snapshot.read_bytes())
    data[data.index(b"Write the")] = ord("X")
    snapshot.write_bytes(bytes(data))
    damaged = snapshot.read_bytes()
    result = ok(demo_dir, "next", "--json")  # a read-only command: reports, repairs nothing
    assert json.loads(result.stdout)["task_id"] == "DES-002"
    assert re.search(
        r"^warning: project_state.json could not be trusted .*`orchestra repair` repairs it",
        result.stderr,
        re.MULTILINE,
    ), result.stderr
    assert snapshot.read_bytes() == damaged and not (demo_dir / ".orchestra" / "damaged").exists()
    result = ok(demo_dir, "repair")
    assert re.search(r"^repaired: project_state.json could not be trusted", result.stderr, re.MULTILINE), result.stderr
    assert all(line.startswith(("repaired: ", "warning: ")) for line in result.stderr.splitlines())
    assert ok(demo_dir, "repair").stdout.strip() == "nothing to repair"


# ------------------------------------------------------------------------------ real processes


def test_entry_point_opens_a_directory_given_first(demo_dir: Path, tmp_path: Path) -> None:
    shown = run_entry_point("demo", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "next: DES-001" in shown.stdout and "TST-003" in shown.stdout
    nxt = run_entry_point("demo", "next", "--json", cwd=tmp_path)
    assert nxt.returncode == 0 and json.loads(nxt.stdout)["task_id"] == "DES-001"


def test_console_script_is_installed(demo_dir: Path) -> None:
    script = shutil.which("orchestra", path=os.path.dirname(sys.executable)) or shutil.which("orchestra")
    assert script is not None, "pip install -e . provides the orchestra script"
    result = subprocess.run([script, str(demo_dir), "validate"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.startswith("OK orchestra.toml: 10 tasks"), result.stderr


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["-p", "demo", "next"], 0),
        (["-p", "demo", "show", "NOPE-1"], 1),
        (["-p", "demo", "complete", "DES-002"], 1),
        (["-p", "demo", "rollback", "7"], 1),
        (["-p", "empty"], 1),
        (["empty"], 1),
        (["-p", "demo", "list", "--status", "bogus"], 2),
        (["-p", "demo", "frobnicate"], 2),
        (["-p", "demo", "fail", "DES-001"], 2),
    ],
)
def test_exit_codes_and_no_traceback(demo_dir: Path, tmp_path: Path, args: list[str], code: int) -> None:
    (tmp_path / "empty").mkdir()
    result = run_entry_point(*args, cwd=tmp_path)
    assert result.returncode == code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    if code == 1:
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr


def _spawn_on_terminal(args: list[str], cwd: Path) -> tuple[subprocess.Popen[bytes], int]:
    """The entry point with a real terminal on stdin (so it may ask), stdout and stderr as pipes."""
    master, slave = os.openpty()
    process = subprocess.Popen(
        [*ENTRY_POINT, *args], cwd=cwd, stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    os.close(slave)
    return process, master


def test_rollback_asks_on_a_terminal(demo_dir: Path, tmp_path: Path) -> None:
    ok(demo_dir, "complete", "DES-001")
    process, master = _spawn_on_terminal(["-p", "demo", "rollback", "1"], tmp_path)
    try:
        shown = read_until(process, b"Roll back? [y/N] ")
        assert b"DES-001: status completed -> pending" in shown
        os.write(master, b"y\n")
        out, err = process.communicate(timeout=60)
    finally:
        os.close(master)
        process.kill() if process.poll() is None else None
    assert process.returncode == 0, err
    assert b"rollback to 00000001: 1 task changed (entry 00000003)" in out
    assert status(demo_dir, "DES-001") == "ready"


def test_interrupt_exits_130_quietly(demo_dir: Path, tmp_path: Path) -> None:
    ok(demo_dir, "complete", "DES-001")
    process, master = _spawn_on_terminal(["-p", "demo", "rollback", "1"], tmp_path)
    try:
        read_until(process, b"Roll back? [y/N] ")
        # A SIGINT landing between input()'s prompt and its read() is seen only when the read returns (CPython
        # checks for signals when a read is interrupted), so press again after a while, as a person would.
        for _ in range(10):
            process.send_signal(signal.SIGINT)
            try:
                _, err = process.communicate(timeout=3)
                break
            except subprocess.TimeoutExpired:
                continue
        else:
            raise AssertionError("the command did not exit after 10 interrupts")
    finally:
        os.close(master)
        process.kill() if process.poll() is None else None
    assert process.returncode == 130
    assert b"Traceback" not in err and b"Aborted" not in err
    assert status(demo_dir, "DES-001") == "completed"


def test_a_project_built_with_the_python_api_is_readable_without_a_plan(tmp_path: Path) -> None:
    from orchestra_tui import ProjectOrchestrator

    with ProjectOrchestrator(tmp_path) as orchestrator:
        orchestrator.add_tasks([AgentTask("A", "first"), AgentTask("B", "second", dependencies=["A"])])
    assert [t["task_id"] for t in as_json(tmp_path, "list")] == ["A", "B"]
    ok(tmp_path, "complete", "A")
    assert status(tmp_path, "B") == "ready"


def test_rollback_preview_matches_what_the_rollback_does(tmp_path: Path) -> None:
    small_plan(tmp_path)
    ok(tmp_path, "complete", "A")
    ok(tmp_path, "complete", "B")
    preview = ok(tmp_path, "rollback", "1", "--yes").stdout
    assert "changes 2 tasks:" in preview
    assert "rollback to 00000001: 2 tasks changed" in preview


def test_validate_json(tmp_path: Path) -> None:
    small_plan(tmp_path)
    data = as_json(tmp_path, "validate")
    assert data["valid"] is True and data["tasks"] == 3 and data["critical_path_hours"] == 3.0
    write_plan(tmp_path, task_block("A", ["B"]) + task_block("B", ["A"]) + task_block("C", priority="urgent"))
    result = cli(tmp_path, "validate", "--json")
    assert result.exit_code == 1
    problems = json.loads(result.stdout)["problems"]
    assert len(problems) == 2 and any("A -> B -> A" in p for p in problems) and any("urgent" in p for p in problems)
