"""A task its agent cannot run is never started (engine/usable.py; issue 14 item 7): ``d`` refuses it with the
reason, ``a`` and ``orchestra run`` leave it ready and say why, ``next`` flags it, ``validate`` warns about
shell tasks without commands. Nothing is written for a task refused: no attempt, no entry, no run.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestra_tui.cli.main import app as cli_app
from orchestra_tui.engine.project import Project
from orchestra_tui.engine.scheduler import Scheduler
from orchestra_tui.errors import OrchestraError

from ..helpers.plans import task_block, write_plan
from ..helpers.tui import app_on
from ..helpers.waits import until

KEY = "ORCHESTRA_H8_TEST_KEY"
AGENTS = f"""
[agents.llm]
type = "openai"
model = "m"
base_url = "http://127.0.0.1:9/v1"
api_key_env = "{KEY}"

"""


def plan(root: Path) -> Path:
    """NOCMD (shell, no commands, critical: the recommended one), KEYED (an agent whose key is not set), GOOD."""
    body = (
        AGENTS
        + task_block("NOCMD", priority="critical")
        + task_block("KEYED", priority="high", agent="llm", commands=["true"])
    )
    body += task_block("GOOD", commands=["true"])
    write_plan(root, body)
    return root


async def test_dispatch_refuses_with_the_reason_and_writes_nothing(tmp_path: Path) -> None:
    root = plan(tmp_path / "p")
    with Project.open(root, actor="scheduler") as project:
        scheduler = Scheduler(project, env={})
        entries = len(project.history())
        with pytest.raises(OrchestraError, match=r"cannot dispatch NOCMD: NOCMD has no commands for the shell agent"):
            scheduler.dispatch("NOCMD")
        with pytest.raises(OrchestraError, match=rf"cannot dispatch KEYED: its agent needs \${KEY}, which is not set"):
            scheduler.dispatch("KEYED")
        assert len(project.history()) == entries and not scheduler.jobs
        assert project.task("NOCMD").status.value == "pending" and project.task("NOCMD").last_run_id is None
        assert not (root / ".orchestra" / "runs").exists() or not any((root / ".orchestra" / "runs").iterdir())


async def test_run_leaves_unusable_tasks_ready_and_says_why(tmp_path: Path) -> None:
    root = plan(tmp_path / "p")
    with Project.open(root, actor="scheduler") as project:
        summary = await Scheduler(project, env={"PATH": "/usr/bin:/bin"}).run()
        assert [result.task_id for result in summary.results] == ["GOOD"]
        assert set(summary.unusable) == {"NOCMD", "KEYED"}
        assert project.graph.status_of("NOCMD").value == "ready" and project.task("KEYED").last_run_id is None


def test_the_cli_flags_next_warns_in_validate_and_names_what_run_did_not_start(tmp_path: Path) -> None:
    root = plan(tmp_path / "p")
    runner = CliRunner()
    env = {KEY: None}
    result = runner.invoke(cli_app, ["-p", str(root), "next"], env=env)
    assert (
        result.exit_code == 0
        and "next: NOCMD" in result.stdout
        and "cannot run as it is: NOCMD has no commands" in result.stdout
    )
    result = runner.invoke(cli_app, ["-p", str(root), "validate"], env=env)
    assert (
        result.exit_code == 0
        and "warning: 1 task run by the shell agent without commands cannot run: NOCMD" in result.stderr
    )
    result = runner.invoke(cli_app, ["-p", str(root), "run"], env=env)
    assert (
        "not started: KEYED: its agent needs" in result.stderr
        and "not started: NOCMD: NOCMD has no commands" in result.stderr
    )
    assert "ran 1 task: 1 review" in result.stdout


async def test_the_tui_refuses_d_and_a_leaves_the_task_out_with_the_reason(tmp_path: Path) -> None:
    root = tmp_path / "p"
    write_plan(root, task_block("NOCMD", priority="critical") + task_block("GOOD", commands=["true"]))
    app = app_on(root, tmp_path)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await until(pilot, lambda: app.selected == "NOCMD" and app.focused is not None, "NOCMD selected")
        messages = lambda: [n.message for n in app._notifications]  # noqa: E731
        await pilot.press("d")
        await until(
            pilot, lambda: any("cannot dispatch NOCMD: NOCMD has no commands" in m for m in messages()), "the refusal"
        )
        await pilot.press("a")
        await until(pilot, lambda: app.session.project.task("GOOD").status.value == "review", "GOOD ran")
        assert any(m.startswith("not started: NOCMD: NOCMD has no commands") for m in messages())
        assert app.session.project.task("NOCMD").status.value == "pending"
        assert not any("NOCMD" in entry.extra.get("tasks", ()) for entry in app.session.project.history()[1:])
