"""The local agents with real subprocesses: shell, cli (Claude Code and Codex output replayed by scripts), interactive.

The CLI fixtures follow the formats as documented and recorded by others: Claude Code's stream-json lines
(system/assistant/user/result, with ``total_cost_usd`` and ``usage``; ``stream_event`` lines with
``--include-partial-messages``) and Codex's ``exec --json`` thread events (``codex-rs/exec/src/exec_events.rs``
in openai/codex), including Codex's non-fatal ``Reconnecting... N/M`` error events.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from orchestra_tui.agents.base import AgentRequest
from orchestra_tui.agents.cli import CliAgent
from orchestra_tui.agents.events import AgentEvent, Failed, Finished, Retrying, TextDelta, UsageUpdate
from orchestra_tui.agents.interactive import InteractiveAgent
from orchestra_tui.agents.process import Limits, spawn
from orchestra_tui.agents.shell import ShellAgent
from orchestra_tui.models import AgentConfig, AgentTask

from ..helpers.processes import children
from ..helpers.waits import running

RUN_LIMIT = 10.0  # seconds any single run in this file may take


def make_request(
    root: Path, *, commands: list[str] | None = None, prompt: str = "Do the thing.", env: dict[str, str] | None = None
) -> AgentRequest:
    task = AgentTask("T-1", "A task", commands=commands or [])
    return AgentRequest(
        run_id="run-1", task=task, prompt=prompt, cwd=root, env=env if env is not None else dict(os.environ)
    )


async def collect(stream: AsyncIterator[AgentEvent]) -> list[tuple[float, AgentEvent]]:
    """Every event with its arrival time (monotonic seconds)."""
    events: list[tuple[float, AgentEvent]] = []
    async with asyncio.timeout(RUN_LIMIT):
        async for event in stream:
            events.append((time.monotonic(), event))
    return events


async def run_events(agent: object, request: AgentRequest) -> list[AgentEvent]:
    return [event for _, event in await collect(agent.run(request))]  # type: ignore[attr-defined]


def text_of(events: list[AgentEvent]) -> str:
    return "".join(event.text for event in events if isinstance(event, TextDelta))


def final(events: list[AgentEvent]) -> AgentEvent:
    ends = [event for event in events if isinstance(event, Finished | Failed)]
    assert len(ends) == 1 and events[-1] is ends[0], events
    return ends[0]


def my_zombies() -> list[int]:
    return [pid for pid, state in children().items() if state == "Z"]


async def wait_gone(pid: int, within: float) -> float:
    """Seconds until ``pid`` stopped running; fails the test after ``within``."""
    start = time.monotonic()
    for _ in range(int(within / 0.01) + 1):
        if not running(pid):
            return time.monotonic() - start
        await asyncio.sleep(0.01)
    raise AssertionError(f"process {pid} still running after {within}s")


# ---------------------------------------------------------------- shell


async def test_shell_streams_output_before_the_command_ends(tmp_path: Path) -> None:
    # The command waits (bounded) for the test to see its first line, and says whether it did.
    release = tmp_path / "release"
    wait = f"n=0; while [ ! -e {release} ] && [ $n -lt 1000 ]; do sleep 0.01; n=$((n+1)); done"
    command = f"printf 'first\\n'; {wait}; if [ -e {release} ]; then printf 'second\\n'; else printf 'late\\n'; fi"
    agent = ShellAgent("shell", AgentConfig(type="shell"))
    events: list[AgentEvent] = []
    async with asyncio.timeout(30):
        async for event in agent.run(make_request(tmp_path, commands=[command])):
            events.append(event)
            if isinstance(event, TextDelta) and event.text == "first\n":
                release.touch()  # the first line was delivered while the command still ran
    deltas = [event for event in events if isinstance(event, TextDelta)]
    assert deltas[0].text == "first\n"
    end = events[-1]
    assert end == Finished() and "".join(event.text for event in deltas) == "first\nsecond\n"  # what streamed


async def test_shell_merges_stderr_in_order_and_runs_commands_in_sequence(tmp_path: Path) -> None:
    agent = ShellAgent("shell", AgentConfig(type="shell"))
    events = await run_events(
        agent, make_request(tmp_path, commands=["echo out1; echo err1 >&2; echo out2", "echo second"])
    )
    assert text_of(events) == "out1\nerr1\nout2\nsecond\n"
    assert final(events) == Finished()


async def test_shell_runs_in_the_project_root_with_the_request_env(tmp_path: Path) -> None:
    agent = ShellAgent("shell", AgentConfig(type="shell"))
    env = {"PATH": os.environ["PATH"], "GREETING": "hello from env"}
    events = await run_events(
        agent, make_request(tmp_path, commands=['pwd; echo "$GREETING"; echo ${HOME:-no-home}'], env=env)
    )
    assert text_of(events) == f"{tmp_path.resolve()}\nhello from env\nno-home\n"


async def test_shell_nonzero_exit_fails_and_stops(tmp_path: Path) -> None:
    agent = ShellAgent("shell", AgentConfig(type="shell"))
    events = await run_events(agent, make_request(tmp_path, commands=["echo one", "echo two; exit 3", "echo never"]))
    end = final(events)
    assert isinstance(end, Failed) and end.kind == "exit"
    assert end.message == "command 2 of 3 exited with 3: echo two; exit 3"
    assert "never" not in text_of(events)


async def test_shell_failure_message_is_one_short_line(tmp_path: Path) -> None:
    agent = ShellAgent("shell", AgentConfig(type="shell"))
    long_command = "false \\\n  " + " ".join(["--option"] * 40)
    end = final(await run_events(agent, make_request(tmp_path, commands=[long_command])))
    assert isinstance(end, Failed)
    assert "\n" not in end.message and end.message.startswith("command 1 of 1 exited with 1: false")
    assert end.message.endswith("…") and len(end.message) < 120


async def test_shell_killed_command_is_named_by_signal(tmp_path: Path) -> None:
    agent = ShellAgent("shell", AgentConfig(type="shell"))
    end = final(await run_events(agent, make_request(tmp_path, commands=["kill -KILL $$"])))
    assert isinstance(end, Failed) and end.message == "command 1 of 1 was killed by SIGKILL: kill -KILL $$"


async def test_shell_without_commands_fails_clearly(tmp_path: Path) -> None:
    agent = ShellAgent("shell", AgentConfig(type="shell"))
    events = await run_events(agent, make_request(tmp_path, commands=[]))
    assert events == [Failed("task T-1 has no commands for the shell agent to run", kind="error")]


async def test_shell_missing_working_directory_fails_without_traceback(tmp_path: Path) -> None:
    agent = ShellAgent("shell", AgentConfig(type="shell"))
    end = final(await run_events(agent, make_request(tmp_path / "gone", commands=["true"])))
    assert isinstance(end, Failed) and end.message == "command 1 of 1 could not start: No such file or directory"


async def test_shell_decodes_utf8_across_chunks_and_replaces_bad_bytes(tmp_path: Path) -> None:
    agent = ShellAgent("shell", AgentConfig(type="shell"))
    # é is C3 A9: the two bytes are written 0.2 s apart, so they normally arrive in separate reads.
    events = await run_events(
        agent, make_request(tmp_path, commands=["printf '\\303'; sleep 0.2; printf '\\251\\n'; printf '\\377\\n'"])
    )
    assert text_of(events) == "é\n\ufffd\n"  # a byte-wise decoder would give two replacement characters for é


async def test_shell_check_is_usable(tmp_path: Path) -> None:
    usability = await ShellAgent("shell", AgentConfig(type="shell")).check({})
    assert usability.usable and usability.reason == ""


async def test_cancelling_a_shell_run_kills_the_process_group_quickly(tmp_path: Path) -> None:
    """The shell waits on a background sleep: both die, within a second, and no zombie is left."""
    agent = ShellAgent("shell", AgentConfig(type="shell"))
    first: asyncio.Queue[str] = asyncio.Queue()

    async def consume() -> None:
        async for event in agent.run(make_request(tmp_path, commands=["sleep 30 & echo $$ $!; wait"])):
            if isinstance(event, TextDelta):
                first.put_nowait(event.text)

    task = asyncio.create_task(consume())
    async with asyncio.timeout(5):
        shell_pid, sleep_pid = map(int, (await first.get()).split())
    assert running(shell_pid) and running(sleep_pid)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        async with asyncio.timeout(10):  # not the 30 s the sleep would take
            await task
    await wait_gone(sleep_pid, within=1.0)
    await wait_gone(shell_pid, within=1.0)
    assert not Path(f"/proc/{shell_pid}").exists()  # our child was reaped, not left a zombie
    assert my_zombies() == []


async def test_closing_the_event_stream_kills_the_process(tmp_path: Path) -> None:
    agent = ShellAgent("shell", AgentConfig(type="shell"))
    stream = agent.run(make_request(tmp_path, commands=["echo $$; exec sleep 30"]))
    async with asyncio.timeout(5):
        event = await anext(stream)
        assert isinstance(event, TextDelta)
        pid = int(event.text)
        assert running(pid)
        await stream.aclose()  # type: ignore[attr-defined]
    assert not Path(f"/proc/{pid}").exists()
    assert my_zombies() == []


async def test_closing_a_running_child_escalates_to_sigkill_for_a_group_ignoring_sigterm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from orchestra_tui.agents import process as process_module

    monkeypatch.setattr(process_module, "GRACE", 0.3)
    child = await spawn(
        ["/bin/sh", "-c", "trap '' TERM; echo ready; sleep 30 & wait"],
        cwd=tmp_path,
        env=os.environ,
        limits=Limits(None, None),
    )
    async with asyncio.timeout(5):
        assert await anext(child.output()) == b"ready\n"
        started = time.monotonic()
        await child.close()  # within the 5 s above: not the 30 s of the sleep
    assert time.monotonic() - started >= 0.25  # SIGTERM first, SIGKILL only after the grace
    assert child.process.returncode == -signal.SIGKILL
    assert my_zombies() == []


async def test_a_process_is_started_off_the_event_loop_and_reaped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """fork/exec runs in a worker thread (the loop serves other runs meanwhile); the exit is still seen and reaped."""
    import threading

    from orchestra_tui.agents import process as process_module

    threads: list[int] = []
    real = process_module._popen

    def recording(*args: object) -> object:
        threads.append(threading.get_ident())
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(process_module, "_popen", recording)
    child = await spawn(["/bin/sh", "-c", "echo out; exit 3"], cwd=tmp_path, env=os.environ, limits=Limits(None, None))
    async with asyncio.timeout(10):
        assert b"".join([chunk async for chunk in child.output()]) == b"out\n"
        assert await child.wait() == 3
        await child.close()
    assert threads and threads[0] != threading.get_ident()
    assert my_zombies() == []


async def test_the_group_is_recorded_in_the_thread_that_started_it_before_spawn_returns(tmp_path: Path) -> None:
    """``on_spawn`` (the run's /proc read and file writes) runs beside fork/exec, off the event loop."""
    import threading

    told: list[tuple[int, int]] = []
    child = await spawn(
        ["/bin/sh", "-c", "exit 0"],
        cwd=tmp_path,
        env=os.environ,
        limits=Limits(None, None),
        on_spawn=lambda pid: told.append((pid, threading.get_ident())),
    )
    async with asyncio.timeout(10):
        assert told == [(child.pid, told[0][1])] and told[0][1] != threading.get_ident()
        assert await child.wait() == 0
        await child.close()
    assert my_zombies() == []


async def test_a_group_that_cannot_be_recorded_is_stopped_and_the_error_raised(tmp_path: Path) -> None:
    """A run that cannot record its process group (a full disk) must not leave the process going unrecorded."""
    from orchestra_tui.errors import OrchestraError

    pids: list[int] = []

    def failing(pid: int) -> None:
        pids.append(pid)
        raise OrchestraError("cannot write events.jsonl: no space left on device")

    with pytest.raises(OrchestraError, match="no space left"):
        await spawn(
            ["/bin/sh", "-c", "sleep 30"], cwd=tmp_path, env=os.environ, limits=Limits(None, None), on_spawn=failing
        )
    assert len(pids) == 1
    await wait_gone(pids[0], 10.0)
    assert my_zombies() == []


# ---------------------------------------------------------------- cli: fixtures and scripts

CLAUDE_SESSION = "e8889acf-6dba-4e5d-8f4e-7a3c2b1d9f00"
CLAUDE_LINES = [
    {
        "type": "system",
        "subtype": "init",
        "cwd": "/repo",
        "session_id": CLAUDE_SESSION,
        "tools": ["Bash", "Read"],
        "model": "claude-sonnet-4-5-20250929",
        "permissionMode": "default",
        "apiKeySource": "none",
    },
    {
        "type": "assistant",
        "message": {
            "id": "msg_01",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-5-20250929",
            "content": [{"type": "text", "text": "I'll read the file first."}],
            "stop_reason": None,
            "usage": {"input_tokens": 4, "output_tokens": 2},
        },
        "parent_tool_use_id": None,
        "session_id": CLAUDE_SESSION,
    },
    {
        "type": "assistant",
        "message": {
            "id": "msg_01",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-5-20250929",
            "content": [{"type": "tool_use", "id": "toolu_01", "name": "Read", "input": {"file_path": "/repo/a.py"}}],
            "stop_reason": None,
            "usage": {"input_tokens": 4, "output_tokens": 30},
        },
        "parent_tool_use_id": None,
        "session_id": CLAUDE_SESSION,
    },
    {
        "type": "user",
        "message": {
            "role": "user",
            "content": [{"tool_use_id": "toolu_01", "type": "tool_result", "content": "print('hi')"}],
        },
        "parent_tool_use_id": None,
        "session_id": CLAUDE_SESSION,
    },
    {
        "type": "assistant",
        "message": {
            "id": "msg_sub",
            "type": "message",
            "role": "assistant",
            "content": [{"type": "text", "text": "SUBAGENT CHATTER"}],
        },
        "parent_tool_use_id": "toolu_09",
        "session_id": CLAUDE_SESSION,
    },
    {
        "type": "assistant",
        "message": {
            "id": "msg_02",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-5-20250929",
            "content": [{"type": "text", "text": "The file prints hi."}],
            "stop_reason": "end_turn",
            "usage": {"input_tokens": 6, "output_tokens": 8},
        },
        "parent_tool_use_id": None,
        "session_id": CLAUDE_SESSION,
    },
    {
        "type": "result",
        "subtype": "success",
        "is_error": False,
        "duration_ms": 3150,
        "duration_api_ms": 2900,
        "num_turns": 2,
        "result": "The file prints hi.",
        "session_id": CLAUDE_SESSION,
        "total_cost_usd": 0.0213,
        "usage": {
            "input_tokens": 12,
            "cache_creation_input_tokens": 100,
            "cache_read_input_tokens": 2000,
            "output_tokens": 40,
            "server_tool_use": {"web_search_requests": 0},
            "service_tier": "standard",
        },
        "permission_denials": [],
        "uuid": "49ef0707-272e-4de7-b824-b60f5abe254b",
    },
]

CODEX_THREAD = "019a2d7a-41c4-78b1-b7cc-a45d62a89cd5"
CODEX_LINES = [
    {"type": "thread.started", "thread_id": CODEX_THREAD},
    {"type": "turn.started"},
    {"type": "item.completed", "item": {"id": "item_0", "type": "reasoning", "text": "**Looking at the files**"}},
    {
        "type": "item.started",
        "item": {
            "id": "item_1",
            "type": "command_execution",
            "command": "bash -lc ls",
            "aggregated_output": "",
            "exit_code": None,
            "status": "in_progress",
        },
    },
    {
        "type": "item.completed",
        "item": {
            "id": "item_1",
            "type": "command_execution",
            "command": "bash -lc ls",
            "aggregated_output": "a.py\n",
            "exit_code": 0,
            "status": "completed",
        },
    },
    {
        "type": "error",
        "message": "Reconnecting... 1/5 (stream disconnected before completion: websocket closed by server "
        "before response.completed)",
    },
    {"type": "item.completed", "item": {"id": "item_2", "type": "agent_message", "text": "I looked around."}},
    {"type": "item.completed", "item": {"id": "item_3", "type": "agent_message", "text": "Done: a.py exists."}},
    {"type": "turn.completed", "usage": {"input_tokens": 2946, "cached_input_tokens": 1024, "output_tokens": 57}},
]

REPLAY = """
import sys, time
lines = open(sys.argv[1], encoding="utf-8").read().split("\\n")
for line in lines:
    if line == "@sleep":
        time.sleep(30)
        continue
    if line.startswith("@stderr "):
        sys.stderr.write(line[8:] + "\\n"); sys.stderr.flush()
        continue
    if line.startswith("@exit "):
        sys.exit(int(line[6:]))
    if line:
        sys.stdout.write(line + "\\n"); sys.stdout.flush()
"""

ECHO = """
import json, sys
sys.stdout.write(json.dumps({"argv": sys.argv[1:], "stdin": sys.stdin.read()}))
"""


@pytest.fixture
def replay(tmp_path: Path):
    """``replay(lines) -> command``: a program that prints the lines (dicts as JSON) and obeys @stderr/@exit/@sleep."""
    script = tmp_path / "replay.py"
    script.write_text(REPLAY)

    def make(lines: list[object], name: str = "fixture.txt") -> list[str]:
        fixture = tmp_path / name
        fixture.write_text(
            "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines), encoding="utf-8"
        )
        return [sys.executable, str(script), str(fixture)]

    return make


def cli_agent(command: list[str], output_format: str = "text", prompt_via: str = "arg") -> CliAgent:
    return CliAgent(
        "coder", AgentConfig(type="cli", command=command, output_format=output_format, prompt_via=prompt_via)
    )


# ---------------------------------------------------------------- cli: Claude Code stream-json


async def test_claude_stream_json_streams_text_and_reports_result_usage_and_cost(tmp_path: Path, replay) -> None:
    agent = cli_agent(replay(CLAUDE_LINES), "stream-json")
    events = await run_events(agent, make_request(tmp_path))
    assert text_of(events) == "I'll read the file first.\n\nThe file prints hi."  # no subagent text, no tool output
    usage = [event for event in events if isinstance(event, UsageUpdate)]
    assert usage == [
        UsageUpdate(
            input_tokens=12 + 100 + 2000,
            output_tokens=40,
            cost_usd=0.0213,
            cache_read_tokens=2000,
            cache_write_tokens=100,
        )
    ]
    assert final(events) == Finished(text="The file prints hi.")


async def test_claude_partial_messages_stream_deltas_without_repeating_the_message(tmp_path: Path, replay) -> None:
    def partial(event: dict[str, object]) -> dict[str, object]:
        return {"type": "stream_event", "event": event, "session_id": CLAUDE_SESSION, "parent_tool_use_id": None}

    lines = [
        CLAUDE_LINES[0],
        partial({"type": "message_start", "message": {"id": "msg_01", "role": "assistant", "content": []}}),
        partial({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        partial({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hel"}}),
        partial({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "lo"}}),
        partial({"type": "content_block_stop", "index": 0}),
        {
            "type": "assistant",
            "message": {"id": "msg_01", "content": [{"type": "text", "text": "Hello"}]},
            "parent_tool_use_id": None,
        },
        partial({"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}}),
        partial({"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "Bye"}}),
        {
            "type": "result",
            "subtype": "success",
            "is_error": False,
            "result": "Hello\n\nBye",
            "total_cost_usd": 0.001,
            "usage": {"input_tokens": 3, "output_tokens": 2},
        },
    ]
    events = await run_events(cli_agent(replay(lines), "stream-json"), make_request(tmp_path))
    assert [event.text for event in events if isinstance(event, TextDelta)] == ["Hel", "lo", "\n\nBye"]
    assert final(events) == Finished(text="Hello\n\nBye")


async def test_claude_error_result_fails_with_its_message(tmp_path: Path, replay) -> None:
    lines = [
        CLAUDE_LINES[0],
        {
            "type": "result",
            "subtype": "success",
            "is_error": True,
            "result": "Invalid API key · Please run /login",
            "total_cost_usd": 0,
            "usage": {"input_tokens": 0, "output_tokens": 0},
        },
        "@exit 1",
    ]
    end = final(await run_events(cli_agent(replay(lines), "stream-json"), make_request(tmp_path)))
    assert end == Failed(f"{Path(sys.executable).name}: Invalid API key · Please run /login", kind="error")


async def test_claude_max_turns_result_fails_naming_the_subtype(tmp_path: Path, replay) -> None:
    lines = [
        {
            "type": "result",
            "subtype": "error_max_turns",
            "is_error": True,
            "num_turns": 3,
            "total_cost_usd": 0.5,
            "usage": {"input_tokens": 10, "output_tokens": 5},
        }
    ]
    end = final(await run_events(cli_agent(replay(lines), "stream-json"), make_request(tmp_path)))
    assert isinstance(end, Failed) and end.message.endswith(": error_max_turns")


async def test_claude_stream_without_result_line_is_an_error(tmp_path: Path, replay) -> None:
    end = final(await run_events(cli_agent(replay(CLAUDE_LINES[:-1]), "stream-json"), make_request(tmp_path)))
    assert isinstance(end, Failed) and end.kind == "protocol" and end.message.endswith("ended without its result line")


async def test_unparseable_lines_pass_through_as_text(tmp_path: Path, replay) -> None:
    lines = ["warning: something odd", "[1, 2, 3]", "{broken json", *CLAUDE_LINES]
    events = await run_events(cli_agent(replay(lines), "stream-json"), make_request(tmp_path))
    assert text_of(events).startswith("warning: something odd\n[1, 2, 3]\n{broken json\n")
    assert final(events) == Finished(text="The file prints hi.")


async def test_a_json_line_longer_than_any_pipe_buffer_is_parsed(tmp_path: Path, replay) -> None:
    big = "x" * 1_000_000
    lines = [
        {"type": "assistant", "message": {"content": [{"type": "text", "text": big}]}, "parent_tool_use_id": None},
        {
            "type": "result",
            "subtype": "success",
            "is_error": False,
            "result": big,
            "usage": {"input_tokens": 1, "output_tokens": 1},
        },
    ]
    events = await run_events(cli_agent(replay(lines), "stream-json"), make_request(tmp_path))
    assert text_of(events) == big
    assert final(events) == Finished(text=big)


# Claude Code 2.1.332's lines for a 429 (recorded against a local server; ids shortened).
CLAUDE_RATE_LIMITED = [
    {
        "type": "system",
        "subtype": "api_retry",
        "attempt": 1,
        "max_retries": 1,
        "retry_delay_ms": 580,
        "error_status": 429,
        "error": "rate_limit",
        "session_id": CLAUDE_SESSION,
    },
    {
        "type": "assistant",
        "message": {
            "id": "a64c",
            "model": "<synthetic>",
            "role": "assistant",
            "stop_reason": "stop_sequence",
            "type": "message",
            "usage": {"input_tokens": 0, "output_tokens": 0},
            "content": [
                {
                    "type": "text",
                    "text": "API Error: Request rejected (429) · Number of requests has exceeded your rate limit",
                }
            ],
        },
        "parent_tool_use_id": None,
        "session_id": CLAUDE_SESSION,
        "error": "rate_limit",
        "is_api_error_message": True,
        "api_error_status": 429,
        "api_error_type": "rate_limit_error",
    },
    {
        "type": "result",
        "subtype": "success",
        "is_error": True,
        "num_turns": 1,
        "api_error_status": 429,
        "api_error_type": "rate_limit_error",
        "total_cost_usd": 0,
        "usage": {"input_tokens": 0, "output_tokens": 0},
        "result": "API Error: Request rejected (429) · Number of requests has exceeded your rate limit",
        "permission_denials": [],
    },
    "@exit 1",
]


async def test_claude_api_error_is_the_reason_not_the_answer_and_its_retries_are_shown(tmp_path: Path, replay) -> None:
    events = await run_events(cli_agent(replay(CLAUDE_RATE_LIMITED), "stream-json"), make_request(tmp_path))
    program = Path(sys.executable).name
    assert text_of(events) == ""
    assert [event for event in events if isinstance(event, Retrying)] == [
        Retrying(1, 0.58, f"{program}: rate limited (HTTP 429)")
    ]
    assert final(events) == Failed(
        f"{program}: rate limited (HTTP 429): Request rejected (429) · Number of requests has exceeded your rate limit",
        kind="rate_limit",
    )


@pytest.mark.parametrize(
    ("error", "status", "kind"),
    [
        ("authentication_failed", 401, "auth"),
        ("billing_error", 400, "quota"),
        ("server_error", 529, "overloaded"),
        ("server_error", 500, "server"),
        ("overloaded", None, "overloaded"),
        ("invalid_request", 400, "error"),
    ],
)
async def test_claude_error_kinds(tmp_path: Path, replay, error: str, status: int | None, kind: str) -> None:
    synthetic, result = (dict(line) for line in CLAUDE_RATE_LIMITED[1:3])
    synthetic.update(error=error, api_error_status=status, api_error_type=None)
    result.update(api_error_status=status, api_error_type=None)
    end = final(await run_events(cli_agent(replay([synthetic, result]), "stream-json"), make_request(tmp_path)))
    assert isinstance(end, Failed) and end.kind == kind


async def test_claude_permission_denials_fail_the_run(tmp_path: Path, replay) -> None:
    result = {
        **CLAUDE_LINES[-1],
        "permission_denials": [
            {
                "tool_name": "Bash",
                "tool_use_id": "toolu_1",
                "tool_input": {"command": "touch out/x", "description": "make it"},
            },
            {
                "tool_name": "Write",
                "tool_use_id": "toolu_2",
                "tool_input": {"file_path": "/repo/out/y", "content": "y"},
            },
        ],
    }
    events = await run_events(cli_agent(replay([*CLAUDE_LINES[:-1], result]), "stream-json"), make_request(tmp_path))
    assert "The file prints hi." in text_of(events)  # streamed, and so kept
    assert final(events) == Failed(
        f"{Path(sys.executable).name}: denied: Bash(touch out/x), Write(/repo/out/y)", kind="permission"
    )


@pytest.mark.parametrize("answer", ["", "  \n"])
async def test_an_empty_answer_fails_in_every_format(tmp_path: Path, replay, answer: str) -> None:
    program = Path(sys.executable).name
    claude = [{**CLAUDE_LINES[-1], "result": answer}]
    codex = [
        *CODEX_LINES[:2],
        {"type": "item.completed", "item": {"id": "item_1", "type": "agent_message", "text": answer}},
        CODEX_LINES[-1],
    ]
    for lines, output_format in (
        (claude, "stream-json"),
        (codex, "jsonl"),
        ([answer] if answer.strip() else [], "text"),
    ):
        end = final(await run_events(cli_agent(replay(lines), output_format), make_request(tmp_path)))
        assert end == Failed(f"{program}: empty answer", kind="empty"), output_format


# ---------------------------------------------------------------- cli: Codex jsonl


async def test_codex_jsonl_streams_messages_and_reports_usage(tmp_path: Path, replay) -> None:
    events = await run_events(cli_agent(replay(CODEX_LINES), "jsonl"), make_request(tmp_path))
    assert text_of(events) == "I looked around.\n\nDone: a.py exists."
    usage = [event for event in events if isinstance(event, UsageUpdate)]
    assert usage == [
        UsageUpdate(input_tokens=2946, output_tokens=57, cache_read_tokens=1024)
    ]  # cached: a part of the input
    assert final(events) == Finished(text="Done: a.py exists.")  # the last agent message is the answer


async def test_codex_turn_failed_fails_the_run_with_its_message(tmp_path: Path, replay) -> None:
    lines = [
        *CODEX_LINES[:3],
        {"type": "error", "message": "unexpected status 401 Unauthorized: Missing bearer authentication in header"},
        {
            "type": "turn.failed",
            "error": {"message": "unexpected status 401 Unauthorized: Missing bearer authentication in header"},
        },
        "@exit 1",
    ]
    end = final(await run_events(cli_agent(replay(lines), "jsonl"), make_request(tmp_path)))
    assert isinstance(end, Failed) and end.kind == "auth"
    assert end.message.endswith(": unexpected status 401 Unauthorized: Missing bearer authentication in header")


async def test_codex_fatal_error_event_fails_even_with_exit_zero(tmp_path: Path, replay) -> None:
    lines = [*CODEX_LINES[:2], {"type": "error", "message": "stream error: exceeded retry limit"}]
    end = final(await run_events(cli_agent(replay(lines), "jsonl"), make_request(tmp_path)))
    assert isinstance(end, Failed) and end.message.endswith(": stream error: exceeded retry limit")


async def test_codex_reconnecting_is_a_retry_even_waiting_for_network(tmp_path: Path, replay) -> None:
    lines = [
        *CODEX_LINES[:2],
        {"type": "error", "message": "Reconnecting... waiting for network (Connection failed: error sending request)"},
        {
            "type": "error",
            "message": "Reconnecting... 2/5 (stream disconnected before completion: error decoding response body)",
        },
        *CODEX_LINES[6:],
    ]
    events = await run_events(cli_agent(replay(lines), "jsonl"), make_request(tmp_path))
    program = Path(sys.executable).name
    assert [event for event in events if isinstance(event, Retrying)] == [
        Retrying(1, None, f"{program}: Connection failed: error sending request"),
        Retrying(
            2,
            None,
            f"{program}: connection failed: stream disconnected before completion: error decoding response body",
        ),
    ]
    assert final(events) == Finished(text="Done: a.py exists.")


async def test_codex_http_error_json_shows_its_message(tmp_path: Path, replay) -> None:
    body = json.dumps(
        {
            "error": {
                "message": "Unsupported parameter: 'reasoning.summary'",
                "type": "invalid_request_error",
                "param": "reasoning.summary",
                "code": "unsupported_parameter",
            }
        }
    )
    lines = [
        *CODEX_LINES[:2],
        {"type": "error", "message": body},
        {"type": "turn.failed", "error": {"message": body}},
        "@exit 1",
    ]
    end = final(await run_events(cli_agent(replay(lines), "jsonl"), make_request(tmp_path)))
    assert end == Failed(
        f"{Path(sys.executable).name}: invalid_request_error: Unsupported parameter: 'reasoning.summary'", kind="error"
    )


async def test_codex_without_turn_completed_is_an_error(tmp_path: Path, replay) -> None:
    end = final(await run_events(cli_agent(replay(CODEX_LINES[:-1]), "jsonl"), make_request(tmp_path)))
    assert isinstance(end, Failed) and end.kind == "protocol"


# ---------------------------------------------------------------- cli: delivery, exits, check, cancellation


@pytest.mark.parametrize("prompt_via", ["stdin", "arg"])
async def test_prompt_is_delivered_on_stdin_or_as_the_last_argument(tmp_path: Path, prompt_via: str) -> None:
    script = tmp_path / "echo.py"
    script.write_text(ECHO)
    prompt = "Write the parser.\nLine two: ünïcode, $HOME, `backticks`."
    agent = cli_agent([sys.executable, str(script), "--flag"], "text", prompt_via)
    events = await run_events(agent, make_request(tmp_path, prompt=prompt))
    assert final(events) == Finished()
    seen = json.loads(text_of(events))
    if prompt_via == "stdin":
        assert seen == {"argv": ["--flag"], "stdin": prompt}
    else:
        assert seen == {"argv": ["--flag", prompt], "stdin": ""}


async def test_a_large_prompt_on_stdin_does_not_deadlock(tmp_path: Path) -> None:
    """The program writes while we are still writing the prompt: both pipes must keep moving."""
    script = tmp_path / "chatty.py"
    script.write_text(
        "import sys\nsys.stdout.write('y' * 2_000_000); sys.stdout.flush()\nprint(len(sys.stdin.read()))\n"
    )
    prompt = "p" * 3_000_000
    events = await run_events(
        cli_agent([sys.executable, str(script)], "text", "stdin"), make_request(tmp_path, prompt=prompt)
    )
    assert final(events) == Finished() and text_of(events) == "y" * 2_000_000 + "3000000\n"


async def test_nonzero_exit_fails_with_the_last_stderr_line(tmp_path: Path, replay) -> None:
    command = replay(["partial output", "@stderr loading config", "@stderr fatal: could not authenticate", "@exit 2"])
    events = await run_events(cli_agent(command, "text"), make_request(tmp_path))
    assert text_of(events) == "partial output\n"
    end = final(events)
    assert isinstance(end, Failed) and end.kind == "exit"
    assert end.message == f"{Path(sys.executable).name} exited with 2: fatal: could not authenticate"


async def test_missing_program_fails_and_check_says_not_on_path(tmp_path: Path) -> None:
    agent = cli_agent(["claude", "-p"], "stream-json")
    env = {"PATH": str(tmp_path)}
    assert await run_events(agent, make_request(tmp_path, env=env)) == [
        Failed("claude not found on PATH", kind="error")
    ]
    usability = await agent.check(env)
    assert not usability.usable and usability.reason == "claude not found on PATH"


async def test_start_failures_are_named_precisely(tmp_path: Path) -> None:
    echo = tmp_path / "echo.py"
    echo.write_text(ECHO)
    huge = await run_events(
        cli_agent([sys.executable, str(echo)], "text", "arg"), make_request(tmp_path, prompt="x" * 300_000)
    )
    assert huge == [
        Failed(
            f'{sys.executable}: the prompt is too long for a command-line argument; set prompt_via = "stdin"',
            kind="error",
        )
    ]
    no_dir = await run_events(cli_agent([sys.executable, str(echo)]), make_request(tmp_path / "gone"))
    assert no_dir == [Failed(f"{sys.executable} could not start: No such file or directory", kind="error")]
    no_file = await run_events(cli_agent([str(tmp_path / "nope")]), make_request(tmp_path))
    assert no_file == [Failed(f"{tmp_path / 'nope'} not found", kind="error")]


async def test_check_finds_the_program_on_the_env_path(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    program = bin_dir / "claude"
    program.write_text("#!/bin/sh\nexit 0\n")
    program.chmod(0o755)
    assert (await cli_agent(["claude"]).check({"PATH": str(bin_dir)})).usable
    unconfigured = await CliAgent("bare", AgentConfig(type="cli")).check({"PATH": str(bin_dir)})
    assert not unconfigured.usable and unconfigured.reason == "agent 'bare' has no command configured"


async def test_cancelling_a_cli_run_kills_it_and_leaves_no_helper_task(tmp_path: Path, replay) -> None:
    command = replay([{"type": "thread.started", "thread_id": CODEX_THREAD}, "@sleep"])
    agent = cli_agent([*command], "jsonl", "stdin")
    script_pid: list[int] = []

    async def consume() -> None:
        async for _ in agent.run(make_request(tmp_path)):
            pass

    before = asyncio.all_tasks()
    task = asyncio.create_task(consume())
    for _ in range(500):  # until the replay script runs (bounded: 5 s)
        children = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit() and _parent(p) == os.getpid()]
        if children:
            script_pid.extend(children)
            break
        await asyncio.sleep(0.01)
    assert script_pid
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        async with asyncio.timeout(10):  # the replay is not waited for
            await task
    assert not any(Path(f"/proc/{pid}").exists() for pid in script_pid)
    assert asyncio.all_tasks() - before - {asyncio.current_task()} == set()


def _parent(proc_dir: Path) -> int:
    try:
        return int((proc_dir / "stat").read_text().rsplit(")", 1)[1].split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return -1


# ---------------------------------------------------------------- interactive


def fake_clipboard(bin_dir: Path, name: str, *, exit_code: int = 0) -> Path:
    """A clipboard program that writes what it gets on stdin to $CLIP_OUT/<name>."""
    bin_dir.mkdir(exist_ok=True)
    program = bin_dir / name
    program.write_text(
        f"#!{sys.executable}\nimport os, sys\n"
        f"open(os.path.join(os.environ['CLIP_OUT'], {name!r}), 'wb').write(sys.stdin.buffer.read())\n"
        f"sys.exit({exit_code})\n"
    )
    program.chmod(0o755)
    return program


async def test_interactive_shows_and_copies_the_prompt_then_hands_off(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    fake_clipboard(bin_dir, "wl-copy")
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "CLIP_OUT": str(tmp_path)}
    prompt = "# Task T-1: A task\n\nDo it — carefully ✓"
    events = await run_events(
        InteractiveAgent("interactive", AgentConfig(type="interactive")), make_request(tmp_path, prompt=prompt, env=env)
    )
    assert (tmp_path / "wl-copy").read_text(encoding="utf-8") == prompt
    assert isinstance(events[0], TextDelta) and events[0].text == prompt
    assert "copied to the clipboard with wl-copy" in text_of(events)
    assert "orchestra complete T-1" in text_of(events)
    assert final(events) == Finished(text=prompt, handoff=True)


async def test_interactive_falls_back_to_the_next_clipboard_program(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    fake_clipboard(bin_dir, "wl-copy", exit_code=1)  # e.g. no Wayland display
    fake_clipboard(bin_dir, "xsel")
    env = {"PATH": str(bin_dir), "CLIP_OUT": str(tmp_path)}
    events = await run_events(
        InteractiveAgent("interactive", AgentConfig(type="interactive")),
        make_request(tmp_path, prompt="copy me", env=env),
    )
    assert (tmp_path / "xsel").read_text() == "copy me"
    assert "copied to the clipboard with xsel" in text_of(events)


async def test_interactive_without_a_clipboard_says_so(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    agent = InteractiveAgent("interactive", AgentConfig(type="interactive"))
    events = await run_events(agent, make_request(tmp_path, prompt="by hand", env={"PATH": str(empty)}))
    assert "clipboard: not available" in text_of(events)
    assert final(events) == Finished(text="by hand", handoff=True)
    assert (await agent.check({})).usable
