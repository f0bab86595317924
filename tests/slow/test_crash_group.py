"""Crash safety of group commit: a process committing through ``Store.commit_async`` (six coroutines, so most
groups hold several changes) is SIGKILLed in the middle of a group's write, before and after its fdatasync, and
at random moments. Every change it acknowledged must be there after the reopen, exactly as acknowledged; the
history must be every entry from 1 on; a kill may leave a torn entry (set aside), nothing else.
"""

from __future__ import annotations

import os
import random
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

from ..helpers.grouping import open_store

REPO = Path(__file__).resolve().parents[2]
WORKERS = 6
DEADLINE = 30.0  # seconds one committer may take to report, die or be killed


def committer(root: Path, *fault: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.helpers.grouping", str(root), str(WORKERS), *fault],
        cwd=REPO,
        stdout=subprocess.PIPE,
    )


def read_acks(process: subprocess.Popen[bytes], kill_after: float | None) -> list[tuple[int, str, int]]:
    """Every ``SEQ TASK N`` the committer printed until it died (killed ``kill_after`` seconds after its first
    acknowledgement, when given)."""
    assert process.stdout is not None
    fd, data, first = process.stdout.fileno(), b"", None
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        if first is not None and kill_after is not None and time.monotonic() >= first + kill_after:
            os.kill(process.pid, signal.SIGKILL)
            kill_after = None
        ready, _, _ = select.select([fd], [], [], 0.005)
        if ready:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                break
            data += chunk
            first = first if first is not None or b"\n" not in data else time.monotonic()
    else:
        process.kill()
        raise AssertionError("the committer neither died nor was killed in time")
    assert process.wait(timeout=DEADLINE) == -signal.SIGKILL
    lines = data.decode().splitlines()
    if data and not data.endswith(b"\n"):
        lines.pop()  # a line cut by the kill was never printed whole
    return [(int(seq), task, int(n)) for seq, task, n in (line.split() for line in lines)]


def judge(root: Path, acks: list[tuple[int, str, int]]) -> None:
    store = open_store(root)
    for repair in store.repairs:
        assert "torn entry" in repair, repair
    assert [entry.seq for entry in store.history()] == list(range(1, store.seq + 1))
    for seq, task, n in acks:
        assert seq <= store.seq, f"acknowledged entry {seq} lost (the state ends at {store.seq})"
        assert store.resolve(seq).summary == f"{task} -> {n}", f"entry {seq} is not what was acknowledged"
        assert store.tasks[task]["n"] >= n
    store.close()


def test_a_kill_during_a_grouped_commit_loses_no_acknowledged_change(tmp_path: Path) -> None:
    rng = random.Random(20261203)
    faults = [
        (step, nth) for step in ("journal.mid-append", "journal.before-fsync", "journal.after-fsync") for nth in (2, 9)
    ]
    acknowledged = 0
    for index, (step, nth) in enumerate(faults):
        root = tmp_path / f"fault{index}"
        acks = read_acks(committer(root, step, str(nth)), None)
        assert len({seq for seq, _, _ in acks}) == len(acks)
        judge(root, acks)
        acknowledged += len(acks)
    for index in range(6):
        root = tmp_path / f"timed{index}"
        acks = read_acks(committer(root), rng.uniform(0.0, 0.05))
        judge(root, acks)
        acknowledged += len(acks)
    assert acknowledged > 100, f"only {acknowledged} acknowledged changes: the kills landed too early to test much"
