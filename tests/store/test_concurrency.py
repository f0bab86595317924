"""Several processes on one project (docs/ARCHITECTURE.md C4): changes are serialized under the lock, none is
lost, and a change computed from a stale state is never written over a newer one."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from orchestra_tui.engine.project import Project
from orchestra_tui.errors import StaleStateError
from orchestra_tui.store import Mutation
from orchestra_tui.store.changes import diff_record

from ..helpers.committer import state_digest, write_crash_plan
from ..helpers.disk import cli, digest_of, open_store

CONTENDER = Path(__file__).resolve().parents[1] / "helpers" / "contender.py"
CHANGES = 300


@pytest.mark.slow
def test_two_processes_make_300_changes_each(tmp_path: Path) -> None:
    write_crash_plan(tmp_path)
    Project.open(tmp_path, actor="cli").close()
    writers = {
        "A": subprocess.Popen(
            [sys.executable, str(CONTENDER), str(tmp_path), "A", "cli", "T-1", str(CHANGES)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        ),
        "B": subprocess.Popen(
            [sys.executable, str(CONTENDER), str(tmp_path), "B", "api", "T-2", str(CHANGES)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        ),
    }
    try:
        for barrier in ("ready", "half"):  # both start at once, and go on from half-way together
            for proc in writers.values():
                assert proc.stdout.readline().strip() == barrier
            for proc in writers.values():
                proc.stdin.write("go\n")
                proc.stdin.flush()
        results = {}
        for name, proc in writers.items():
            out, _ = proc.communicate(timeout=60)
            assert proc.returncode == 0, out
            results[name] = json.loads(out)
    finally:
        for proc in writers.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)

    a, b = set(results["A"]["seqs"]), set(results["B"]["seqs"])
    assert len(a) == len(b) == CHANGES and not a & b
    assert a | b == set(range(2, 2 * CHANGES + 2))  # entry 1 is the plan sync
    for result in results.values():
        assert result["seqs"] == sorted(result["seqs"])
    owner = {seq: "A" for seq in a} | {seq: "B" for seq in b}
    switches = sum(owner[seq] != owner[seq + 1] for seq in range(2, 2 * CHANGES + 1))
    assert switches >= 2, "the writers never contended for the lock"

    with Project.open(tmp_path, actor="cli") as project:
        entries = project.history()
        assert [entry.seq for entry in entries] == list(range(1, 2 * CHANGES + 2))
        ids = [entry.id for entry in entries]
        assert ids == sorted(ids) and len(set(ids)) == len(ids)
        for entry in entries[1:]:
            assert entry.actor == {"A": "cli", "B": "api"}[owner[entry.seq]]
        tasks = project.store.tasks
        assert tasks["T-0"]["input_tokens"] == CHANGES  # every increment, from both writers, counted once
        assert tasks["T-1"]["output_tokens"] == CHANGES - 1 and tasks["T-2"]["output_tokens"] == CHANGES - 1
        # Each writer's own view, caught up when it finished, is exactly the state after that entry.
        for result in results.values():
            assert result["digest"] == state_digest(*project.store.state_at(result["seq"]))
        assert max(result["seq"] for result in results.values()) == project.store.seq
    print(f"{switches} hand-overs of the lock between the writers")


def run_cli(root: Path, *args: str) -> None:
    result = cli(root, *args)
    assert result.returncode == 0, result.stderr


def test_commit_from_a_stale_state_is_refused_and_writes_nothing(tmp_path: Path) -> None:
    write_crash_plan(tmp_path)
    with Project.open(tmp_path, actor="tui") as project:
        store = project.store
        seen = store.seq
        run_cli(tmp_path, "start", "T-0")  # another process changes the project meanwhile
        journal = (tmp_path / ".orchestra" / "journal.log").read_bytes()
        called = []

        def compute() -> Mutation:
            called.append(True)
            old = store.tasks["T-3"]
            return Mutation([diff_record("T-3", old, {**old, "status": "cancelled"})], "cancel", "T-3 cancelled")

        with pytest.raises(StaleStateError) as info:
            store.commit(compute, actor="tui", expect_seq=seen)
        assert "00000001 -> 00000002" in str(info.value) and "nothing was written" in str(info.value)
        assert called == [] and (tmp_path / ".orchestra" / "journal.log").read_bytes() == journal
        assert store.seq == seen + 1 and project.tasks["T-0"].status == "in_progress"  # caught up meanwhile
        assert store.commit(compute, actor="tui", expect_seq=store.seq).seq == seen + 2


def test_refresh_catches_up_with_several_entries_of_another_process(tmp_path: Path) -> None:
    write_crash_plan(tmp_path)
    project = Project.open(tmp_path, actor="tui")
    for action in (["start", "T-0"], ["complete", "T-0"], ["start", "T-1"], ["fail", "T-3", "-r", "broken"]):
        run_cli(tmp_path, *action)
    journal = tmp_path / ".orchestra" / "journal.log"
    assert project.refresh() and project.store.seq == 5
    assert project.store.offset == journal.stat().st_size
    assert project.status_of("T-1") == "in_progress" and project.status_of("T-3") == "failed"
    assert project.refresh() is False
    project.retry("T-3")  # appended after the entries it caught up with, at the right offset
    digest = digest_of(project.store)
    project.close()
    store = open_store(tmp_path)
    assert (store.seq, digest_of(store), store.repairs) == (6, digest, [])
    assert [entry.action for entry in store.history()] == ["plan", "start", "complete", "start", "fail", "retry"]
