"""A run's outcome, tokens and cost, told truthfully from the agent to ``show``, ``report`` and the run log:
real HTTP agents against a real server on 127.0.0.1, the real CLI. Unknown stays unknown (null, never a
made-up 0); a price the plan sets wins over the server's reported cost, which wins over the built-in table;
cached tokens are priced at the cache rates; a cut-off answer fails, keeps its output and writes no file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestra_tui.agents import Failed, Finished, TextDelta, UsageUpdate
from orchestra_tui.engine.project import Project
from orchestra_tui.engine.runner import Runner
from orchestra_tui.engine.runs import read_output
from orchestra_tui.models import AgentConfig, AgentType

from ..helpers.agents import ScriptedAgent, agent_tables
from ..helpers.cli import as_json, cli, ok
from ..helpers.fakeserver import FakeServer, Reply
from ..helpers.plans import task_block, write_plan
from ..helpers.streams import LM_STUDIO, OPENAI, SSE, anthropic_stream, openai_chunk, sse


def agent(name: str, kind: str, model: str, url: str, **extra: object) -> str:
    lines = [f"[agents.{name}]", f'type = "{kind}"', f'model = "{model}"', f'base_url = "{url}"', "max_attempts = 1"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in extra.items()]
    return "\n".join(lines) + "\n\n"


def test_no_usage_and_no_price_stay_unknown_in_show_and_report(tmp_path: Path, server: FakeServer) -> None:
    """An LM Studio-like server sends no usage; the model has no price: nothing is a made-up 0."""
    write_plan(
        tmp_path,
        agent("truth-local", "openai", "my-local-model", server.url + "/v1") + task_block("A", agent="truth-local"),
    )
    server.reply(Reply(200, SSE, [LM_STUDIO]))
    ok(tmp_path, "execute", "A")
    shown = as_json(tmp_path, "show", "A")
    assert (shown["input_tokens"], shown["output_tokens"], shown["cost_usd"], shown["unpriced_runs"]) == (
        None,
        None,
        None,
        1,
    )
    report = as_json(tmp_path, "report")
    assert (report["input_tokens"], report["output_tokens"], report["cost_usd"], report["unpriced_runs"]) == (
        None,
        None,
        None,
        1,
    )
    assert (
        report["by_agent"]["truth-local"]["cost_usd"] is None
        and report["by_agent"]["truth-local"]["unpriced_runs"] == 1
    )
    for args in (("report",), ("report", "--markdown"), ("show", "A")):
        out = ok(tmp_path, *args).stdout
        assert "unknown (1 unpriced)" in out and "$0.0" not in out, out


def test_totals_say_how_many_runs_are_unpriced(tmp_path: Path, server: FakeServer) -> None:
    plan = (
        agent("truth-gpt", "openai", "gpt-4o", server.url + "/v1")
        + agent("truth-local", "openai", "my-local-model", server.url + "/v1")
        + task_block("A", agent="truth-gpt")
        + task_block("B", agent="truth-local")
    )
    write_plan(tmp_path, plan)
    server.reply(Reply(200, SSE, [OPENAI]))  # 79 in / 1 out at gpt-4o's list price
    server.reply(Reply(200, SSE, [LM_STUDIO]))
    ok(tmp_path, "execute", "A", env={"OPENAI_API_KEY": None})
    ok(tmp_path, "execute", "B")
    report = as_json(tmp_path, "report")
    assert report["cost_usd"] == pytest.approx(round((79 * 2.5 + 1 * 10.0) / 1e6, 4)) and report["unpriced_runs"] == 1
    assert (report["input_tokens"], report["output_tokens"]) == (79, 1)
    assert "$0.0002 + 1 unpriced" in ok(tmp_path, "report").stdout
    assert "$0.0002 + 1 unpriced" in ok(tmp_path, "report", "--markdown").stdout


def test_a_cut_off_answer_fails_keeps_its_output_and_writes_no_output_file(tmp_path: Path, server: FakeServer) -> None:
    """llama.cpp stopped at length; with auto_complete the old code completed the task with the cut text."""
    plan = agent("truth-llama", "openai", "local", server.url + "/v1") + task_block(
        "A", agent="truth-llama", output="out/a.txt"
    )
    write_plan(tmp_path, plan)
    (tmp_path / "orchestra.toml").write_text(
        (tmp_path / "orchestra.toml").read_text().replace('name = "Test"', 'name = "Test"\nauto_complete = true')
    )
    server.reply(
        Reply(200, SSE, [sse(openai_chunk({"content": "Once upon a"}), openai_chunk({}, "length"), b"[DONE]")])
    )
    result = cli(tmp_path, "execute", "A")
    assert (
        result.exit_code == 1 and "A failed: openai: truncated at max_tokens (finish_reason: length)" in result.stderr
    )
    shown = as_json(tmp_path, "show", "A")
    assert shown["status"] == "failed" and "truncated at max_tokens" in shown["last_error"]
    assert not (tmp_path / "out" / "a.txt").exists()
    assert read_output(tmp_path, shown["last_run_id"]) == "Once upon a"


def test_cached_tokens_are_recorded_apart_and_priced_at_cache_rates(tmp_path: Path, server: FakeServer) -> None:
    write_plan(
        tmp_path,
        agent("truth-claude", "anthropic", "claude-sonnet-4-5", server.url, api_key_env="ANTHROPIC_API_KEY")
        + task_block("A", agent="truth-claude"),
    )
    start = {
        "input_tokens": 100,
        "cache_creation_input_tokens": 1000,
        "cache_read_input_tokens": 10000,
        "output_tokens": 1,
    }
    server.reply(Reply(200, SSE, [anthropic_stream(start, {"output_tokens": 500})]))
    ok(tmp_path, "execute", "A", env={"ANTHROPIC_API_KEY": "sk-test"})
    shown = as_json(tmp_path, "show", "A")
    assert (shown["input_tokens"], shown["cache_read_tokens"], shown["cache_write_tokens"], shown["output_tokens"]) == (
        11100,
        10000,
        1000,
        500,
    )
    # sonnet 4.5: $3 fresh input, $0.30 cache read, $3.75 cache write, $15 output per million
    assert shown["cost_usd"] == pytest.approx((100 * 3.0 + 10000 * 0.3 + 1000 * 3.75 + 500 * 15.0) / 1e6)
    assert "10,000 cache read" in ok(tmp_path, "show", "A").stdout


@pytest.mark.parametrize(
    ("config", "pricing", "expected"),
    [
        ({"price_input": 1.0, "price_output": 2.0}, "", (1000 * 1.0 + 1000 * 2.0) / 1e6),  # the agent's own price
        ({}, '[pricing."gpt-4o"]\ninput = 4.0\noutput = 4.0\n\n', (2000 * 4.0) / 1e6),  # the plan's [pricing]
        ({}, "", 0.5),  # the server's reported cost over the built-in table
    ],
)
async def test_price_order_agent_then_plan_then_server_then_table(
    tmp_path: Path, config: dict[str, float], pricing: str, expected: float
) -> None:
    write_plan(tmp_path, pricing + agent_tables("gpt") + task_block("A", agent="gpt"))
    scripted = ScriptedAgent(
        [TextDelta("x"), UsageUpdate(1000, 1000, cost_usd=0.5), Finished("x")],
        config=AgentConfig(type=AgentType.OPENAI, model="gpt-4o", **config),
        name="gpt",
    )
    with Project.open(tmp_path, actor="api") as project:
        result = await Runner(project, agents={"gpt": scripted}).execute("A")
        assert result.cost_usd == pytest.approx(expected)
        assert project.task("A").cost_usd == pytest.approx(expected)


async def test_a_free_local_run_costs_nothing_and_a_silent_failure_is_not_unpriced(tmp_path: Path) -> None:
    write_plan(
        tmp_path, agent_tables("ollama", "remote") + task_block("A", agent="ollama") + task_block("B", agent="remote")
    )
    local = ScriptedAgent(
        [TextDelta("x"), Finished("x")], config=AgentConfig(type=AgentType.OLLAMA, model="llama3.2"), name="ollama"
    )
    remote = ScriptedAgent(
        [Failed("openai: HTTP 401 authentication failed", "auth")],
        config=AgentConfig(type=AgentType.OPENAI, model="x"),
        name="remote",
    )
    with Project.open(tmp_path, actor="api") as project:
        runner = Runner(project, agents={"ollama": local, "remote": remote})
        assert (await runner.execute("A")).cost_usd == 0.0
        await runner.execute("B")
        assert project.task("B").unpriced_runs == 0 and project.task("B").cost_usd is None


def test_the_tui_header_shows_known_figures_and_counts_the_unpriced() -> None:
    from orchestra_tui.tui.widgets.header import figures_line

    base = {
        "hours_done": 1.0,
        "hours_total": 2.0,
        "completion_percentage": 50,
        "completed_tasks": 1,
        "total_tasks": 2,
        "running": 0,
    }
    assert "tokens" not in figures_line({**base, "tokens": None, "cost_usd": None, "unpriced_runs": 0}).plain
    assert (
        "1,200 tokens · $0.4200 + 3 unpriced"
        in figures_line({**base, "tokens": 1200, "cost_usd": 0.42, "unpriced_runs": 3}).plain
    )
    assert (
        "unknown tokens · unknown (2 unpriced)"
        in figures_line({**base, "tokens": None, "cost_usd": None, "unpriced_runs": 2}).plain
    )


def test_orchestra_agents_shows_a_server_without_a_model_listing_as_usable_but_not_checked(
    tmp_path: Path, server: FakeServer
) -> None:
    write_plan(
        tmp_path,
        agent("truth-gemini", "gemini", "gemini-2.5-flash", server.url, api_key_env="TRUTH_GEMINI_KEY")
        + task_block("A", agent="truth-gemini"),
    )
    server.reply(Reply.json(404, {"detail": "Not Found"}), Reply.json(404, {"detail": "Not Found"}))
    rows = {row["name"]: row for row in as_json_env(tmp_path, {"TRUTH_GEMINI_KEY": "k"}, "agents")}
    row = rows["truth-gemini"]
    assert row["usable"] and row["problems"] == [] and row["endpoint_checked"] is False, row
    table = ok(tmp_path, "agents", env={"TRUTH_GEMINI_KEY": "k"}).stdout
    assert "yes (endpoint not checked)" in table and "404" not in table.split("truth-gemini", 1)[1].splitlines()[0]


def as_json_env(root: Path, env: dict[str, str | None], *args: str) -> object:
    return json.loads(ok(root, *args, "--json", env=env).stdout)
