"""One task run end to end (engine/runner.py, engine/runs.py): the real shell agent and test agents
implementing the Agent protocol, real files, real subprocesses."""

from __future__ import annotations

import asyncio
import json
import os
import threading
from pathlib import Path

import pytest

from orchestra_tui.agents.events import (
    Failed,
    Finished,
    TextDelta,
    UsageUpdate,
)
from orchestra_tui.engine.bus import Bus, RunEnded, RunOutput, RunStarted
from orchestra_tui.engine.project import Project
from orchestra_tui.engine.runner import CANCELLED, Runner
from orchestra_tui.engine.runs import (
    EVENTS_FILE,
    OUTPUT_FILE,
    VERIFY_FILE,
    RunLog,
    is_live,
    new_run_id,
    read_events,
    recover_interrupted,
    run_dir,
    runs_dir,
)
from orchestra_tui.errors import OrchestraError, TransitionError
from orchestra_tui.models import AgentConfig, AgentType

from ..helpers.agents import ScriptedAgent, agent_tables
from ..helpers.plans import task_block, write_plan

# ------------------------------------------------------------------------------------- test agents


def events_of(root: Path, run_id: str) -> list[dict[str, object]]:
    return read_events(root, run_id)


def kinds(root: Path, run_id: str) -> list[object]:
    return [event["event"] for event in events_of(root, run_id)]


def every_file(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file()]


# ------------------------------------------------------------------------------------- shell agent


async def test_shell_run_streams_records_writes_output_and_ends_in_review(tmp_path: Path) -> None:
    write_plan(
        tmp_path,
        task_block("A", commands=["echo first", "echo second >&2"], output="out/result.txt", estimated_hours=2),
    )
    with Project.open(tmp_path, actor="api") as project:
        bus = Bus()
        bus.watch(project)
        seen = bus.subscribe()
        result = await Runner(project, bus=bus).execute("A")
        task = project.task("A")
        assert result.ok and result.status == "review" and task.status == "review"
        assert result.output == "first\nsecond\n" and result.error is None and result.agent == "shell"
        assert (tmp_path / "out" / "result.txt").read_text() == "first\nsecond\n"
        directory = run_dir(tmp_path, result.run_id)
        assert (directory / OUTPUT_FILE).read_text() == "first\nsecond\n"
        assert task.last_run_id == result.run_id and task.attempts == 1 and task.actual_hours is not None
        # "process" lines record each command's process group (one that ended before it could be read is not)
        assert [k for k in kinds(tmp_path, result.run_id) if k != "process"] == [
            "run",
            "started",
            "first_text",
            "finished",
            "output",
            "end",
        ]
        end = events_of(tmp_path, result.run_id)[-1]
        assert end["status"] == "review" and end["error"] is None
        assert not is_live(tmp_path, result.run_id)
        assert [entry.action for entry in project.history()][-2:] == ["start", "review"]
        events = seen.drain()
    assert "".join(e.text for e in events if isinstance(e, RunOutput)) == "first\nsecond\n"
    assert isinstance(events[-1], RunEnded) and events[-1].status == "review"
    assert any(isinstance(e, RunStarted) and e.run_id == result.run_id for e in events)


async def test_a_run_nobody_here_follows_has_its_shell_write_output_txt_itself(tmp_path: Path) -> None:
    """A driver's bus has no subscriber (its faces read the run's files): the commands' stdout and stderr are the
    run's ``output.txt`` itself, no pipe for this process to read; the run reads the size back, and the answer, the
    task's output file and the events are as for a streamed run."""
    write_plan(
        tmp_path,
        task_block("A", commands=["echo first", "echo second >&2", "readlink /proc/self/fd/1"], output="out/r.txt"),
    )
    with Project.open(tmp_path, actor="scheduler") as project:
        result = await Runner(project).execute("A")
        assert result.ok and result.status == "review", result.error
        directory = run_dir(tmp_path, result.run_id)
        written = f"first\nsecond\n{directory / OUTPUT_FILE}\n"
        assert (directory / OUTPUT_FILE).read_text() == written  # (through a pipe: ``pipe:[...]``)
        assert result.output == written and (tmp_path / "out" / "r.txt").read_text() == written
        finished = [event for event in events_of(tmp_path, result.run_id) if event["event"] == "finished"]
        assert [event["chars"] for event in finished] == [len(written)]
        assert "first_text" not in kinds(tmp_path, result.run_id)  # (when the first byte came is not seen here)


async def test_a_run_followed_here_streams_its_shell_output_through_a_pipe(tmp_path: Path) -> None:
    write_plan(tmp_path, task_block("A", commands=["readlink /proc/self/fd/1"]))
    with Project.open(tmp_path, actor="api") as project:
        bus = Bus()
        seen = bus.subscribe()
        result = await Runner(project, bus=bus).execute("A")
        streamed = "".join(event.text for event in seen.drain() if isinstance(event, RunOutput))
    assert streamed.startswith("pipe:[") and result.output == streamed


async def test_output_path_outside_the_project_root_fails_and_writes_nothing(tmp_path: Path) -> None:
    """Validation refuses such paths as written (tests/store/test_trust_store.py); through a symlinked directory
    the runner refuses them on the resolved path."""
    root = tmp_path / "proj"
    write_plan(
        root,
        task_block("A", commands=["echo hi"], output="out/escape.txt")
        + task_block("B", commands=["echo hi"], output="state/journal.log"),
    )
    (root / "out").symlink_to(tmp_path)
    (root / "state").symlink_to(root / ".orchestra")
    with Project.open(root, actor="api") as project:
        journal = (root / ".orchestra" / "journal.log").read_bytes()
        runner = Runner(project)
        for task_id, reason in (("A", "leads out of the project"), ("B", "is inside .orchestra/")):
            result = await runner.execute(task_id)
            assert result.status == "failed"
            assert reason in result.error and "nothing was written" in result.error and "\n" not in result.error
            assert project.task(task_id).last_error == result.error
            assert (run_dir(root, result.run_id) / OUTPUT_FILE).read_text() == "hi\n"  # the output is kept
    assert not (tmp_path / "escape.txt").exists()
    assert (root / ".orchestra" / "journal.log").read_bytes().startswith(journal)


async def test_verify_commands_run_in_the_root_after_success_and_all_must_pass(tmp_path: Path) -> None:
    write_plan(
        tmp_path,
        task_block(
            "A", commands=["echo content"], output="result.txt", verify=["test -s result.txt", "echo checked; pwd"]
        )
        + task_block(
            "B", commands=["echo content"], verify=["echo first ok", "echo broken >&2; exit 3", "touch never-run"]
        ),
    )
    with Project.open(tmp_path, actor="api") as project:
        bus = Bus()
        seen = bus.subscribe()
        runner = Runner(project, bus=bus)
        passed = await runner.execute("A")
        assert passed.status == "review", passed.error
        verify_log = (run_dir(tmp_path, passed.run_id) / VERIFY_FILE).read_text()
        assert verify_log == f"$ test -s result.txt\n$ echo checked; pwd\nchecked\n{tmp_path.resolve()}\n"
        codes = [(e["command"], e["exit_code"]) for e in events_of(tmp_path, passed.run_id) if e["event"] == "verify"]
        assert codes == [("test -s result.txt", 0), ("echo checked; pwd", 0)]

        failed = await runner.execute("B")
        assert failed.status == "failed"
        assert failed.error == "verify failed: `echo broken >&2; exit 3` exited with 3"
        assert "broken" in (run_dir(tmp_path, failed.run_id) / VERIFY_FILE).read_text()
        assert not (tmp_path / "never-run").exists()  # the first failure stops the rest
        verify_text = "".join(e.text for e in seen.drain() if isinstance(e, RunOutput) and e.source == "verify")
        assert "checked\n" in verify_text and "broken\n" in verify_text


async def test_auto_complete_completes_and_unblocks_the_dependants(tmp_path: Path) -> None:
    path = write_plan(tmp_path, task_block("A", commands=["true"]) + task_block("B", ["A"], commands=["true"]))
    path.write_text(path.read_text().replace('name = "Test"', 'name = "Test"\nauto_complete = true'))
    with Project.open(tmp_path, actor="api") as project:
        result = await Runner(project).execute("A")
        assert result.status == "completed" and project.task("A").completed_at is not None
        assert project.status_of("B") == "ready"


async def test_a_failing_command_fails_the_task_with_the_agents_reason_and_keeps_the_output(tmp_path: Path) -> None:
    write_plan(tmp_path, task_block("A", commands=["echo partial", "exit 4"], output="never.txt"))
    with Project.open(tmp_path, actor="cli") as project:
        result = await Runner(project).execute("A")
        assert result.status == "failed" and result.error == "command 2 of 2 exited with 4: exit 4"
        assert result.output == "partial\n"
        assert project.task("A").last_error == result.error
        assert (run_dir(tmp_path, result.run_id) / OUTPUT_FILE).read_text() == "partial\n"
        assert not (tmp_path / "never.txt").exists()
        assert project.history()[-1].actor == "cli"


async def test_task_strings_are_expanded_at_run_time_and_the_secret_is_written_nowhere(tmp_path: Path) -> None:
    secret = "s3cr3t-planted-value-4242"
    write_plan(
        tmp_path,
        task_block(
            "A",
            commands=["test ${TOKEN} = ${EXPECTED} && echo token-ok", "echo ${GREETING}"],
            output="out/${NAME}.txt",
            verify=["test ${TOKEN} = ${EXPECTED}", "test -n ${TOKEN}"],
        ),
    )
    env = {**os.environ, "TOKEN": secret, "EXPECTED": secret, "GREETING": "hello-there", "NAME": "greeting"}
    with Project.open(tmp_path, actor="api") as project:
        result = await Runner(project, env=env).execute("A")
        assert result.status == "review", result.error
        assert (tmp_path / "out" / "greeting.txt").read_text() == "token-ok\nhello-there\n"
        assert project.task("A").commands[0].startswith("test ${TOKEN} = ")  # the state keeps what was written
    for path in every_file(tmp_path):
        assert secret.encode() not in path.read_bytes(), path


async def test_dependencies_final_outputs_reach_the_prompt(tmp_path: Path) -> None:
    write_plan(
        tmp_path,
        agent_tables("writer")
        + task_block("A", commands=["echo the design says X"])
        + task_block("B", ["A"], agent="writer"),
    )
    agent = ScriptedAgent([TextDelta("ok"), Finished("ok")], name="writer")
    with Project.open(tmp_path, actor="api") as project:
        runner = Runner(project, agents={"shell": (await _shell(project)), "writer": agent})
        await runner.execute("A")
        project.complete("A")
        result = await runner.execute("B")
        assert result.status == "review"
    prompt = agent.requests[0].prompt
    assert "# Task B" in prompt and "### A" in prompt and "the design says X" in prompt
    assert agent.requests[0].cwd == tmp_path.resolve() and agent.requests[0].run_id == result.run_id


async def _shell(project: Project):
    from orchestra_tui.agents.registry import agents_for

    return agents_for(project.plan)["shell"]


# ------------------------------------------------------------------------------------ test agents


async def test_usage_and_cost_are_recorded_and_add_up_over_attempts(tmp_path: Path) -> None:
    write_plan(tmp_path, agent_tables("gpt") + task_block("A", agent="gpt"))
    agent = ScriptedAgent(
        [TextDelta("hel"), UsageUpdate(1000, 10), TextDelta("lo"), UsageUpdate(None, 2000), Finished("hello")],
        config=AgentConfig(type=AgentType.OPENAI, model="gpt-4o", api_key_env="OPENAI_API_KEY"),
        name="gpt",
    )
    with Project.open(tmp_path, actor="api") as project:
        runner = Runner(project, agents={"gpt": agent})
        first = await runner.execute("A")
        assert (first.input_tokens, first.output_tokens) == (1000, 2000)
        assert first.cost_usd == pytest.approx((1000 * 2.5 + 2000 * 10.0) / 1e6)
        task = project.task("A")
        assert (task.input_tokens, task.output_tokens, task.cost_usd) == (1000, 2000, pytest.approx(0.0225))
        project.retry("A")
        await runner.execute("A")
        task = project.task("A")
        assert (task.input_tokens, task.output_tokens, task.cost_usd, task.attempts) == (
            2000,
            4000,
            pytest.approx(0.045),
            2,
        )
        usage = [
            (e["input_tokens"], e["output_tokens"]) for e in events_of(tmp_path, first.run_id) if e["event"] == "usage"
        ]
        assert usage == [(1000, 10), (1000, 2000)]  # the first as it came; the second, sooner, in the end's totals


async def test_a_provider_reported_cost_wins_over_the_price_table(tmp_path: Path) -> None:
    write_plan(tmp_path, agent_tables("gpt") + task_block("A", agent="gpt"))
    agent = ScriptedAgent(
        [UsageUpdate(1000, 1000, cost_usd=0.5), UsageUpdate(1000, 2000), Finished("x")],
        config=AgentConfig(type=AgentType.OPENAI, model="gpt-4o"),
        name="gpt",
    )
    with Project.open(tmp_path, actor="api") as project:
        result = await Runner(project, agents={"gpt": agent}).execute("A")
        assert result.cost_usd == 0.5 and project.task("A").cost_usd == 0.5


async def test_a_stream_without_a_final_event_and_an_agent_bug_both_fail_the_task(tmp_path: Path) -> None:
    write_plan(
        tmp_path, agent_tables("quiet", "buggy") + task_block("A", agent="quiet") + task_block("B", agent="buggy")
    )
    agents = {
        "quiet": ScriptedAgent([TextDelta("half an answer")], name="quiet"),
        "buggy": ScriptedAgent([TextDelta("x"), RuntimeError("agent bug")], name="buggy"),
    }
    with Project.open(tmp_path, actor="api") as project:
        runner = Runner(project, agents=agents)
        quiet = await runner.execute("A")
        assert quiet.status == "failed" and quiet.error == "agent quiet ended without a result"
        assert quiet.output == "half an answer"
        buggy = await runner.execute("B")
        assert buggy.status == "failed" and buggy.error == "internal error in agent buggy: RuntimeError: agent bug"


async def test_an_agent_failure_is_recorded_with_its_message(tmp_path: Path) -> None:
    write_plan(tmp_path, agent_tables("api") + task_block("A", agent="api"))
    agent = ScriptedAgent([Failed("openai: HTTP 401: invalid key (check $OPENAI_API_KEY)", kind="auth")], name="api")
    with Project.open(tmp_path, actor="api") as project:
        result = await Runner(project, agents={"api": agent}).execute("A")
        assert (
            result.status == "failed"
            and project.task("A").last_error == "openai: HTTP 401: invalid key (check $OPENAI_API_KEY)"
        )
        failed = [e for e in events_of(tmp_path, result.run_id) if e["event"] == "failed"]
        assert failed[0]["kind"] == "auth"


async def test_handoff_leaves_the_task_in_progress_and_never_interrupted(tmp_path: Path) -> None:
    write_plan(tmp_path, task_block("A", agent="interactive", description="Draw the diagram."))
    env = {"PATH": str(tmp_path / "no-clipboard-programs-here")}
    with Project.open(tmp_path, actor="api") as project:
        result = await Runner(project, env=env).execute("A")
        assert result.handoff and result.ok and result.status == "in_progress"
        assert "Draw the diagram." in result.output
        assert "handoff" in kinds(tmp_path, result.run_id) and not is_live(tmp_path, result.run_id)
        assert recover_interrupted(project) == []
        assert project.task("A").status == "in_progress"
        project.complete("A")


async def test_cancelling_a_run_fails_the_task_keeps_its_output_and_stops_the_command(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    write_plan(tmp_path, task_block("A", commands=[f"echo $$ > {pid_file}; echo before-cancel; exec sleep 30"]))
    with Project.open(tmp_path, actor="api") as project:
        bus = Bus()
        seen = bus.subscribe()
        runner = Runner(project, bus=bus)
        run = runner.begin("A")
        job = asyncio.create_task(runner.finish(run))
        event = None
        while not isinstance(event, RunOutput):
            event = await asyncio.wait_for(seen.get(), 10)
        job.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(job, 10)
        task = project.task("A")
        assert task.status == "failed" and task.last_error == CANCELLED
        assert (run_dir(tmp_path, run.run_id) / OUTPUT_FILE).read_text() == "before-cancel\n"
        assert not is_live(tmp_path, run.run_id)
        assert events_of(tmp_path, run.run_id)[-1]["error"] == CANCELLED
        pid = int(pid_file.read_text())
        for _ in range(100):  # the agent killed the command's process group
            if not _alive(pid):
                break
            await asyncio.sleep(0.05)
        assert not _alive(pid)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


async def test_a_task_that_cannot_start_leaves_no_run_behind(tmp_path: Path) -> None:
    write_plan(tmp_path, task_block("A", commands=["true"]) + task_block("B", ["A"], commands=["true"]))
    with Project.open(tmp_path, actor="api") as project:
        runner = Runner(project)
        with pytest.raises(TransitionError, match="depends on tasks not completed"):
            runner.begin("B")
        with pytest.raises(OrchestraError, match="unknown agent 'nobody' for A"):
            runner.begin("A", "nobody")
        with pytest.raises(TransitionError):
            await runner.begin_async("B")
        assert not runs_dir(tmp_path).exists() or list(runs_dir(tmp_path).iterdir()) == []
        assert project.task("B").status == "pending" and project.task("A").attempts == 0


async def test_a_begin_cancelled_while_its_start_is_written_ends_the_run_cancelled_once_the_start_lands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The start is queued with the store at once (``Project.start_soon``) and awaited through a shield: a cancel
    that comes while its fdatasync is under way does not take it back; the run ends ``cancelled`` when it lands."""
    write_plan(tmp_path, task_block("A", commands=["true"]))
    writing, release, real = threading.Event(), threading.Event(), os.fdatasync

    def fdatasync(fd: int) -> None:
        if os.readlink(f"/proc/self/fd/{fd}").endswith("journal.log") and not release.is_set():
            writing.set()
            release.wait(5.0)  # (bounded)
        real(fd)

    with Project.open(tmp_path, actor="api") as project:
        monkeypatch.setattr(os, "fdatasync", fdatasync)
        job = asyncio.ensure_future(Runner(project).begin_async("A"))
        for _ in range(500):  # bounded: until the start's fdatasync is under way
            if writing.is_set():
                break
            await asyncio.sleep(0.01)
        assert writing.is_set() and project.task("A").status != "in_progress"
        job.cancel()
        await asyncio.sleep(0)
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await job
        for _ in range(500):  # bounded: the start landed, then the run's end (cancelled)
            project.refresh()
            if project.task("A").status == "failed":
                break
            await asyncio.sleep(0.01)
        task = project.task("A")
        assert task.status == "failed" and task.last_error == CANCELLED and task.attempts == 1
        assert not is_live(tmp_path, task.last_run_id)
        assert events_of(tmp_path, task.last_run_id)[-1]["error"] == CANCELLED


# -------------------------------------------------------------------------------------- run files


def test_run_ids_sort_by_start_time_and_are_unique() -> None:
    ids = [new_run_id() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)


def test_a_run_is_live_while_its_log_is_open_and_the_events_are_json_lines(tmp_path: Path) -> None:
    log = RunLog(tmp_path, new_run_id())
    log.event("run", task="A", note="naïve ✓")
    log.write_output("partial ")
    assert is_live(tmp_path, log.run_id)  # the check works from the process holding the lock too
    log.write_output("answer")
    log.close()
    assert not is_live(tmp_path, log.run_id)
    lines = (log.dir / EVENTS_FILE).read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[0])["note"] == "naïve ✓" and json.loads(lines[0])["event"] == "run"
    assert (log.dir / OUTPUT_FILE).read_text() == "partial answer"
    assert not is_live(tmp_path, "no-such-run")


def test_recovery_fails_only_tasks_whose_current_run_died(tmp_path: Path) -> None:
    write_plan(
        tmp_path, "".join(task_block(task_id, commands=["true"]) for task_id in ("DEAD", "LIVE", "HAND", "OLD", "GONE"))
    )
    with Project.open(tmp_path, actor="api") as project:

        def started(task_id: str) -> RunLog:
            log = RunLog(tmp_path, new_run_id())
            log.event("run", task=task_id)
            project.start(task_id, run_id=log.run_id)
            log.event("started", attempt=project.task(task_id).attempts)
            return log

        dead = started("DEAD")
        dead.write_output("streamed before the crash\n")
        dead.close()  # as if its process died: the lock is gone, no end recorded
        live = started("LIVE")
        hand = started("HAND")
        hand.event("handoff")
        hand.close()
        old = started("OLD")  # ran once, failed, was retried and then started by hand
        project.fail("OLD", "first try failed")
        old.close()
        project.retry("OLD")
        project.start("OLD")
        project.start("GONE", run_id="run-dir-never-made")
        assert recover_interrupted(project) == ["DEAD"]
        assert project.task("DEAD").status == "failed" and project.task("DEAD").last_error == "interrupted"
        assert (run_dir(tmp_path, dead.run_id) / OUTPUT_FILE).read_text() == "streamed before the crash\n"
        assert [project.task(t).status for t in ("LIVE", "HAND", "OLD", "GONE")] == ["in_progress"] * 4
        live.close()
        assert recover_interrupted(project) == ["LIVE"]


# ------------------------------------------------------------------------------------- Python API


def test_execute_task_runs_to_completion_from_plain_synchronous_code(tmp_path: Path) -> None:
    from orchestra_tui import ProjectOrchestrator

    write_plan(tmp_path, task_block("A", commands=["echo one", "echo two"]) + task_block("B", ["A"], commands=["true"]))
    pieces: list[str] = []
    with ProjectOrchestrator(tmp_path) as orchestrator:
        result = orchestrator.execute_task("A", on_text=pieces.append)
        assert result.status == "review" and result.ok and result.output == "one\ntwo\n" and result.error is None
        assert "".join(pieces) == "one\ntwo\n"
        assert orchestrator.get_task("A").status == "review"
        assert orchestrator.project.history()[-1].actor == "api"
        assert result.to_dict()["duration_seconds"] >= 0 and result.to_dict()["run_id"] == result.run_id
        with pytest.raises(TransitionError, match="cannot start B"):
            orchestrator.execute_task("B")
        with pytest.raises(OrchestraError, match="unknown agent 'nobody' for A"):
            orchestrator.execute_task("A", agent="nobody")


async def test_execute_task_async_inside_a_loop_and_the_sync_one_refuses_there(tmp_path: Path) -> None:
    from orchestra_tui import ProjectOrchestrator

    write_plan(tmp_path, task_block("A", commands=["echo async"]) + task_block("B", commands=["exit 2"]))
    with ProjectOrchestrator(tmp_path) as orchestrator:
        with pytest.raises(RuntimeError, match=r"use `await orchestrator.execute_task_async\(...\)`"):
            orchestrator.execute_task("A")
        assert orchestrator.get_task("A").status == "pending"  # refused before anything was started
        result = await orchestrator.execute_task_async("A")
        assert result.status == "review" and result.output == "async\n"
        failed = await orchestrator.execute_task_async("B")
        assert failed.status == "failed" and failed.error == "command 1 of 1 exited with 2: exit 2" and not failed.ok


def test_execute_task_uses_agents_registered_the_seed_way(tmp_path: Path) -> None:
    from orchestra_tui import AgentRegistry, ProjectOrchestrator

    write_plan(tmp_path, task_block("A", commands=["echo from the registered agent"]))
    with ProjectOrchestrator(tmp_path) as orchestrator:
        assert isinstance(orchestrator.registry, AgentRegistry) and orchestrator.registry.get_agent("shell") is not None
        orchestrator.registry.register_agent("runner-2", "shell", "cli", ["code"])
        result = orchestrator.execute_task("A", agent="runner-2")
        assert result.agent == "runner-2" and result.output == "from the registered agent\n"
        orchestrator.project.retry("A")  # the seed's API has no retry: reopen through the engine
        orchestrator.registry.disable_agent("runner-2")
        with pytest.raises(OrchestraError, match="agent 'runner-2' is disabled"):
            orchestrator.execute_task("A", agent="runner-2")
