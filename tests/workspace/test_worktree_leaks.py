"""Worktrees never leak (issue 11): 200 dispatches of worktree tasks, with random cancels, SIGKILLed runs,
completions (merges) and retries, against a real repository and the real ``git``. Throughout,
``orchestra worktrees`` and ``git worktree list`` agree and no completed or cancelled task keeps a worktree;
at the end, with every task settled, ``orchestra gc`` leaves none behind. Bounded: 200 dispatches, each run
at most 60 s, the whole at most 15 minutes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestra_tui.cli.main import app
from orchestra_tui.engine.project import Project
from orchestra_tui.engine.runner import Runner
from orchestra_tui.engine.runs import recover_interrupted
from orchestra_tui.errors import OrchestraError
from tests.helpers.gitrepo import make_repo, worktree_paths

pytestmark = pytest.mark.slow

TASKS = [f"T{n}" for n in range(12)]
DISPATCHES = 200
CHECK_EVERY = 10
SEED = 20261202
SETTLED = ("completed", "cancelled")


def _plan(root: Path) -> None:
    blocks = "".join(
        f'[[tasks]]\nid = "{task_id}"\ntitle = "Task {task_id}"\n'
        f'commands = ["echo $$ >> {task_id}.txt", "sleep 0.$(( $$ % 3 ))"]\n\n'
        for task_id in TASKS
    )
    (root / "orchestra.toml").write_text(
        '[project]\nid = "leaks"\nname = "Leaks"\nparallel_max = 4\nmax_worktrees = 64\nworkspace = "worktree"\n\n'
        + blocks
    )


def _worktrees(root: Path) -> list[dict[str, object]]:
    result = CliRunner().invoke(app, ["-p", str(root), "worktrees", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _check(root: Path) -> None:
    """``orchestra worktrees`` lists what git lists, and no settled task keeps a worktree."""
    listed = _worktrees(root)
    registered = {Path(str(w["path"])).resolve() for w in listed if w["registered"]}
    assert registered == worktree_paths(root)
    kept = {str(w["task_id"]): w["status"] for w in listed if w["registered"]}
    assert not {task_id for task_id, status in kept.items() if status in SETTLED}, kept


async def _run_in_process(root: Path, task_id: str, cancel_after: float | None) -> None:
    with Project.open(root, actor="cli") as project:
        job = asyncio.ensure_future(Runner(project).execute(task_id))
        if cancel_after is not None:
            await asyncio.sleep(cancel_after)
            job.cancel()
        with contextlib.suppress(asyncio.CancelledError, OrchestraError):
            await asyncio.wait_for(job, 60)


def _run_and_kill(root: Path, task_id: str, after: float) -> None:
    """``orchestra execute`` in its own process group, SIGKILLed ``after`` seconds in (or reaped if done)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "orchestra_tui", "-p", str(root), "execute", task_id],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        process.wait(after)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(60)


def _prepare(root: Path, task_id: str) -> bool:
    """Make the task runnable (retry it unless it is completed); False when it cannot run now."""
    with Project.open(root, actor="cli") as project:
        recover_interrupted(project)
        status = str(project.graph.status_of(task_id))
        if status == "completed":
            return False
        if status in ("review", "failed", "cancelled"):
            project.retry(task_id)
        return True


def _follow_up(root: Path, task_id: str, rng: random.Random) -> None:
    """After a run: complete (merge) it, cancel it, or leave it in review or failed."""
    with Project.open(root, actor="cli") as project:
        recover_interrupted(project)
        status = str(project.graph.status_of(task_id))
        roll = rng.random()
        with contextlib.suppress(OrchestraError):
            if status == "review" and roll < 0.06:
                project.complete(task_id)
            elif status in ("review", "failed") and roll > 0.7:
                project.cancel(task_id)


def _settle(root: Path) -> None:
    """Every task completed (merged) or cancelled."""
    with Project.open(root, actor="cli") as project:
        recover_interrupted(project)
        for task_id in TASKS:
            status = str(project.graph.status_of(task_id))
            if status == "review":
                project.complete(task_id)
            elif status not in SETTLED:
                project.cancel(task_id)
        assert {str(project.graph.status_of(task_id)) for task_id in TASKS} <= set(SETTLED)


def test_200_dispatches_with_cancels_and_kills_leave_no_worktree_behind(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "repo", {"README.md": "# leaks\n", ".gitignore": ".orchestra/\n"})
    _plan(root)
    rng = random.Random(SEED)
    deadline = time.monotonic() + 15 * 60
    kinds = {"kill": 0, "cancel": 0, "whole": 0}
    dispatched = attempts = 0
    while dispatched < DISPATCHES:
        attempts += 1
        assert attempts <= 3 * DISPATCHES and time.monotonic() < deadline, f"only {dispatched} dispatches"
        task_id = rng.choice(TASKS)
        if not _prepare(root, task_id):
            continue
        dispatched += 1
        roll = rng.random()
        if roll < 0.3:
            kinds["kill"] += 1
            _run_and_kill(root, task_id, rng.uniform(0.2, 1.5))
        elif roll < 0.65:
            kinds["cancel"] += 1
            asyncio.run(_run_in_process(root, task_id, rng.uniform(0.0, 0.4)))
        else:
            kinds["whole"] += 1
            asyncio.run(_run_in_process(root, task_id, None))
        _follow_up(root, task_id, rng)
        if dispatched % CHECK_EVERY == 0:
            _check(root)
    assert min(kinds.values()) >= DISPATCHES // 10, kinds
    _check(root)
    _settle(root)
    _check(root)
    result = CliRunner().invoke(app, ["-p", str(root), "gc"])
    assert result.exit_code == 0, result.output
    assert _worktrees(root) == [] and worktree_paths(root) == set()
    folder = root / ".orchestra" / "worktrees"
    assert not folder.exists() or list(folder.iterdir()) == []
