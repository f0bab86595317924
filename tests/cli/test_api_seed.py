"""The seed framework's whole Python API on orchestra (issue 16).

The first part runs, as a user's script would, every code block of the seed README's "Quick Start", "LLM
Integration Examples" and "Advanced Features" sections with only the import changed (``claude.orchestration``
-> ``orchestra_tui``) and URLs pointed at real HTTP servers on 127.0.0.1. The seed README is not free to
copy, so each block is transcribed call for call here (its names, arguments and order), not quoted. The rest
tests what the blocks rely on: ``CustomAgent`` (sync, async, streaming), agents registered from code reaching
the project's orchestrator, ``type = "python"`` plan agents, ``ParallelExecutor`` and ``WebhookManager``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestra_tui.errors import OrchestraError, UnknownTaskError

from ..helpers.fakeserver import FakeServer, Reply
from ..helpers.plans import task_block, write_plan
from ..helpers.receiver import Receiver, pending, verified
from ..helpers.secrets import files_holding

SSE = (("content-type", "text/event-stream"),)
OPENAI_SSE = (
    b'data: {"id":"c1","object":"chat.completion.chunk","model":"gpt-4","choices":[{"index":0,'
    b'"delta":{"content":"GPT says hi"},"finish_reason":null}]}\n\n'
    b'data: {"id":"c1","object":"chat.completion.chunk","model":"gpt-4","choices":[{"index":0,'
    b'"delta":{},"finish_reason":"stop"}]}\n\n'
    b'data: {"id":"c1","object":"chat.completion.chunk","model":"gpt-4","choices":[],'
    b'"usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15}}\n\n'
    b"data: [DONE]\n\n"
)
ANTHROPIC_SSE = (
    b'event: message_start\ndata: {"type":"message_start","message":{"id":"m1","type":"message",'
    b'"role":"assistant","content":[],"model":"claude-sonnet-4-5","usage":{"input_tokens":20,'
    b'"output_tokens":1}}}\n\n'
    b'event: content_block_start\ndata: {"type":"content_block_start","index":0,'
    b'"content_block":{"type":"text","text":""}}\n\n'
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
    b'"delta":{"type":"text_delta","text":"Design written."}}\n\n'
    b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n'
    b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},'
    b'"usage":{"output_tokens":4}}\n\n'
    b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
)
GEMINI_SSE = (
    b'data: {"candidates":[{"content":{"parts":[{"text":"Gemini done."}],"role":"model"},'
    b'"finishReason":"STOP","index":0}],'
    b'"usageMetadata":{"promptTokenCount":9,"candidatesTokenCount":2,"totalTokenCount":11}}\r\n\r\n'
)
SEED_NAMES = (
    "ProjectOrchestrator",
    "AgentTask",
    "TaskPriority",
    "ProjectPhase",
    "TaskStatus",
    "AgentRegistry",
    "CustomAgent",
    "ParallelExecutor",
    "WebhookManager",
    "ExecutionResult",
)


@pytest.fixture(autouse=True)
def forget_registrations() -> Iterator[None]:
    """Agents and webhooks registered from code belong to the process: each test starts and ends without any."""
    from orchestra_tui.agents import registry
    from orchestra_tui.engine import webhooks

    registry._PROCESS_AGENTS.clear()
    webhooks._REGISTERED.clear()
    yield
    registry._PROCESS_AGENTS.clear()
    webhooks._REGISTERED.clear()


def run_script(
    directory: Path, name: str, code: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Write ``code`` (a seed README block with its import changed) as ``name`` and run it as a user does."""
    (directory / name).write_text(textwrap.dedent(code))
    return subprocess.run(
        [sys.executable, name, *args],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
    )


def state(root: Path) -> dict[str, dict[str, object]]:
    tasks: dict[str, dict[str, object]] = json.loads((root / ".orchestra" / "project_state.json").read_text())["tasks"]
    return tasks


def run_output(root: Path, task: dict[str, object]) -> str:
    return (root / ".orchestra" / "runs" / str(task["last_run_id"]) / "output.txt").read_text()


# -- every seed name imports ----------------------------------------------------------------------


def test_every_seed_name_imports_from_orchestra_tui() -> None:
    import orchestra_tui

    for name in SEED_NAMES:
        assert getattr(orchestra_tui, name).__name__ == name
        assert name in orchestra_tui.__all__
    exec(
        "from orchestra_tui import (ProjectOrchestrator, AgentTask, TaskPriority, ProjectPhase,\n"
        "    AgentRegistry, CustomAgent, ParallelExecutor, WebhookManager)",
        {},
    )


# -- the seed README: Quick Start -----------------------------------------------------------------

QUICK_START = '''
    # project_orchestrator.py
    from pathlib import Path
    from orchestra_tui import (
        ProjectOrchestrator,
        AgentTask,
        TaskPriority,
        ProjectPhase
    )

    project_root = Path(__file__).parent
    orchestrator = ProjectOrchestrator(project_root)

    orchestrator.add_task(AgentTask(
        task_id="TASK-001",
        title="Create System Design Document",
        description="""
        Write the system design.

        INPUTS:
        - requirements/REQUIREMENTS.md

        REQUIREMENTS:
        1. Document the architecture
        2. Specify the API contracts

        SUCCESS CRITERIA:
        - Every component diagrammed
        """,
        agent="claude-code",  # or "gpt-4", "gemini-pro"
        priority=TaskPriority.CRITICAL,
        phase=ProjectPhase.DESIGN,
        dependencies=[],
        estimated_hours=8,
        deliverables=["docs/SYSTEM-DESIGN.md"],
        success_criteria=[
            "Architecture documented",
            "Every component diagrammed",
            "API contracts specified"
        ]
    ))

    next_task = orchestrator.get_next_task()
    print(f"Next: {next_task.task_id}")

    orchestrator.execute_task(next_task.task_id)

    orchestrator.complete_task(next_task.task_id)

    orchestrator.generate_report()
'''


def test_quick_start_block_runs_against_a_local_claude(tmp_path: Path, server: FakeServer) -> None:
    """The block runs as written; where its "claude-code" agent lives is the project's plan (a local server here)."""
    root = tmp_path / "project"
    write_plan(
        root,
        f'[agents.claude-code]\ntype = "anthropic"\nmodel = "claude-sonnet-4-5"\nbase_url = "{server.url}"\n'
        'api_key_env = "ORCH_SEED_ANTHROPIC_KEY"\n',
        project_id="quickstart",
    )
    server.reply(Reply(headers=SSE, body=[ANTHROPIC_SSE]))
    done = run_script(root, "project_orchestrator.py", QUICK_START, env={"ORCH_SEED_ANTHROPIC_KEY": "sk-ant-local"})
    assert done.returncode == 0, done.stderr
    assert done.stdout == "Next: TASK-001\n"
    sent = server.requests[0]
    assert sent.path == "/v1/messages" and sent.headers["x-api-key"] == "sk-ant-local"
    assert "Create System Design Document" in sent.json()["messages"][0]["content"]
    task = state(root)["TASK-001"]
    assert task["status"] == "completed" and task["attempts"] == 1 and task["input_tokens"] == 20
    assert run_output(root, task) == "Design written."


QUICK_START_FLAGS = """
    import sys
    from pathlib import Path
    from orchestra_tui import ProjectOrchestrator

    orchestrator = ProjectOrchestrator(Path(__file__).parent)
    sys.exit(orchestrator.run_cli())
"""


def test_quick_start_run_orchestrator_flags_in_the_order_the_block_gives(tmp_path: Path) -> None:
    root = tmp_path / "project"
    write_plan(root, task_block("TASK-001", commands=["echo built"]) + task_block("TASK-002", ["TASK-001"]))

    def flags(*args: str) -> subprocess.CompletedProcess[str]:
        return run_script(root, "project_orchestrator.py", QUICK_START_FLAGS, *args)

    listing = flags("--list")
    assert listing.returncode == 0 and "TASK-001" in listing.stdout and "ready" in listing.stdout
    assert flags("--next").stdout.startswith("TASK-001: Task TASK-001")
    executed = flags("--execute", "TASK-001")
    assert executed.returncode == 0, executed.stderr
    assert "built" in executed.stdout and "TASK-001 is review." in executed.stdout
    assert flags("--complete", "TASK-001").stdout == "TASK-001 completed.\n"
    assert "50.0% complete" in flags("--report").stdout
    backups = flags("--list-backups")
    assert backups.returncode == 0 and "TASK-001 completed" in backups.stdout.splitlines()[0]
    first = backups.stdout.splitlines()[-1].split()[0]
    assert flags("--rollback", first, "--yes").returncode == 0
    assert state(root)["TASK-001"]["status"] == "pending"
    refused = flags("--execute", "TASK-002")
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert refused.stderr == "error: cannot start TASK-002: it depends on tasks not completed: TASK-001 (ready)\n"


# -- the seed README: LLM Integration Examples ----------------------------------------------------

CLAUDE_CODE_INTERACTIVE = """
    from orchestra_tui import AgentRegistry, AgentTask, ProjectOrchestrator
    orchestrator = ProjectOrchestrator(".")
    # The seed's own registration: Claude Code is a person with its Task tool (orchestra's interactive agent).
    AgentRegistry().register_agent(name="claude-code", type="anthropic-claude", interface="task-tool",
                                   capabilities=["code", "research", "design"])
    orchestrator.add_task(AgentTask(task_id="ADR-001", title="Record the storage decision", agent="claude-code"))

    task = orchestrator.get_next_task()
    print(f"📝 Copy this command to Claude Code:")
    print(f"   Use {task.agent} subagent to {task.title}")

    result = orchestrator.execute_task(task.task_id)
    print(result.status, result.handoff)
"""


def test_llm_integration_claude_code_interactive_hands_the_task_to_a_person(tmp_path: Path) -> None:
    root = tmp_path / "project"
    write_plan(root, "")
    done = run_script(root, "claude_code.py", CLAUDE_CODE_INTERACTIVE)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[1] == "   Use claude-code subagent to Record the storage decision"
    assert lines[-1] == "in_progress True"  # handed off: the person completes it
    assert state(root)["ADR-001"]["status"] == "in_progress"


GPT4_AND_GEMINI = """
    import os
    import sys
    from orchestra_tui import AgentRegistry, AgentTask, ProjectOrchestrator

    orchestrator = ProjectOrchestrator(".")
    registry = AgentRegistry()
    registry.register_agent(
        name="gpt-4",
        type="openai-gpt",
        interface="api",
        api_key=os.getenv("OPENAI_API_KEY"),
        api_endpoint=sys.argv[1] + "/v1/chat/completions",
    )
    registry.register_agent(name="gemini-pro", type="google-gemini", interface="api",
                            api_key=os.getenv("GOOGLE_API_KEY"), api_endpoint=sys.argv[1])

    orchestrator.add_task(AgentTask(task_id="ADR-002", title="Pick a database", description="Compare two.",
                                    agent="gpt-4"))
    orchestrator.add_task(AgentTask(task_id="ADR-003", title="Pick a queue", description="Compare two.",
                                    agent="gemini-pro"))
    for task_id in ("ADR-002", "ADR-003"):
        result = orchestrator.execute_task(task_id)
        print(task_id, result.status, repr(result.output), result.input_tokens, result.output_tokens)
"""


def test_llm_integration_gpt4_and_gemini_through_registered_api_agents(tmp_path: Path, server: FakeServer) -> None:
    """The seed's GPT-4 and Gemini snippets call SDK functions their vendors removed (``openai.ChatCompletion``)
    or retired (``google.generativeai``); on orchestra the same agents are ``register_agent`` calls with the
    seed's types, which talk to the providers' wire APIs without an SDK."""
    root = tmp_path / "project"
    write_plan(root, "")
    gpt_key, gemini_key = f"sk-PLANTED-{secrets.token_hex(8)}", f"AIza-PLANTED-{secrets.token_hex(8)}"
    server.reply(Reply(headers=SSE, body=[OPENAI_SSE]), Reply(headers=SSE, body=[GEMINI_SSE]))
    done = run_script(
        root,
        "llm_integration.py",
        GPT4_AND_GEMINI,
        server.url,
        env={"OPENAI_API_KEY": gpt_key, "GOOGLE_API_KEY": gemini_key},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["ADR-002 review 'GPT says hi' 12 3", "ADR-003 review 'Gemini done.' 9 2"]
    gpt, gemini = server.requests
    assert gpt.path == "/v1/chat/completions" and gpt.headers["authorization"] == f"Bearer {gpt_key}"
    assert gpt.json()["model"] == "gpt-4" and "Pick a database" in gpt.json()["messages"][-1]["content"]
    assert (
        gemini.path == "/v1beta/models/gemini-pro:streamGenerateContent?alt=sse"
        and gemini.headers["x-goog-api-key"] == gemini_key
    )
    assert files_holding(root, [gpt_key.encode(), gemini_key.encode()])[1] == []


CUSTOM_LLM = """
    import sys
    import requests
    from orchestra_tui import AgentTask, AgentRegistry, CustomAgent, ProjectOrchestrator

    URL = sys.argv[1] + "/generate"  # the block's https://your-llm-api.com/generate, served locally

    def execute_with_custom_llm(task: AgentTask):
        response = requests.post(
            URL,
            json={
                "prompt": task.description,
                "max_tokens": 4000
            }
        )
        return response.json()["text"]

    class CustomLLM(CustomAgent):
        def execute(self, task: AgentTask) -> str:
            return execute_with_custom_llm(task)

    AgentRegistry().register(CustomLLM(name="custom-llm"))
    orchestrator = ProjectOrchestrator(".")
    orchestrator.add_task(AgentTask(task_id="DOC-001", title="Write the docs", description="Document the API.",
                                    agent="custom-llm"))
    result = orchestrator.execute_task("DOC-001")
    print(result.status, repr(result.output))
"""


def test_llm_integration_custom_llm_function_runs_as_a_custom_agent(tmp_path: Path, server: FakeServer) -> None:
    root = tmp_path / "project"
    write_plan(root, "")
    server.reply(Reply.json(200, {"text": "The API, documented."}))
    done = run_script(root, "custom_llm.py", CUSTOM_LLM, server.url)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "review 'The API, documented.'\n"
    assert server.requests[0].json() == {"prompt": "Document the API.", "max_tokens": 4000}
    task = state(root)["DOC-001"]
    assert task["status"] == "review" and run_output(root, task) == "The API, documented."


# -- the seed README: Advanced Features ------------------------------------------------------------

PARALLEL_EXECUTION = """
    import sys
    from orchestra_tui import ProjectOrchestrator
    orchestrator = ProjectOrchestrator(".")

    from orchestra_tui import ParallelExecutor

    executor = ParallelExecutor(orchestrator)

    results = executor.execute_parallel([
        "TASK-001",  # Claude Code
        "TASK-002",  # GPT-4
        "TASK-003",  # Gemini Pro
    ])

    for result in results:
        print(result["task_id"], result.status, repr(result.output), result.usage["input_tokens"], result.error)
"""


def test_advanced_parallel_execution_block_with_three_providers(tmp_path: Path) -> None:
    root = tmp_path / "project"
    with FakeServer() as claude, FakeServer() as gpt, FakeServer() as gemini:
        claude.reply(Reply(headers=SSE, body=[ANTHROPIC_SSE]))
        gpt.reply(Reply(headers=SSE, body=[OPENAI_SSE]))
        gemini.reply(Reply(headers=SSE, body=[GEMINI_SSE]))
        agents = (
            '[agents.claude-code]\ntype = "anthropic"\nmodel = "claude-sonnet-4-5"\nbase_url = '
            f'"{claude.url}"\napi_key_env = "K1"\n\n'
            f'[agents.gpt-4]\ntype = "openai"\nmodel = "gpt-4"\nbase_url = "{gpt.url}/v1"\napi_key_env = "K2"\n\n'
            '[agents.gemini-pro]\ntype = "gemini"\nmodel = "gemini-pro"\nbase_url = '
            f'"{gemini.url}"\napi_key_env = "K3"\n\n'
        )
        write_plan(
            root,
            agents
            + task_block("TASK-001", agent="claude-code")
            + task_block("TASK-002", agent="gpt-4")
            + task_block("TASK-003", agent="gemini-pro"),
        )
        done = run_script(root, "parallel.py", PARALLEL_EXECUTION, env={"K1": "k-one", "K2": "k-two", "K3": "k-three"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "TASK-001 review 'Design written.' 20 None",
        "TASK-002 review 'GPT says hi' 12 None",
        "TASK-003 review 'Gemini done.' 9 None",
    ]
    assert {task["status"] for task in state(root).values()} == {"review"}


CUSTOM_AGENTS = """
    from orchestra_tui import ProjectOrchestrator, AgentTask, ParallelExecutor
    from orchestra_tui import AgentRegistry, CustomAgent

    class MyCustomAgent(CustomAgent):
        def execute(self, task: AgentTask) -> str:
            # Your custom execution logic
            return result

    registry = AgentRegistry()
    registry.register(MyCustomAgent(name="my-agent"))

    class DoneAgent(CustomAgent):  # the issue's version: execute returns the answer
        def execute(self, task: AgentTask) -> str:
            return f"done: {task.title}"

    registry.register(DoneAgent(name="done-agent"))
    orchestrator = ProjectOrchestrator(".")
    executor = ParallelExecutor(orchestrator)
    print(executor.execute(task_id="ADR-001", agent="my-agent").error)
    print(executor.execute(task_id="ADR-002", agent="done-agent").output)
"""


def test_advanced_custom_agents_block_and_its_unset_result(tmp_path: Path) -> None:
    """The block's ``return result`` names nothing: the task fails with the NameError's message, the script goes on."""
    root = tmp_path / "project"
    write_plan(root, task_block("ADR-001") + task_block("ADR-002"))
    done = run_script(root, "custom_agents.py", CUSTOM_AGENTS)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["name 'result' is not defined", "done: Task ADR-002"]
    tasks = state(root)
    assert tasks["ADR-001"]["status"] == "failed" and tasks["ADR-001"]["last_error"] == "name 'result' is not defined"
    assert tasks["ADR-002"]["status"] == "review"


WEBHOOKS = """
    import sys
    from orchestra_tui import ProjectOrchestrator
    from orchestra_tui import WebhookManager

    webhooks = WebhookManager()
    webhooks.register(
        event="task_completed",
        url=sys.argv[1],
        headers={"Authorization": "Bearer " + sys.argv[2]}
    )

    orchestrator = ProjectOrchestrator(".")
    orchestrator.complete_task("TASK-001")
    orchestrator.fail_task("TASK-002", "not this one")
    orchestrator.close()
"""


def test_advanced_webhooks_block_delivers_with_its_headers(tmp_path: Path) -> None:
    root = tmp_path / "project"
    write_plan(root, task_block("TASK-001") + task_block("TASK-002"), project_id="hooks")
    token = f"YOUR_TOKEN-PLANTED-{secrets.token_hex(8)}"
    receiver = Receiver()
    try:
        done = run_script(root, "webhooks.py", WEBHOOKS, receiver.url("/webhook"), token)
        received = receiver.wait_for(1)
    finally:
        receiver.close()
    assert done.returncode == 0, done.stderr
    assert len(received) == 1  # task_completed only, not task_failed
    request = received[0]
    assert request.path == "/webhook" and request.headers["authorization"] == f"Bearer {token}"
    body = json.loads(request.body)
    assert body["event"] == "task_completed" and body["task"]["id"] == "TASK-001" and body["project_id"] == "hooks"
    assert files_holding(root, [token.encode()])[1] == []


# -- CustomAgent ----------------------------------------------------------------------------------


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "p"
    write_plan(root, task_block("A") + task_block("B", ["A"]) + task_block("C") + task_block("D"), project_id="api")
    return root


def test_sync_async_and_streaming_custom_agents_run_and_are_recorded(project: Path) -> None:
    from orchestra_tui import AgentRegistry, CustomAgent, ProjectOrchestrator
    from orchestra_tui.agents.events import UsageUpdate
    from orchestra_tui.agents.python import current_request

    class Sync(CustomAgent):
        def execute(self, task):  # type: ignore[no-untyped-def]
            request = current_request()  # the run's rendered prompt, seen from the agent's own thread
            return (
                f"sync {task.task_id} {threading.current_thread() is not threading.main_thread()} "
                f"{'Task A' in request.prompt}"
            )

    class Async(CustomAgent):
        async def execute(self, task):  # type: ignore[no-untyped-def]
            await asyncio.sleep(0)
            return f"async {task.task_id}"

    class Streaming(CustomAgent):
        def stream(self, task):  # type: ignore[no-untyped-def]
            yield "one "
            yield UsageUpdate(input_tokens=7, output_tokens=2)
            yield "two"

    class AsyncStreaming(CustomAgent):
        async def stream(self, task):  # type: ignore[no-untyped-def]
            for piece in ("x", "y", "z"):
                yield piece

    registry = AgentRegistry()
    for agent in (Sync(name="sync"), Async(name="async"), Streaming(name="streaming"), AsyncStreaming(name="astream")):
        registry.register(agent)
    with ProjectOrchestrator(project) as orchestrator:
        seen: list[str] = []
        results = {
            "A": orchestrator.execute_task("A", "sync"),
            "C": orchestrator.execute_task("C", "streaming", on_text=seen.append),
            "D": orchestrator.execute_task("D", "astream", on_text=seen.append),
        }
        orchestrator.complete_task("A")
        results["B"] = orchestrator.execute_task("B", "async")
        tasks = {task_id: orchestrator.get_task(task_id) for task_id in "ABCD"}
    assert results["A"].output == "sync A True True" and results["B"].output == "async B"
    assert results["C"].output == "one two" and (results["C"].input_tokens, results["C"].output_tokens) == (7, 2)
    assert "".join(seen) == "one twoxyz"  # streamed to on_text (the bus may join pieces that come together)
    assert {task_id: task.status.value for task_id, task in tasks.items()} == {
        "A": "completed",
        "B": "review",
        "C": "review",
        "D": "review",
    }
    assert all(task.attempts == 1 for task in tasks.values()) and tasks["C"].input_tokens == 7
    for task_id, task in tasks.items():
        assert run_output(project, {"last_run_id": task.last_run_id}) == results[task_id].output
    events = [
        json.loads(line)
        for line in (project / ".orchestra" / "runs" / str(tasks["C"].last_run_id) / "events.jsonl")
        .read_text()
        .splitlines()
    ]
    assert (
        next(event["event"] for event in events) == "run"
        and events[0]["type"] == "python"
        and events[-1]["status"] == "review"
    )


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ("raise RuntimeError('the model\\nis down')", "the model is down"),
        ("raise SystemExit(3)", "3"),
        ("raise KeyError('x')", "'x'"),
        ("raise StopIteration", "raised StopIteration"),
        ("return 42", "execute() returned int, not the answer as a str"),
    ],
)
def test_whatever_execute_does_fails_only_its_task(project: Path, body: str, error: str) -> None:
    from orchestra_tui import AgentRegistry, CustomAgent, ProjectOrchestrator

    namespace: dict[str, object] = {"CustomAgent": CustomAgent}
    exec(f"class Broken(CustomAgent):\n    def execute(self, task):\n        {body}\n", namespace)
    AgentRegistry().register(namespace["Broken"](name="broken"))  # type: ignore[operator]
    with ProjectOrchestrator(project) as orchestrator:
        result = orchestrator.execute_task("A", "broken")
        assert result.status == "failed" and result.error == error
        assert orchestrator.get_task("A").last_error == error


def test_a_class_overriding_nothing_fails_its_task_with_a_message(project: Path) -> None:
    from orchestra_tui import AgentRegistry, CustomAgent, ProjectOrchestrator

    AgentRegistry().register(CustomAgent(name="empty"))
    with ProjectOrchestrator(project) as orchestrator:
        assert orchestrator.execute_task("A", "empty").error == "CustomAgent overrides neither execute() nor stream()"


# -- registries reach the orchestrator, the scheduler and the TUI ---------------------------------


def test_registered_agents_reach_every_project_of_the_process(project: Path) -> None:
    from orchestra_tui import AgentRegistry, CustomAgent, ProjectOrchestrator
    from orchestra_tui.engine.project import Project
    from orchestra_tui.engine.scheduler import Scheduler

    class Named(CustomAgent):
        def execute(self, task):  # type: ignore[no-untyped-def]
            return f"{self.name} ran {task.task_id}"

    registry = AgentRegistry()
    entry = registry.register(Named(name="shell", capabilities=["code"]))  # wins over the built-in shell
    assert entry.agent_type == "custom" and entry.capabilities == ["code"]
    with ProjectOrchestrator(project) as orchestrator:
        assert orchestrator.execute_task("A").output == "shell ran A"
        orchestrator.complete_task("A")

    async def scheduled() -> list[str]:
        with Project.open(project, actor="scheduler") as opened:
            summary = await Scheduler(opened).run()
        return sorted(result.output for result in summary.results)

    assert asyncio.run(scheduled()) == ["shell ran B", "shell ran C", "shell ran D"]
    assert registry.unregister_agent("shell")
    with ProjectOrchestrator(project) as orchestrator:
        assert orchestrator.agent("shell").agent_type == "shell"  # the built-in again


def test_a_disabled_registered_agent_runs_nothing(project: Path) -> None:
    from orchestra_tui import AgentRegistry, CustomAgent, ParallelExecutor, ProjectOrchestrator
    from orchestra_tui.engine.project import Project
    from orchestra_tui.engine.scheduler import Scheduler

    class Never(CustomAgent):
        def execute(self, task):  # type: ignore[no-untyped-def]
            raise AssertionError("a disabled agent ran")

    registry = AgentRegistry()
    registry.register(Never(name="shell"))
    assert registry.disable_agent("shell")
    refusal = "agent 'shell' is disabled; registry.enable_agent('shell') enables it"
    with ProjectOrchestrator(project) as orchestrator:
        with pytest.raises(OrchestraError) as raised:
            orchestrator.execute_task("A")
        assert str(raised.value) == refusal
        with pytest.raises(OrchestraError):
            ParallelExecutor(orchestrator).execute("A")

    async def scheduled() -> str | None:
        with Project.open(project, actor="scheduler") as opened:
            await Scheduler(opened).run(until="A")
            return opened.tasks["A"].last_error

    assert asyncio.run(scheduled()) == refusal


async def test_a_registered_custom_agent_runs_from_the_tui(project: Path, tmp_path: Path) -> None:
    from orchestra_tui import AgentRegistry, CustomAgent

    from ..helpers.tui import app_on
    from ..helpers.waits import until

    class Answer(CustomAgent):
        def execute(self, task):  # type: ignore[no-untyped-def]
            return f"tui ran {task.task_id}"

    AgentRegistry().register(Answer(name="shell"))
    app = app_on(project, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("a")  # dispatch every ready task
        tasks = app.session.project.tasks
        await until(pilot, lambda: {tasks[t].status.value for t in "ACD"} == {"review"}, "A, C, D in review", 20)
        assert run_output(project, {"last_run_id": tasks["C"].last_run_id}) == "tui ran C"


# -- type = "python" in a plan --------------------------------------------------------------------

ENTRY_MODULE = """
    import pathlib
    pathlib.Path(__file__).with_name("imported.marker").write_text("imported")

    from orchestra_tui import CustomAgent

    class Writer(CustomAgent):
        def execute(self, task):
            return f"{self.name} wrote {task.task_id}"

    def shout(task):
        return task.title.upper()
"""


async def test_the_tui_runs_a_plans_python_agent(tmp_path: Path) -> None:
    from ..helpers.tui import app_on
    from ..helpers.waits import until

    root = tmp_path / "p"
    write_plan(
        root, '[agents.writer]\ntype = "python"\nentry = "tui_agents:Writer"\n\n' + task_block("W-1", agent="writer")
    )
    (root / "tui_agents.py").write_text(
        textwrap.dedent(ENTRY_MODULE).replace('with_name("imported.marker")', 'with_name("tui.marker")')
    )
    app = app_on(root, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert not (root / "tui.marker").exists()  # opening the app imports nothing
        await pilot.press("a")
        tasks = app.session.project.tasks
        await until(pilot, lambda: tasks["W-1"].status.value == "review", "W-1 in review", 20)
        assert run_output(root, {"last_run_id": tasks["W-1"].last_run_id}) == "writer wrote W-1"


def orchestra(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orchestra_tui", "-p", str(root), *args],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def test_a_plans_python_agent_is_imported_only_when_its_task_runs(tmp_path: Path) -> None:
    root = tmp_path / "p"
    write_plan(
        root,
        '[agents.writer]\ntype = "python"\nentry = "team_agents.writers:Writer"\n\n'
        '[agents.shouter]\ntype = "python"\nentry = "team_agents.writers:shout"\n\n'
        + task_block("W-1", agent="writer")
        + task_block("S-1", agent="shouter"),
    )
    (root / "team_agents").mkdir()
    (root / "team_agents" / "__init__.py").write_text("")
    (root / "team_agents" / "writers.py").write_text(textwrap.dedent(ENTRY_MODULE))
    marker = root / "team_agents" / "imported.marker"
    for read in (["validate"], ["list"], ["next"], ["report"], ["graph"], ["agents"], ["agents", "--json"]):
        done = orchestra(root, *read)
        assert done.returncode == 0, (read, done.stderr)
        assert not marker.exists(), f"orchestra {' '.join(read)} imported the repository's code"
    ran = orchestra(root, "run")
    assert ran.returncode == 0, ran.stderr
    assert marker.exists()
    tasks = state(root)
    assert tasks["W-1"]["status"] == "review" and run_output(root, tasks["W-1"]) == "writer wrote W-1"
    assert run_output(root, tasks["S-1"]) == "TASK S-1"


@pytest.mark.parametrize(
    ("entry", "module", "error"),
    [
        ("broken_agents:Writer", "raise ImportError('no such thing')\n", "ImportError: no such thing"),
        ("missing_module:Writer", None, "ModuleNotFoundError: No module named 'missing_module'"),
        ("broken_agents:Nope", "X = 1\n", "AttributeError: module 'broken_agents' has no attribute 'Nope'"),
    ],
)
def test_an_entry_that_cannot_load_fails_its_task_in_one_line(
    tmp_path: Path, entry: str, module: str | None, error: str
) -> None:
    root = tmp_path / "p"
    write_plan(root, f'[agents.py]\ntype = "python"\nentry = "{entry}"\n\n' + task_block("T", agent="py"))
    if module is not None:
        (root / "broken_agents.py").write_text(module)
    done = orchestra(root, "execute", "T")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert state(root)["T"]["last_error"] == f"agent py: cannot load entry {entry!r}: {error}"


def test_a_python_agent_without_a_usable_entry_is_a_plan_error(tmp_path: Path) -> None:
    root = tmp_path / "p"
    write_plan(root, '[agents.a]\ntype = "python"\n\n[agents.b]\ntype = "python"\nentry = "not a path"\n')
    done = orchestra(root, "validate")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    plan = root / "orchestra.toml"
    assert done.stderr.splitlines() == [
        f'{plan}:5: agent a: field \'entry\': type "python" needs entry = "package.module:ClassName"',
        f"{plan}:10: agent b: field 'entry': invalid entry 'not a path': write it as 'package.module:ClassName'",
    ]


# -- ParallelExecutor -----------------------------------------------------------------------------


def gated(name: str, parties: int, log: list[str], lock: threading.Lock, active: list[int]) -> object:
    """A custom agent whose runs meet at a barrier: the tasks finish only if ``parties`` of them run at once."""
    from orchestra_tui import CustomAgent

    barrier = threading.Barrier(parties, timeout=20)

    class Gated(CustomAgent):
        def execute(self, task):  # type: ignore[no-untyped-def]
            with lock:
                active[0] += 1
                active[1] = max(active[1], active[0])
                arrival = len(log)
                log.append(task.task_id)
            try:
                if arrival < parties:
                    barrier.wait()
                return f"ran {task.task_id}"
            finally:
                with lock:
                    active[0] -= 1

    return Gated(name=name)


def test_execute_parallel_runs_at_once_bounded_by_parallel_max_in_the_given_order(tmp_path: Path) -> None:
    from orchestra_tui import AgentRegistry, ParallelExecutor, ProjectOrchestrator

    root = tmp_path / "p"
    write_plan(root, "".join(task_block(t) for t in ("T1", "T2", "T3")))
    (root / "orchestra.toml").write_text(
        (root / "orchestra.toml").read_text().replace('name = "Test"', 'name = "Test"\nparallel_max = 2')
    )
    log: list[str] = []
    active = [0, 0]
    AgentRegistry().register(gated("gated", 2, log, threading.Lock(), active))
    with ProjectOrchestrator(root) as orchestrator:
        results = ParallelExecutor(orchestrator).execute_parallel([("T3", "gated"), ("T1", "gated"), ("T2", "gated")])
    assert [r.task_id for r in results] == ["T3", "T1", "T2"]
    assert [(r.status, r.output, r.error) for r in results] == [
        ("review", f"ran {t}", None) for t in ("T3", "T1", "T2")
    ]
    assert active[1] == 2  # two met at the barrier; never three at once


def test_execute_parallel_honours_dependencies(tmp_path: Path) -> None:
    from orchestra_tui import AgentRegistry, CustomAgent, ParallelExecutor, ProjectOrchestrator

    class Quick(CustomAgent):
        def execute(self, task):  # type: ignore[no-untyped-def]
            return f"ran {task.task_id}"

    AgentRegistry().register(Quick(name="shell"))
    root = tmp_path / "p"
    write_plan(
        root,
        task_block("A") + task_block("B", ["A"]) + task_block("C", ["X"]) + task_block("X") + task_block("D", ["A"]),
    )
    (root / "orchestra.toml").write_text(
        (root / "orchestra.toml").read_text().replace('name = "Test"', 'name = "Test"\nauto_complete = true')
    )
    with ProjectOrchestrator(root) as orchestrator:
        results = ParallelExecutor(orchestrator).execute_parallel(["B", "C", "A"])
        statuses = {task_id: orchestrator.get_task(task_id).status.value for task_id in "ABCDX"}
    assert [(r.task_id, r.status) for r in results] == [("B", "completed"), ("C", "refused"), ("A", "completed")]
    assert (
        results[1].error == "cannot start C: it depends on tasks not completed: X (ready)" and results[1].run_id is None
    )
    assert statuses == {"A": "completed", "B": "completed", "C": "pending", "D": "pending", "X": "pending"}


def test_execute_parallel_without_auto_complete_refuses_what_waits_on_review(project: Path) -> None:
    from orchestra_tui import AgentRegistry, CustomAgent, ParallelExecutor, ProjectOrchestrator

    class Quick(CustomAgent):
        def execute(self, task):  # type: ignore[no-untyped-def]
            return "ok"

    AgentRegistry().register(Quick(name="shell"))
    with ProjectOrchestrator(project) as orchestrator:
        executor = ParallelExecutor(orchestrator)
        first, second = executor.execute_parallel(["A", "B"])
        assert (first.status, second.status) == ("review", "refused")
        assert second.error == "cannot start B: it depends on tasks not completed: A (review)"
        again = executor.execute(task_id="A")
        assert again.refused and again.error == "cannot start A: it is review" and again["status"] == "refused"


def test_execute_parallel_mistakes_raise_before_anything_runs(project: Path) -> None:
    from orchestra_tui import ParallelExecutor, ProjectOrchestrator

    with ProjectOrchestrator(project) as orchestrator:
        executor = ParallelExecutor(orchestrator)
        before = len(orchestrator.list_backups(None, show=False))
        with pytest.raises(UnknownTaskError):
            executor.execute_parallel(["A", "NOPE"])
        with pytest.raises(OrchestraError, match=r"^A is listed twice$"):
            executor.execute_parallel(["A", ("A", "shell")])
        with pytest.raises(OrchestraError, match=r"^unknown agent 'gpt-5' for C; agents: interactive, shell$"):
            executor.execute_parallel(["A", ("C", "gpt-5")])
        assert len(orchestrator.list_backups(None, show=False)) == before


def test_execute_parallel_reports_usage_and_cost(project: Path, server: FakeServer) -> None:
    from orchestra_tui import AgentRegistry, ParallelExecutor, ProjectOrchestrator

    server.reply(Reply(headers=SSE, body=[OPENAI_SSE]))
    AgentRegistry().register_agent(
        name="gpt-4o", agent_type="openai-gpt", interface="api", api_key="sk-local", api_endpoint=f"{server.url}/v1"
    )
    with ProjectOrchestrator(project) as orchestrator:
        (result,) = ParallelExecutor(orchestrator).execute_parallel([("A", "gpt-4o")])
    assert result.usage == {"input_tokens": 12, "output_tokens": 3}
    assert result.cost_usd is not None and result.cost_usd > 0 and result.to_dict()["cost_usd"] == result.cost


# -- register_agent the seed's way ----------------------------------------------------------------


def test_register_agent_accepts_type_as_the_seed_readme_writes_it() -> None:
    from orchestra_tui import AgentRegistry
    from orchestra_tui.agents.registry import RegistryError

    registry = AgentRegistry()
    claude = registry.register_agent(
        name="claude-code", type="anthropic-claude", interface="task-tool", capabilities=["code", "research", "design"]
    )
    assert (claude.agent_type, claude.config.type.value, claude.capabilities) == (
        "anthropic-claude",
        "interactive",
        ["code", "research", "design"],
    )
    gpt = registry.register_agent(name="gpt-4", type="openai-gpt", interface="api", api_key=None)
    assert (
        gpt.config.type.value == "openai" and gpt.config.model == "gpt-4" and gpt.config.api_key_env == "OPENAI_API_KEY"
    )
    assert registry.register_agent("llama", "meta-llama", "api").config.type.value == "ollama"
    with pytest.raises(RegistryError, match="give type= or agent_type=, not both"):
        registry.register_agent(name="x", type="openai-gpt", agent_type="google-gemini", interface="api")
    with pytest.raises(RegistryError, match="type= is required"):
        registry.register_agent(name="y", interface="api")


def test_a_key_passed_in_code_stays_in_memory(
    project: Path, server: FakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The provider refuses the key and echoes it back: it reaches no file, no log record, no result."""
    from orchestra_tui import AgentRegistry, ParallelExecutor, ProjectOrchestrator, WebhookManager

    key = f"sk-PLANTED-{secrets.token_hex(12)}"
    assert key not in os.environ.values()
    receiver = Receiver()
    WebhookManager().register("*", receiver.url())
    server.reply(
        Reply.json(
            401,
            {
                "error": {
                    "message": f"Incorrect API key provided: {key}.",
                    "type": "invalid_request_error",
                    "code": "invalid_api_key",
                }
            },
        )
    )
    registry = AgentRegistry()
    entry = registry.register_agent(
        name="gpt-4", type="openai-gpt", interface="api", api_key=key, api_endpoint=f"{server.url}/v1"
    )
    assert key not in repr(entry) and key not in json.dumps(entry.to_dict())
    with caplog.at_level(logging.DEBUG), ProjectOrchestrator(project) as orchestrator:
        (result,) = ParallelExecutor(orchestrator).execute_parallel([("A", "gpt-4")])
    assert server.requests[0].headers["authorization"] == f"Bearer {key}"  # it was used
    assert result.status == "failed" and key not in repr(result.to_dict())
    assert key not in caplog.text and key not in os.environ.values()
    searched, hits = files_holding(project, [key.encode()])
    assert searched > 5 and hits == []
    bodies = [request.body for request in receiver.wait_for(3)]
    receiver.close()
    assert {json.loads(body)["event"] for body in bodies} == {"task_started", "task_failed", "run_finished"}
    assert all(key.encode() not in body for body in bodies)


# -- WebhookManager -------------------------------------------------------------------------------


def test_webhooks_registered_after_open_are_signed_and_keep_their_headers_in_memory(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from orchestra_tui import ProjectOrchestrator, WebhookManager

    token = f"tok-PLANTED-{secrets.token_hex(12)}"
    secret = f"whsec-{secrets.token_hex(12)}"
    monkeypatch.setenv("ORCH_SEED_HOOK_SECRET", secret)
    receiver = Receiver()
    down = Receiver()
    down_url = down.url("/down")
    down.close()  # nothing listens there: its deliveries wait in the outbox
    try:
        with ProjectOrchestrator(project) as orchestrator:
            manager = WebhookManager()
            manager.register("*", receiver.url("/all"), {"X-Token": token}, secret_env="ORCH_SEED_HOOK_SECRET")
            manager.register(["task_started"], down_url, {"Authorization": f"Bearer {token}"})
            orchestrator.start_task("A")
            orchestrator.complete_task("A")
            received = receiver.wait_for(2)
        assert [json.loads(r.body)["event"] for r in received] == ["task_started", "task_completed"]
        assert all(r.headers["x-token"] == token and verified(r, secret) for r in received)
        assert pending(project)  # the failing webhook's delivery waits, without its headers
        assert files_holding(project, [token.encode()])[1] == []
        assert manager.unregister(down_url) and not manager.unregister(down_url)
    finally:
        receiver.close()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("task_done", "http://127.0.0.1:9/h"), "webhook: events.0: Input should be"),
        (
            ("task_completed", "ftp://example.org/h"),
            "webhook: url must be http:// or https:// with a host, got scheme 'ftp'",
        ),
        (
            ("task_completed", "http://127.0.0.1:9/h", {"X-A": "b\r\nX-Injected: 1"}),
            "webhook: header 'X-A' must be a one-line string",
        ),
    ],
)
def test_webhook_registration_errors_are_one_line(args: tuple[object, ...], message: str) -> None:
    from orchestra_tui import WebhookManager

    with pytest.raises(ValueError) as raised:
        WebhookManager().register(*args)  # type: ignore[arg-type]
    assert str(raised.value).startswith(message) and "\n" not in str(raised.value)
