"""Group commit as the tests drive it: counters, one task each, bumped through ``Store.commit_async``.

Each task's record holds a counter ``n``; a bump reads it and writes ``n + 1``, so a bump computed on a stale
state would show (two bumps landing on the same ``n``). ``python -m tests.helpers.grouping ROOT WORKERS
[FAULT NTH]`` is the process the SIGKILL test kills: ``WORKERS`` coroutines bump their own task for ever and
print ``SEQ TASK N`` (one ``os.write``) each time a bump returns; with ``FAULT``, the process kills itself at
the NTH time the journal reaches that fault step (``journal.mid-append``, ``journal.before-fsync``...).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from orchestra_tui.store import Entry, Mutation, Store, fsio
from orchestra_tui.store.changes import diff_record

PROJECT_ID = "grouping"


def open_store(root: Path) -> Store:
    return Store.open(root / ".orchestra", project_id=PROJECT_ID, version="test")


def bump(store: Store, task_id: str) -> Mutation:
    """The change that adds one to the task's counter (creating the task at 1)."""
    old = store.tasks.get(task_id)
    new = {"task_id": task_id, "status": "pending", "n": (old or {}).get("n", 0) + 1}
    change = diff_record(task_id, old, new)
    assert change is not None
    return Mutation([change], "bump", f"{task_id} -> {new['n']}", {"tasks": [task_id]})


async def bump_async(store: Store, task_id: str) -> Entry:
    entry = await store.commit_async(lambda: bump(store, task_id), actor="test", reads=lambda: frozenset((task_id,)))
    assert entry is not None
    return entry


async def _bump_for_ever(store: Store, task_id: str) -> None:
    while True:
        entry = await bump_async(store, task_id)
        os.write(1, f"{entry.seq} {task_id} {store.tasks[task_id]['n']}\n".encode())


def _kill_at(step: str, nth: int) -> None:
    seen = 0

    def hook(name: str) -> None:
        nonlocal seen
        if name == step:
            seen += 1
            if seen == nth:
                os.kill(os.getpid(), signal.SIGKILL)

    fsio.fault_hook = hook


async def _main(root: Path, workers: int) -> None:
    store = open_store(root)
    await asyncio.gather(*(_bump_for_ever(store, f"W{index}") for index in range(workers)))


if __name__ == "__main__":
    if len(sys.argv) > 3:
        _kill_at(sys.argv[3], int(sys.argv[4]))
    asyncio.run(_main(Path(sys.argv[1]), int(sys.argv[2])))
