"""Usage of a run reaches every face while it runs, whichever process runs it (issue 10): the runner writes the
run's totals so far to its ``events.jsonl`` as its agent reports them (a few lines a second at most), and a
follower in another process (``RunWatcher``, ``live_runs``, ``orchestra ps``) reads them. The committed totals
are the run's own end's, counted once. A real model server on 127.0.0.1 streams slowly; a detached driver
(a real process) runs the task."""

from __future__ import annotations

import itertools
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestra_tui.agents.events import Finished, TextDelta, UsageUpdate
from orchestra_tui.engine.bus import Bus, RunEnded, RunUsage
from orchestra_tui.engine.driver import start_driver
from orchestra_tui.engine.liveruns import HEAD, RunWatcher, live_runs
from orchestra_tui.engine.project import Project
from orchestra_tui.engine.runner import USAGE_EVERY, Runner
from orchestra_tui.engine.runs import EVENTS_FILE, RunLog, new_run_id, run_dir
from orchestra_tui.models import AgentConfig, AgentType

from ..helpers.agents import ScriptedAgent, agent_tables
from ..helpers.cli import as_json, ok
from ..helpers.drivers import stop_drivers
from ..helpers.fakeserver import FakeServer, Reply
from ..helpers.plans import claude_plan, task_block, write_plan
from ..helpers.streams import KEY, SSE, anthropic_held
from ..helpers.waits import wait_for

PRICE_IN, PRICE_OUT = 3.0, 15.0  # claude-sonnet-4-5 (claude_plan's model), USD per million tokens


def usage_lines(root: Path, run_id: str) -> list[dict[str, object]]:
    lines = (run_dir(root, run_id) / EVENTS_FILE).read_text().splitlines()
    return [event for event in map(json.loads, lines) if event["event"] == "usage"]


@pytest.fixture
def gate(server: FakeServer, tmp_path: Path) -> Iterator[threading.Event]:
    """The server's stream waits for this; set at the end whatever happens, and drivers left going stopped."""
    held = threading.Event()
    yield held
    held.set()
    stop_drivers(tmp_path)


def test_a_detached_runs_usage_reaches_another_process_before_it_ends_and_is_committed_once(
    tmp_path: Path, server: FakeServer, gate: threading.Event
) -> None:
    root = tmp_path / "p"
    claude_plan(root, server.url)
    server.reply(Reply(200, SSE, anthropic_held(gate, input_tokens=1200, output_tokens=300)))
    bus = Bus()
    seen = bus.subscribe()
    watcher = RunWatcher(root, bus, since=new_run_id())
    start_driver(root, only=["A"], env={**os.environ, "ANTHROPIC_API_KEY": KEY})
    live: list[RunUsage] = []

    def usage_seen() -> bool:
        watcher.poll()
        live.extend(event for event in seen.drain() if isinstance(event, RunUsage))
        return any(event.input_tokens for event in live)

    wait_for(usage_seen, "the run's usage, followed from its files", 30)
    assert live[-1].input_tokens == 1200 and live[-1].cost_usd == pytest.approx(1200 * PRICE_IN / 1e6 + PRICE_OUT / 1e6)
    with Project.open(root, repair=False) as project:
        assert project.task("A").status == "in_progress" and project.task("A").input_tokens is None  # not ended
    (run,) = live_runs(root)
    assert (run.input_tokens, run.output_tokens, run.cost_usd) == (1200, 1, live[-1].cost_usd)
    [row] = as_json(root, "ps")  # type: ignore[misc]
    assert (row["input_tokens"], row["output_tokens"], row["cost_usd"]) == (1200, 1, live[-1].cost_usd)
    table = ok(root, "ps").stdout.splitlines()
    assert table[0].index("TOKENS") == table[1].index(" 1,200/1 ") + 1, table  # in/out, in its column
    assert table[0].index("COST") == table[1].index(" $0.0036 ") + 1, table

    gate.set()
    ended: list[RunEnded] = []

    def end_seen() -> bool:
        watcher.poll()
        ended.extend(event for event in seen.drain() if isinstance(event, RunEnded))
        return bool(ended)

    wait_for(end_seen, "the run's end", 30)
    with Project.open(root, repair=False) as project:
        task = project.task("A")
    cost = 1200 * PRICE_IN / 1e6 + 300 * PRICE_OUT / 1e6
    assert (task.status, task.input_tokens, task.output_tokens) == ("review", 1200, 300)
    assert task.cost_usd == pytest.approx(cost)
    assert (ended[0].input_tokens, ended[0].output_tokens, ended[0].cost_usd) == (1200, 300, task.cost_usd)
    last = usage_lines(root, run.run_id)[-1]
    assert (last["input_tokens"], last["output_tokens"], last["cost_usd"]) == (1200, 300, task.cost_usd)


async def test_usage_lines_are_coalesced_and_the_last_one_is_the_runs_totals(tmp_path: Path) -> None:
    """A hundred usage reports 10 ms apart: a line at most every USAGE_EVERY seconds (the first at once), the
    newest totals winning, never one line twice (a due line's timer running late, on a busy loop, behind the
    next report); the bus still hears every report."""
    write_plan(tmp_path, agent_tables("gpt") + task_block("A", agent="gpt"))
    reports = [UsageUpdate(100 + step, step) for step in range(1, 101)]
    agent = ScriptedAgent(
        [TextDelta("hi"), *reports, Finished("hi")],
        pause=0.01,
        config=AgentConfig(type=AgentType.OPENAI, model="gpt-4o", api_key_env="OPENAI_API_KEY"),
        name="gpt",
    )
    with Project.open(tmp_path, actor="api") as project:
        bus = Bus()
        heard = bus.subscribe(maxsize=1000)
        result = await Runner(project, agents={"gpt": agent}, bus=bus).execute("A")
        assert sum(isinstance(event, RunUsage) for event in heard.drain()) == 100
        lines = usage_lines(tmp_path, str(result.run_id))
        assert (lines[0]["input_tokens"], lines[0]["output_tokens"]) == (101, 1)  # written at once
        task = project.task("A")
        assert (lines[-1]["input_tokens"], lines[-1]["output_tokens"]) == (200, 100)
        assert (task.input_tokens, task.output_tokens, task.cost_usd) == (200, 100, lines[-1]["cost_usd"])
        spans = [float(str(line["t"])) for line in lines[:-1]]  # the live lines (the last is the end's)
        shown = [(line["t"], line["output_tokens"]) for line in lines]
        assert all(later - earlier >= USAGE_EVERY - 0.01 for earlier, later in itertools.pairwise(spans)), shown
        assert len(lines) <= float(str(lines[-1]["t"])) / USAGE_EVERY + 2 < 100


def test_a_long_runs_newest_usage_is_read_past_the_head_of_its_events(tmp_path: Path) -> None:
    """A run whose events.jsonl has grown past what is read for its first lines (a long run, many retries):
    ``live_runs`` still says its newest totals."""
    write_plan(tmp_path, task_block("A"))
    log = RunLog(tmp_path, new_run_id())
    try:
        log.event("run", task="A", agent="shell", pid=os.getpid())
        log.event("usage", input_tokens=1, output_tokens=1, cost_usd=0.5)
        for attempt in range(HEAD // 1000 + 1):
            log.event("retry", attempt=attempt, delay=None, reason="x" * 1000)
        log.event("usage", input_tokens=7000, output_tokens=900, cost_usd=1.25)
        (run,) = live_runs(tmp_path)
        assert (run.task_id, run.input_tokens, run.output_tokens, run.cost_usd) == ("A", 7000, 900, 1.25)
    finally:
        log.close()
