"""The real coding-agent CLIs as orchestra ``cli`` agents: Claude Code and Codex, the npm builds pinned in
``tests/real_cli/package.json`` (``.ci/run`` installs them with ``npm ci``), against a scripted model
server on 127.0.0.1.

Claude Code talks to the Anthropic Messages API (``ANTHROPIC_BASE_URL``, a dummy key, a temporary HOME, no
nonessential traffic); Codex to the Responses API (a ``config.toml`` in a temporary CODEX_HOME naming a
model provider whose ``base_url`` is the server). The server answers by what the request holds (a tool's
result or not, streamed or not), so a program's extra requests never upset the script. Each test runs the
task through the runner (or ``orchestra execute``) and checks what orchestra recorded: status, reason, the
text, tokens and cost, the output file, and the kind and retries in the run's ``events.jsonl``.

Both programs retry failed requests themselves (Claude Code 10 times with backoff, even a 401); the tests
bound that with ``CLAUDE_CODE_MAX_RETRIES=1`` and ``request_max_retries = 1`` so a failure ends in seconds.
Skipped, with the reason, when the programs are not installed.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from orchestra_tui.engine.bus import RunRetry
from orchestra_tui.engine.project import Project
from orchestra_tui.engine.runner import CANCELLED, Runner, RunResult
from orchestra_tui.engine.runs import OUTPUT_FILE, read_events, run_dir
from orchestra_tui.plan import starter_plan

from ..helpers.fakeserver import FakeServer, Recorded, Reply
from ..helpers.plans import task_block, write_plan

BIN = Path(__file__).resolve().parents[1] / "real_cli" / "node_modules" / ".bin"
CLAUDE = shutil.which("claude", path=str(BIN))
CODEX = shutil.which("codex", path=str(BIN))
INSTALL = "the real CLIs are not installed (`npm ci --prefix tests/real_cli`; .ci/run does it)"
needs_claude = pytest.mark.skipif(CLAUDE is None, reason=INSTALL)
needs_codex = pytest.mark.skipif(CODEX is None, reason=INSTALL)

ANSWER = "Hello from the scripted model"
SSE = (("content-type", "text/event-stream"),)
RUN_SECONDS = 120  # a bound for one run, far above what it takes


# ------------------------------------------------------------------------------------- the project


def make_project(root: Path, agent: str, command: list[str], output_format: str, **agent_fields: Any) -> None:
    agent_fields.setdefault("prompt_via", "stdin")
    fields = "".join(f"{key} = {json.dumps(value)}\n" for key, value in agent_fields.items())
    agents = (
        f'[agents.{agent}]\ntype = "cli"\ncommand = {json.dumps(command)}\n'
        f'output_format = "{output_format}"\n{fields}\n'
    )
    write_plan(root, agents + task_block("T", agent=agent, description="Say hello.", output="out/answer.md"))


async def run_task(
    root: Path, env: dict[str, str], *, cancel_on_retry: bool = False
) -> tuple[RunResult, list[RunRetry]]:
    """Run task T through the runner (as ``orchestra execute`` does) and collect the retries it announced;
    ``cancel_on_retry``: cancel the run at its first retry (for a program that would retry for ever)."""
    with Project.open(root, actor="test") as project:
        runner = Runner(project, env=env)
        subscription = runner.bus.subscribe()
        retries: list[RunRetry] = []
        run = runner.begin("T")
        finishing = asyncio.create_task(runner.finish(run))

        async def watch() -> None:
            async for event in subscription:
                if isinstance(event, RunRetry):
                    retries.append(event)
                    if cancel_on_retry:
                        finishing.cancel()

        watcher = asyncio.create_task(watch())
        try:
            async with asyncio.timeout(RUN_SECONDS):
                result = await finishing
        except asyncio.CancelledError:
            result = None
        finally:
            subscription.close()
            await watcher
        if result is None:
            task = project.task("T")
            result = RunResult("T", run.agent_name, task.status.value, run.run_id, error=task.last_error)
        return result, retries


def events(root: Path, result: RunResult, name: str) -> list[dict[str, Any]]:
    return [event for event in read_events(root, result.run_id) if event.get("event") == name]


def streamed(root: Path, result: RunResult) -> str:
    return (run_dir(root, result.run_id) / OUTPUT_FILE).read_text()


def assert_failed(root: Path, result: RunResult, kind: str, reason: str) -> None:
    assert result.status == "failed", result
    assert result.error == reason
    assert [event["kind"] for event in events(root, result, "failed")] == [kind]
    with Project.open(root, actor="test") as project:
        assert project.task("T").last_error == reason
    assert not (root / "out" / "answer.md").exists()


def closed_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        return listener.getsockname()[1]


# ---------------------------------------------------------------------------- Claude Code's server


def sse_stream(*events: dict[str, Any]) -> list[bytes]:
    """Server-sent events named by their ``type``, as both APIs send them."""
    return [f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode() for event in events]


def message_start(input_tokens: int) -> dict[str, Any]:
    return {
        "type": "message_start",
        "message": {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "content": [],
            "model": "claude-sonnet-4-5",
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": input_tokens, "output_tokens": 1},
        },
    }


def claude_text(text: str, input_tokens: int = 11, output_tokens: int = 6) -> Reply:
    return Reply(
        200,
        SSE,
        sse_stream(
            message_start(input_tokens),
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}},
            {"type": "content_block_stop", "index": 0},
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": output_tokens},
            },
            {"type": "message_stop"},
        ),
    )


def claude_tool(name: str, arguments: dict[str, Any]) -> Reply:
    return Reply(
        200,
        SSE,
        sse_stream(
            message_start(20),
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "tool_use", "id": "toolu_1", "name": name, "input": {}},
            },
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "input_json_delta", "partial_json": json.dumps(arguments)},
            },
            {"type": "content_block_stop", "index": 0},
            {
                "type": "message_delta",
                "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                "usage": {"output_tokens": 30},
            },
            {"type": "message_stop"},
        ),
    )


def anthropic_error(status: int, kind: str, message: str) -> Reply:
    return Reply.json(status, {"type": "error", "error": {"type": kind, "message": message}}, (("retry-after", "0"),))


def tool_result_sent(body: dict[str, Any]) -> bool:
    messages = body.get("messages") or [{}]
    content = messages[-1].get("content")
    return isinstance(content, list) and any(
        isinstance(block, dict) and block.get("type") == "tool_result" for block in content
    )


def anthropic_route(answer: Callable[[dict[str, Any]], Reply]) -> Callable[[Recorded], Reply]:
    """Claude Code's requests: ``HEAD /`` (a reachability check) gets 200; each ``POST /v1/messages`` gets
    ``answer(body)``."""

    def route(request: Recorded) -> Reply:
        if request.method != "POST":
            return Reply(200, (), [])
        assert request.path.startswith("/v1/messages"), request.path
        assert request.headers.get("x-api-key") == "sk-ant-test-dummy"
        return answer(json.loads(request.body))

    return route


def claude_env(home: Path, url: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", os.defpath),
        "HOME": str(home),
        "ANTHROPIC_BASE_URL": url,
        "ANTHROPIC_API_KEY": "sk-ant-test-dummy",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "CLAUDE_CODE_MAX_RETRIES": "1",
    }


def claude_project(tmp_path: Path, *options: str) -> tuple[Path, Path]:
    root, home = tmp_path / "project", tmp_path / "home"
    home.mkdir()
    assert CLAUDE is not None
    command = [CLAUDE, "-p", "--output-format", "stream-json", "--verbose", "--model", "claude-sonnet-4-5", *options]
    make_project(root, "claude", command, "stream-json")
    return root, home


def sonnet_cost(input_tokens: int, output_tokens: int) -> float:
    """Claude Code's own figure for claude-sonnet-4-5 ($3 / $15 per million), which orchestra records."""
    return (input_tokens * 3 + output_tokens * 15) / 1e6


async def claude_run(
    tmp_path: Path, answer: Callable[[dict[str, Any]], Reply], *options: str
) -> tuple[Path, RunResult, list[RunRetry], FakeServer]:
    root, home = claude_project(tmp_path, *options)
    with FakeServer(route=anthropic_route(answer)) as server:
        result, retries = await run_task(root, claude_env(home, server.url))
    return root, result, retries, server


# ------------------------------------------------------------------------------------ Claude Code


@needs_claude
def test_claude_plain_answer_through_orchestra_execute(tmp_path: Path) -> None:
    root, home = claude_project(tmp_path)
    with FakeServer(route=anthropic_route(lambda body: claude_text(ANSWER))) as server:
        done = subprocess.run(
            [sys.executable, "-m", "orchestra_tui", "-p", str(root), "execute", "T"],
            capture_output=True,
            text=True,
            timeout=RUN_SECONDS,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **claude_env(home, server.url)},
        )
    assert done.returncode == 0, done.stderr
    assert done.stdout == ANSWER + "\n"
    assert "T is ready for review" in done.stderr
    assert (root / "out" / "answer.md").read_text() == ANSWER
    with Project.open(root, actor="test") as project:
        task = project.task("T")
        assert (task.status, task.input_tokens, task.output_tokens) == ("review", 11, 6)
        assert task.cost_usd == pytest.approx(sonnet_cost(11, 6))
    posted = [request for request in server.requests if request.method == "POST"]
    assert posted and "Say hello." in json.dumps(posted[0].json()["messages"])  # the prompt went on stdin


@needs_claude
async def test_claude_writes_a_file_with_a_real_tool_call(tmp_path: Path) -> None:
    target = tmp_path / "project" / "made.txt"

    def answer(body: dict[str, Any]) -> Reply:
        if tool_result_sent(body):
            return claude_text(ANSWER)
        return claude_tool("Write", {"file_path": str(target), "content": "made by Claude Code\n"})

    root, result, retries, _ = await claude_run(tmp_path, answer, "--allowedTools=Write")
    assert result.status == "review", result.error
    assert target.read_text() == "made by Claude Code\n"
    assert result.output == ANSWER and streamed(root, result) == ANSWER
    assert (result.input_tokens, result.output_tokens) == (31, 36)  # both requests of the conversation
    assert result.cost_usd == pytest.approx(sonnet_cost(31, 36))
    assert retries == []


@needs_claude
async def test_claude_permission_denied_fails_the_task_and_keeps_the_output(tmp_path: Path) -> None:
    target = tmp_path / "project" / "made.txt"

    def answer(body: dict[str, Any]) -> Reply:
        if tool_result_sent(body):
            return claude_text(ANSWER)
        return claude_tool("Bash", {"command": f"touch {target}", "description": "make the file"})

    root, result, _, _ = await claude_run(tmp_path, answer)  # no --allowedTools: Bash may not write
    assert_failed(root, result, "permission", f"claude: denied: Bash(touch {target})")
    assert not target.exists()
    assert streamed(root, result) == ANSWER  # what it said is kept
    assert (result.input_tokens, result.output_tokens) == (31, 36)


@needs_claude
async def test_claude_401_is_an_auth_failure_and_its_synthetic_message_is_not_the_answer(tmp_path: Path) -> None:
    root, result, retries, _ = await claude_run(
        tmp_path, lambda body: anthropic_error(401, "authentication_error", "invalid x-api-key")
    )
    assert_failed(
        root, result, "auth", "claude: authentication failed (HTTP 401): Invalid API key · Fix external API key"
    )
    assert streamed(root, result) == "" and result.output == ""
    assert [(retry.attempt, retry.reason) for retry in retries] == [(1, "claude: authentication failed (HTTP 401)")]
    assert retries[0].delay is not None and retries[0].delay > 0
    assert (result.input_tokens, result.output_tokens, result.cost_usd) == (0, 0, 0.0)


@needs_claude
async def test_claude_429_is_rate_limited_and_its_retry_is_shown(tmp_path: Path) -> None:
    root, result, retries, _ = await claude_run(
        tmp_path,
        lambda body: anthropic_error(429, "rate_limit_error", "Number of requests has exceeded your rate limit"),
    )
    assert_failed(
        root,
        result,
        "rate_limit",
        "claude: rate limited (HTTP 429): Request rejected (429) · Number of requests has exceeded your rate limit",
    )
    assert [retry.reason for retry in retries] == ["claude: rate limited (HTTP 429)"]
    assert [event["reason"] for event in events(root, result, "retry")] == ["claude: rate limited (HTTP 429)"]
    assert streamed(root, result) == ""


@needs_claude
async def test_claude_overloaded_mid_stream(tmp_path: Path) -> None:
    def answer(body: dict[str, Any]) -> Reply:
        if not body.get("stream"):  # Claude Code's non-streaming second try
            return anthropic_error(529, "overloaded_error", "Overloaded")
        return Reply(
            200,
            SSE,
            sse_stream(
                message_start(11), {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
            ),
            framing="close",
        )

    root, result, _, _ = await claude_run(tmp_path, answer)
    assert result.status == "failed" and result.error is not None
    assert result.error.startswith("claude: overloaded (HTTP 529): 529 Overloaded.")
    assert [event["kind"] for event in events(root, result, "failed")] == ["overloaded"]
    assert streamed(root, result) == "" and not (root / "out" / "answer.md").exists()


@needs_claude
async def test_claude_connection_dropped(tmp_path: Path) -> None:
    cut = claude_text("the start of an answer")
    root, result, retries, _ = await claude_run(tmp_path, lambda body: Reply(200, SSE, cut.body[:3], drop=True))
    assert result.status == "failed" and result.error is not None
    assert result.error.startswith("claude: connection failed: Connection to the API was lost")
    assert [event["kind"] for event in events(root, result, "failed")] == ["connection"]
    assert len(retries) == 1 and "the start of an answer" not in streamed(root, result)


@needs_claude
async def test_claude_max_turns(tmp_path: Path) -> None:
    target = tmp_path / "project" / "made.txt"

    def answer(body: dict[str, Any]) -> Reply:
        return claude_tool("Bash", {"command": f"touch {target}", "description": "make the file"})

    root, result, _, _ = await claude_run(tmp_path, answer, "--allowedTools=Bash", "--max-turns=1")
    assert_failed(root, result, "max_turns", "claude: max turns reached: Reached maximum number of turns (1)")
    assert (result.input_tokens, result.output_tokens) == (20, 30)
    assert result.cost_usd == pytest.approx(sonnet_cost(20, 30))


@needs_claude
async def test_claude_empty_answer_fails(tmp_path: Path) -> None:
    root, result, _, server = await claude_run(tmp_path, lambda body: claude_text(""))
    assert_failed(root, result, "empty", "claude: empty answer")
    assert len([request for request in server.requests if request.method == "POST"]) >= 1


# ---------------------------------------------------------------------------------- Codex's server


def response_usage(input_tokens: int, output_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": input_tokens + output_tokens,
    }


def codex_text(text: str, input_tokens: int = 120, output_tokens: int = 8) -> Reply:
    item = {
        "type": "message",
        "id": "msg_1",
        "role": "assistant",
        "status": "completed",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    }
    return Reply(
        200,
        SSE,
        sse_stream(
            {
                "type": "response.created",
                "response": {"id": "resp_1", "object": "response", "status": "in_progress", "output": []},
            },
            {
                "type": "response.output_item.added",
                "output_index": 0,
                "item": {**item, "status": "in_progress", "content": []},
            },
            {
                "type": "response.output_text.delta",
                "output_index": 0,
                "content_index": 0,
                "item_id": "msg_1",
                "delta": text,
            },
            {"type": "response.output_item.done", "output_index": 0, "item": item},
            {
                "type": "response.completed",
                "response": {
                    "id": "resp_1",
                    "object": "response",
                    "status": "completed",
                    "output": [item],
                    "usage": response_usage(input_tokens, output_tokens),
                },
            },
        ),
    )


def codex_command(command: str) -> Reply:
    call = {
        "type": "function_call",
        "id": "fc_1",
        "call_id": "call_1",
        "name": "exec_command",
        "arguments": json.dumps({"cmd": command}),
        "status": "completed",
    }
    return Reply(
        200,
        SSE,
        sse_stream(
            {
                "type": "response.created",
                "response": {"id": "resp_0", "object": "response", "status": "in_progress", "output": []},
            },
            {"type": "response.output_item.added", "output_index": 0, "item": call},
            {"type": "response.output_item.done", "output_index": 0, "item": call},
            {
                "type": "response.completed",
                "response": {
                    "id": "resp_0",
                    "object": "response",
                    "status": "completed",
                    "output": [call],
                    "usage": response_usage(100, 10),
                },
            },
        ),
    )


def openai_error(status: int, kind: str, message: str, code: str | None = None) -> Reply:
    return Reply.json(
        status, {"error": {"message": message, "type": kind, "param": None, "code": code}}, (("retry-after", "0"),)
    )


def command_output_sent(body: dict[str, Any]) -> bool:
    return any(
        isinstance(item, dict) and item.get("type") == "function_call_output" for item in body.get("input") or []
    )


def responses_route(answer: Callable[[dict[str, Any]], Reply]) -> Callable[[Recorded], Reply]:
    def route(request: Recorded) -> Reply:
        assert (request.method, request.path) == ("POST", "/v1/responses"), (request.method, request.path)
        assert request.headers.get("authorization") == "Bearer sk-test-dummy"
        return answer(json.loads(request.body))

    return route


PRICE_IN, PRICE_OUT = 1.25, 10.0


def codex_project(tmp_path: Path, base_url: str, *options: str) -> tuple[Path, dict[str, str]]:
    root, home = tmp_path / "project", tmp_path / "codex-home"
    home.mkdir()
    (home / "config.toml").write_text(
        'model = "gpt-5.5"\nmodel_provider = "scripted"\n\n[model_providers.scripted]\nname = "scripted"\n'
        f'base_url = "{base_url}/v1"\nwire_api = "responses"\nenv_key = "SCRIPTED_API_KEY"\n'
        "request_max_retries = 1\nstream_max_retries = 1\n"
    )
    assert CODEX is not None
    command = [CODEX, "exec", "--json", "--skip-git-repo-check", *options]
    make_project(root, "codex", command, "jsonl", model="gpt-5.5", price_input=PRICE_IN, price_output=PRICE_OUT)
    env = {
        "PATH": os.environ.get("PATH", os.defpath),
        "HOME": str(home),
        "CODEX_HOME": str(home),
        "SCRIPTED_API_KEY": "sk-test-dummy",
    }
    return root, env


def gpt_cost(input_tokens: int, output_tokens: int) -> float:
    return (input_tokens * PRICE_IN + output_tokens * PRICE_OUT) / 1e6


async def codex_run(
    tmp_path: Path, answer: Callable[[dict[str, Any]], Reply], *options: str
) -> tuple[Path, RunResult, list[RunRetry]]:
    with FakeServer(route=responses_route(answer)) as server:
        root, env = codex_project(tmp_path, server.url, *options)
        result, retries = await run_task(root, env)
    return root, result, retries


# ------------------------------------------------------------------------------------------- Codex


@needs_codex
def test_codex_plain_answer_through_orchestra_execute(tmp_path: Path) -> None:
    with FakeServer(route=responses_route(lambda body: codex_text(ANSWER))) as server:
        root, env = codex_project(tmp_path, server.url)
        done = subprocess.run(
            [sys.executable, "-m", "orchestra_tui", "-p", str(root), "execute", "T"],
            capture_output=True,
            text=True,
            timeout=RUN_SECONDS,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **env},
        )
    assert done.returncode == 0, done.stderr
    assert done.stdout == ANSWER + "\n"
    assert (root / "out" / "answer.md").read_text() == ANSWER
    with Project.open(root, actor="test") as project:
        task = project.task("T")
        assert (task.status, task.input_tokens, task.output_tokens) == ("review", 120, 8)
        assert task.cost_usd == pytest.approx(gpt_cost(120, 8))
    assert "Say hello." in json.dumps(server.requests[0].json()["input"])


@needs_codex
async def test_codex_writes_a_file_with_a_real_command(tmp_path: Path) -> None:
    def answer(body: dict[str, Any]) -> Reply:
        return codex_text(ANSWER) if command_output_sent(body) else codex_command("echo made by Codex > made.txt")

    root, result, retries = await codex_run(tmp_path, answer, "--sandbox", "workspace-write")
    assert result.status == "review", result.error
    assert (root / "made.txt").read_text() == "made by Codex\n"  # in the task's directory
    assert result.output == ANSWER and streamed(root, result) == ANSWER
    assert (result.input_tokens, result.output_tokens) == (220, 18)
    assert result.cost_usd == pytest.approx(gpt_cost(220, 18))
    assert retries == []


@needs_codex
async def test_codex_401_is_an_auth_failure(tmp_path: Path) -> None:
    root, result, retries = await codex_run(
        tmp_path,
        lambda body: openai_error(
            401, "invalid_request_error", "Incorrect API key provided: sk-test-dummy.", "invalid_api_key"
        ),
    )
    assert result.error is not None and result.error.startswith(
        "codex: authentication failed: unexpected status 401 Unauthorized: Incorrect API key provided"
    )
    assert_failed(root, result, "auth", result.error)
    assert [retry.attempt for retry in retries] == [1] and retries[0].delay is None


@needs_codex
async def test_codex_400_shows_the_message_not_the_json(tmp_path: Path) -> None:
    root, result, _ = await codex_run(
        tmp_path,
        lambda body: openai_error(
            400, "invalid_request_error", "Unsupported parameter: 'reasoning.summary' is not supported with this model."
        ),
    )
    assert_failed(
        root,
        result,
        "error",
        "codex: invalid_request_error: Unsupported parameter: 'reasoning.summary' is not supported with this model.",
    )


@needs_codex
async def test_codex_429_is_rate_limited_and_its_reconnect_is_a_retry(tmp_path: Path) -> None:
    root, result, retries = await codex_run(
        tmp_path,
        lambda body: openai_error(
            429, "tokens", "Rate limit reached for gpt-5.5 on tokens per min (TPM)", "rate_limit_exceeded"
        ),
    )
    assert_failed(
        root, result, "rate_limit", "codex: rate limited: exceeded retry limit, last status: 429 Too Many Requests"
    )
    assert [retry.reason for retry in retries] == [
        "codex: rate limited: exceeded retry limit, last status: 429 Too Many Requests"
    ]
    assert [event["reason"] for event in events(root, result, "retry")] == [retries[0].reason]


@needs_codex
async def test_codex_overloaded_mid_stream(tmp_path: Path) -> None:
    def answer(body: dict[str, Any]) -> Reply:
        return Reply(
            200,
            SSE,
            sse_stream(
                {
                    "type": "response.created",
                    "response": {"id": "resp_1", "object": "response", "status": "in_progress", "output": []},
                },
                {
                    "type": "response.failed",
                    "response": {
                        "id": "resp_1",
                        "status": "failed",
                        "error": {"code": "server_is_overloaded", "message": "The server is overloaded"},
                    },
                },
            ),
        )

    root, result, _ = await codex_run(tmp_path, answer)
    assert_failed(
        root, result, "overloaded", "codex: overloaded: Selected model is at capacity. Please try a different model."
    )


@needs_codex
async def test_codex_connection_dropped(tmp_path: Path) -> None:
    cut = codex_text("the start of an answer")
    root, result, retries = await codex_run(tmp_path, lambda body: Reply(200, SSE, cut.body[:3], drop=True))
    assert result.error is not None and result.error.startswith(
        "codex: connection failed: stream disconnected before completion"
    )
    assert_failed(root, result, "connection", result.error)
    assert len(retries) == 1


@needs_codex
async def test_codex_empty_answer_fails(tmp_path: Path) -> None:
    root, result, _ = await codex_run(tmp_path, lambda body: codex_text(""))
    assert_failed(root, result, "empty", "codex: empty answer")
    assert (result.input_tokens, result.output_tokens) == (120, 8)


@needs_codex
async def test_codex_waiting_for_network_is_shown_as_retrying(tmp_path: Path) -> None:
    """With nothing listening Codex retries for ever ("Reconnecting... waiting for network"): each is a retry,
    and cancelling the run ends the program and fails the task."""
    root, env = codex_project(tmp_path, f"http://127.0.0.1:{closed_port()}")
    result, retries = await run_task(root, env, cancel_on_retry=True)
    assert retries and retries[0].reason == "codex: Connection failed: error sending request"
    assert retries[0].delay is None
    assert (result.status, result.error) == ("failed", CANCELLED)


# ------------------------------------------------------------- the examples users copy: sample and starter


def example_agent(source: str, name: str) -> dict[str, Any]:
    """An agent table as ``sample_projects/multi-llm`` or ``orchestra init``'s starter (uncommented) has it."""
    if source == "sample":
        text = (Path(__file__).resolve().parents[2] / "sample_projects" / "multi-llm" / "orchestra.toml").read_text()
    else:
        example = re.compile(r"^# (\[|[a-z_]+ = )")
        text = "\n".join(line[2:] if example.match(line) else line for line in starter_plan("x", "X").splitlines())
    return tomllib.loads(text)["agents"][name]


@needs_claude
@pytest.mark.parametrize("source", ["sample", "starter"])
async def test_the_claude_code_example_writes_a_file(tmp_path: Path, source: str) -> None:
    agent = example_agent(source, "claude-code")
    assert agent["command"][0] == "claude" and "--verbose" in agent["command"]
    root, home = tmp_path / "project", tmp_path / "home"
    home.mkdir()
    make_project(
        root, "claude-code", [CLAUDE, *agent["command"][1:]], agent["output_format"], prompt_via=agent["prompt_via"]
    )
    target = root / "made.txt"

    def answer(body: dict[str, Any]) -> Reply:
        return (
            claude_text(ANSWER)
            if tool_result_sent(body)
            else claude_tool("Write", {"file_path": str(target), "content": "made\n"})
        )

    with FakeServer(route=anthropic_route(answer)) as server:
        result, _ = await run_task(root, claude_env(home, server.url))
    assert (result.status, result.output) == ("review", ANSWER), result.error
    assert target.read_text() == "made\n"
    assert (result.input_tokens, result.output_tokens) == (31, 36)
    assert result.cost_usd is not None and result.cost_usd > 0  # Claude Code's figure for its default model


@needs_codex
@pytest.mark.parametrize("source", ["sample", "starter"])
async def test_the_codex_example_writes_a_file(tmp_path: Path, source: str) -> None:
    agent = example_agent(source, "codex")
    assert agent["command"][0] == "codex"

    def answer(body: dict[str, Any]) -> Reply:
        return codex_text(ANSWER) if command_output_sent(body) else codex_command("echo made > made.txt")

    with FakeServer(route=responses_route(answer)) as server:
        root, env = codex_project(tmp_path, server.url)
        make_project(
            root, "codex", [CODEX, *agent["command"][1:]], agent["output_format"], prompt_via=agent["prompt_via"]
        )
        result, _ = await run_task(root, env)
    assert (result.status, result.output) == ("review", ANSWER), result.error
    assert (root / "made.txt").read_text() == "made\n"
    assert (result.input_tokens, result.output_tokens, result.cost_usd) == (220, 18, None)  # no price for it: unknown


@needs_claude
async def test_claude_partial_messages_stream_the_answer_once(tmp_path: Path) -> None:
    """With ``--include-partial-messages`` the text comes as ``stream_event`` deltas, then again whole in the
    ``assistant`` line: shown once. An API failure's stand-in answer is still not shown."""
    root, result, _, _ = await claude_run(tmp_path, lambda body: claude_text(ANSWER), "--include-partial-messages")
    assert (result.status, result.output, streamed(root, result)) == ("review", ANSWER, ANSWER)
    assert (result.input_tokens, result.output_tokens) == (11, 6)
    failing = tmp_path / "failing"
    failing.mkdir()
    root, result, _, _ = await claude_run(
        failing, lambda body: anthropic_error(429, "rate_limit_error", "Slow down"), "--include-partial-messages"
    )
    assert result.status == "failed" and streamed(root, result) == ""
    assert [event["kind"] for event in events(root, result, "failed")] == ["rate_limit"]


@needs_codex
async def test_codex_looping_without_network_is_ended_by_the_timeout(tmp_path: Path) -> None:
    """Nothing listening: Codex would retry for ever; the agent's wall-clock ``timeout`` ends it (its retries
    shown meanwhile) and fails the task."""
    root, env = codex_project(tmp_path, f"http://127.0.0.1:{closed_port()}")
    assert CODEX is not None
    make_project(root, "codex", [CODEX, "exec", "--json", "--skip-git-repo-check"], "jsonl", timeout=4)
    result, retries = await run_task(root, env)
    assert_failed(root, result, "timeout", f"{CODEX} timed out after 4 s")
    assert retries and all(retry.reason == "codex: Connection failed: error sending request" for retry in retries)
