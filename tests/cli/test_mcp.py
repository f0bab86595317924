"""``orchestra mcp``: the real server process over stdio, driven by the official SDK's client, by the MCP
Inspector's CLI (a client written by others) and, when installed, listed as connected by the real ``claude``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from orchestra_tui.engine.project import Project

from ..helpers.cli import user_error
from ..helpers.plans import task_block, write_plan
from ..helpers.receiver import Receiver

SERVER = [sys.executable, "-m", "orchestra_tui", "mcp"]
TOOLS = {
    "next_task",
    "get_task",
    "list_tasks",
    "start_task",
    "complete_task",
    "fail_task",
    "retry_task",
    "add_tasks",
    "report",
}
MAX_TOOLS_LIST_BYTES = 12 * 1024


def plan(root: Path, webhook: str | None = None) -> Path:
    hooks = f'[[webhooks]]\nurl = "{webhook}"\nevents = ["task_completed"]\n\n' if webhook else ""
    write_plan(root, hooks + task_block("A", priority="high") + task_block("B", ["A"]) + task_block("C", ["B"]))
    return root


def client(root: Path) -> Client:
    return Client(
        StdioServerParameters(command=SERVER[0], args=[*SERVER[1:], "-p", str(root)], cwd=str(root)),
        read_timeout_seconds=60,
    )


async def call(session: Client, tool: str, **arguments: Any) -> tuple[bool, Any]:
    """(is_error, the answer: parsed JSON, or the error's text)."""
    result = await session.call_tool(tool, arguments)
    text = "".join(block.text for block in result.content if block.type == "text")
    return result.is_error, (text if result.is_error else json.loads(text))


def tools_list_bytes(tools: list[Any]) -> int:
    return len(
        json.dumps(
            {"tools": [tool.model_dump(mode="json", by_alias=True, exclude_none=True) for tool in tools]},
            separators=(",", ":"),
        ).encode()
    )


async def test_tools_are_few_small_and_named_for_what_they_do(tmp_path: Path) -> None:
    async with client(plan(tmp_path)) as session:
        tools = (await session.list_tools()).tools
    assert {tool.name for tool in tools} == TOOLS and len(tools) <= 10
    assert all(tool.description and len(tool.description) < 160 for tool in tools)
    assert all(tool.input_schema["type"] == "object" for tool in tools)
    assert tools_list_bytes(tools) < MAX_TOOLS_LIST_BYTES


async def test_every_tool_works_and_every_change_is_an_mcp_entry(tmp_path: Path, receiver: Receiver) -> None:
    root = plan(tmp_path, webhook=receiver.url())
    async with client(root) as session:
        assert (await call(session, "next_task"))[1]["id"] == "A"
        error, task = await call(session, "get_task", id="B")
        assert not error and task["waiting_on"] == ["A"] and task["status"] == "blocked"
        assert [t["id"] for t in (await call(session, "list_tasks", status="ready"))[1]["tasks"]] == ["A"]
        assert (await call(session, "start_task", id="A"))[1]["status"] == "in_progress"
        done = (await call(session, "complete_task", id="A", notes="built it"))[1]
        assert done["status"] == "completed" and done["now_ready"] == ["B"]
        assert (await call(session, "fail_task", id="B", reason="tests fail"))[1]["status"] == "failed"
        assert (await call(session, "retry_task", id="B"))[1]["status"] == "pending"
        added = (
            await call(
                session,
                "add_tasks",
                tasks=[
                    {"id": "D", "title": "Docs", "dependencies": ["C"]},
                    {"id": "D.1", "title": "Docs part", "parent": "D"},
                ],
            )
        )[1]
        assert added["added"] == ["D", "D.1"]
        report = (await call(session, "report"))[1]
        assert report["total_tasks"] == 5 and report["completed_tasks"] == 1
    with Project.open(root) as project:
        mcp_entries = [entry for entry in project.history() if entry.actor == "mcp" and entry.action != "plan"]
        assert [entry.action for entry in mcp_entries] == ["start", "complete", "fail", "retry", "add"]
        assert project.task("D.1").parent == "D" and project.task("D.1").origin == "api"
        assert project.graph.waiting_on("D") == ["C", "D.1"]  # the parent waits for its subtask
        assert project.undo() is not None and "D" not in project.tasks  # undoable like any change
    hook = receiver.wait_for(1)[0].json()
    assert hook["event"] == "task_completed" and hook["task"]["id"] == "A" and hook["entry"]["actor"] == "mcp"


async def test_refusals_are_tool_errors_with_the_clis_line(tmp_path: Path) -> None:
    root = plan(tmp_path)
    cli_says = {
        args: user_error(root, *args).removeprefix("error: ")
        for args in [("start", "B"), ("complete", "nope"), ("retry", "A")]
    }
    async with client(root) as session:
        assert await call(session, "start_task", id="B") == (True, cli_says[("start", "B")])
        assert await call(session, "complete_task", id="nope") == (True, cli_says[("complete", "nope")])
        assert await call(session, "retry_task", id="A") == (True, cli_says[("retry", "A")])
        # add_tasks validates like a plan edit: one line naming the task and the field
        error, text = await call(session, "add_tasks", tasks=[{"id": "X", "title": "x", "dependencies": ["Y"]}])
        assert error and text.endswith("task X: field 'dependencies': unknown task 'Y'")
        error, text = await call(
            session,
            "add_tasks",
            tasks=[
                {"id": "X", "title": "x", "dependencies": ["C"]},
                {"id": "Y", "title": "y", "dependencies": ["X"], "parent": "X"},
            ],
        )
        assert error and "dependency cycle" in text
        error, text = await call(session, "add_tasks", tasks=[{"id": "bad id", "title": "x"}])
        assert error and text.startswith("task bad id: field 'id': String should match pattern")
        error, text = await call(session, "add_tasks", tasks=[{"id": "X", "title": "x", "agent": "gpt9"}])
        assert error and text.startswith("task X: field 'agent': unknown agent 'gpt9'")
        error, text = await call(session, "list_tasks", status="done")
        assert error and text.startswith("unknown status 'done'")
        assert (await call(session, "next_task"))[1]["id"] == "A"  # still serving after every refusal
    with Project.open(root) as project:
        assert [entry.action for entry in project.history()] == ["plan"]  # nothing was written after opening


async def test_changes_from_other_processes_are_seen(tmp_path: Path) -> None:
    root = plan(tmp_path)
    async with client(root) as session:
        assert (await call(session, "next_task"))[1]["id"] == "A"
        with Project.open(root, actor="cli") as other:
            other.complete("A")
        assert (await call(session, "next_task"))[1]["id"] == "B"
        (root / "orchestra.toml").write_text(
            (root / "orchestra.toml").read_text() + task_block("E", priority="critical")
        )
        assert (await call(session, "next_task"))[1]["id"] == "E"  # the edited plan is read again


def test_a_project_that_cannot_open_is_one_line_on_stderr(tmp_path: Path) -> None:
    result = subprocess.run(
        [*SERVER, "-p", str(tmp_path)], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
    )
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith("error: no orchestra.toml in") and result.stderr.count("\n") == 1


INSPECTOR = shutil.which("mcp-inspector")


@pytest.mark.skipif(
    INSPECTOR is None, reason="the MCP Inspector (npm @modelcontextprotocol/inspector) is installed by .ci/run"
)
def test_the_mcp_inspector_cli_lists_and_calls_the_tools(tmp_path: Path) -> None:
    root = plan(tmp_path)
    base = [INSPECTOR, "--cli", *SERVER, "-p", str(root)]

    def inspect(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*base, *args], capture_output=True, text=True, timeout=120, cwd=root, env={**os.environ, "NO_COLOR": "1"}
        )

    listed = inspect("--method", "tools/list")
    assert listed.returncode == 0, listed.stderr
    tools = json.loads(listed.stdout)["tools"]
    assert {tool["name"] for tool in tools} == TOOLS
    assert len(json.dumps({"tools": tools}, separators=(",", ":")).encode()) < MAX_TOOLS_LIST_BYTES
    started = inspect("--method", "tools/call", "--tool-name", "start_task", "--tool-arg", "id=A")
    assert started.returncode == 0, started.stderr
    assert json.loads(json.loads(started.stdout)["content"][0]["text"])["status"] == "in_progress"
    refused = inspect("--method", "tools/call", "--tool-name", "start_task", "--tool-arg", "id=B")
    answer = json.loads(refused.stdout[: refused.stdout.rindex("}") + 1].split('\n{"error"')[0])
    assert answer["isError"] is True and answer["content"][0]["text"].startswith(
        "cannot start B: it depends on tasks not completed"
    )
    with Project.open(root) as project:
        assert project.task("A").status == "in_progress" and project.history()[-1].actor == "mcp"


# The pinned Claude Code that .ci/run installs for the agents tests (tests/real_cli), else one on PATH.
CLAUDE = shutil.which(
    "claude", path=str(Path(__file__).resolve().parents[1] / "real_cli" / "node_modules" / ".bin")
) or shutil.which("claude")


@pytest.mark.slow
@pytest.mark.skipif(CLAUDE is None, reason="the real claude binary is installed by .ci/run for the agents tests")
def test_claude_code_lists_the_server_as_connected(tmp_path: Path) -> None:
    root = plan(tmp_path / "project")
    home = tmp_path / "home"
    home.mkdir()
    # What `claude mcp add orchestra -- orchestra mcp -p DIR --scope user` writes (offline, `mcp add` waits on
    # the network first, so the test writes the same entry itself).
    server = {"type": "stdio", "command": SERVER[0], "args": [*SERVER[1:], "-p", str(root)]}
    (home / ".claude.json").write_text(json.dumps({"mcpServers": {"orchestra": server}}))
    env = {
        "HOME": str(home),
        "PATH": os.environ["PATH"],
        "ANTHROPIC_API_KEY": "sk-ant-test-dummy",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_AUTOUPDATER": "1",
    }
    result = subprocess.run(
        [CLAUDE, "mcp", "list"],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=root,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr
    line = next(line for line in result.stdout.splitlines() if line.startswith("orchestra:"))
    assert "Connected" in line, result.stdout


async def test_an_open_tui_shows_mcp_changes_live_and_marks_subtasks(tmp_path: Path) -> None:
    from ..helpers.tui import SIZE, app_on, board
    from ..helpers.waits import until

    root = tmp_path / "project"
    write_plan(root, task_block("A", priority="high") + task_block("A.1", parent="A") + task_block("B", ["A"]))
    app = app_on(root, tmp_path)
    async with app.run_test(size=SIZE) as pilot, client(root) as session:
        await pilot.pause()
        assert board(app).rows("ready") == ["A.1"] and "A" in board(app).rows("blocked")
        assert (await call(session, "complete_task", id="A.1"))[1]["now_ready"] == ["A"]
        await until(pilot, lambda: board(app).rows("ready") == ["A"], "the MCP change on the board", timeout=5.0)
        assert "A.1" in board(app).rows("done")
    from orchestra_tui.models import AgentTask
    from orchestra_tui.tui.widgets.board import row_cells

    assert (
        row_cells(AgentTask(task_id="A.1", title="part", parent="A"), "ready", {})[1].title == "↳ part"
    )  # a subtask, marked
    assert row_cells(AgentTask(task_id="A", title="whole"), "ready", {})[1].title == "whole"
