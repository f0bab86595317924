"""Crash safety (docs/ARCHITECTURE.md C4): a committer process is SIGKILLed at random moments, over 200 times.

After every kill the project must load, its state must be exactly the last state reported committed or the
state of the entry in flight (nothing else), and every entry reported committed must be in the history.
The committers are forked from a warm server (``helpers/committer.py``) so that a kill costs milliseconds.
"""

from __future__ import annotations

import random
import signal
import time
from pathlib import Path

import pytest

from orchestra_tui.engine.project import Project

from ..helpers.committer import state_digest, write_crash_plan
from ..helpers.forkserver import ForkServer, Ledger

KILLS_PER_PROJECT = 55
CHECKPOINT_EVERY = (4, 8, 32, 256)  # one project each: checkpoints (snapshot rewrites) at different rates


@pytest.fixture
def server():
    server = ForkServer()
    yield server
    server.close()


@pytest.mark.slow
def test_random_sigkill_leaves_old_or_new_state(tmp_path: Path, server: ForkServer) -> None:
    rng = random.Random(20240607)
    started = time.monotonic()
    kills = new_found = during_open = 0
    commits = 0
    stretch = 1.0  # widens the window a kill lands in while runs end before their first commit (a loaded machine)
    for index, every in enumerate(CHECKPOINT_EVERY):
        root = tmp_path / f"p{index}"
        write_crash_plan(root)
        Project.open(root, actor="cli").close()
        ledger = Ledger.start(root)
        for kill in range(KILLS_PER_PROJECT):
            # Mostly while committing, one in five from the fork on (often while the project is being opened).
            opening = kill % 5 == 0
            delay = rng.uniform(0.0, 0.006) if opening else rng.uniform(0.0, 0.02 * stretch)
            request = {"root": str(root), "seed": rng.randrange(1 << 30), "checkpoint_every": every}
            run = server.run(request, kill_after=delay, after_open=not opening)
            assert run.signal == signal.SIGKILL, run
            before = len(ledger.committed)
            verdict = ledger.judge(root, run)
            if not opening:
                made = len(ledger.committed) - before
                stretch = min(stretch * 1.5, 20.0) if made == 0 else max(stretch * 0.9, 1.0) if made > 2 else stretch
            kills += 1
            during_open += not any("opened" in event for event in run.events)
            new_found += verdict.new
            for repair in verdict.repairs:
                assert "torn entry" in repair, repair  # a kill can tear an unfinished entry, nothing more
            leftovers = sorted(p.name for p in (root / ".orchestra").rglob(".tmp-*"))
            assert leftovers == [], f"temporary files left behind after reopening: {leftovers}"
        commits += len(ledger.committed)
        # Every committed state can still be rebuilt from the history, exactly.
        store = verdict.store
        for seq in rng.sample(sorted(ledger.committed), min(40, len(ledger.committed))):
            assert state_digest(*store.state_at(seq)) == ledger.committed[seq], f"entry {seq} rebuilt differently"
        with Project.open(root, actor="cli") as project:  # and the engine opens it, with nothing to repair
            assert project.store.repairs == []
            assert state_digest(project.store.tasks, project.store.meta) == ledger.digest
    elapsed = time.monotonic() - started
    assert kills >= 200
    assert commits > kills, f"only {commits} commits in {kills} runs: the kills landed too early to test much"
    assert during_open >= 10, "hardly any kill landed while a committer was opening (and maybe repairing) the project"
    print(
        f"{kills} kills ({during_open} while opening), {commits} committed states, "
        f"{new_found} in-flight entries found committed, {elapsed:.1f}s"
    )
