"""The state lock on one kept descriptor (store/statelock.py): exclusive across processes, re-entrant within one,
never held on a lock file that is no longer at its path, never shared with a forked child."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from orchestra_tui.store.statelock import LockBusy, StateLock

POLL = 0.001
HOLDER = """
import sys
from pathlib import Path
from orchestra_tui.store.statelock import StateLock
lock = StateLock(Path(sys.argv[1]))
lock.acquire(5.0, 0.001)
print("held", flush=True)
sys.stdin.readline()
lock.release()
print("released", flush=True)
sys.stdin.readline()
"""


def holder(path: Path) -> subprocess.Popen[str]:
    """A process that holds the lock until told (a line on its stdin), then releases it."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None and process.stdout.readline().strip() == "held"
    return process


def tell(process: subprocess.Popen[str]) -> str:
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write("\n")
    process.stdin.flush()
    return process.stdout.readline().strip()


def test_another_process_holding_it_keeps_us_out_until_it_releases(tmp_path: Path) -> None:
    path = tmp_path / "lock"
    lock = StateLock(path)
    other = holder(path)
    try:
        with pytest.raises(LockBusy):
            lock.acquire(0.05, POLL)
        assert lock.depth == 0
        assert tell(other) == "released"
        lock.acquire(0.0, POLL)
        assert lock.depth == 1
        lock.release()
    finally:
        other.kill()
        other.wait(timeout=10)
        lock.close()


def test_it_is_reentrant_and_free_only_after_the_last_release(tmp_path: Path) -> None:
    path = tmp_path / "lock"
    mine, theirs = StateLock(path), StateLock(path)  # two descriptors: flock excludes them as two processes
    try:
        mine.acquire(0.0, POLL)
        mine.acquire(0.0, POLL)  # (a listener committing while the store holds it)
        mine.release()
        with pytest.raises(LockBusy):
            theirs.acquire(0.0, POLL)
        mine.release()
        theirs.acquire(0.0, POLL)
        theirs.release()
    finally:
        mine.close()
        theirs.close()


def test_a_lock_file_replaced_at_its_path_is_locked_afresh_not_the_old_one(tmp_path: Path) -> None:
    """``.orchestra/`` moved away and made again while a process keeps its descriptor: the lock it takes must be the
    one other processes take now, at the path."""
    path = tmp_path / "lock"
    lock = StateLock(path)
    lock.acquire(0.0, POLL)
    lock.release()
    path.unlink()
    path.write_bytes(b"")
    other = holder(path)  # holds the new file
    try:
        with pytest.raises(LockBusy):
            lock.acquire(0.05, POLL)
        tell(other)
        lock.acquire(0.0, POLL)
        lock.release()
        path.unlink()  # gone altogether: made again
        lock.acquire(0.0, POLL)
        assert path.is_file()
        lock.release()
    finally:
        other.kill()
        other.wait(timeout=10)
        lock.close()


def test_a_forked_child_does_not_share_the_parents_hold(tmp_path: Path) -> None:
    lock = StateLock(tmp_path / "lock")
    lock.acquire(0.0, POLL)
    try:
        pid = os.fork()
        if pid == 0:  # the child: the descriptor it inherited shares the parent's flock; it must open its own
            child = 1
            try:
                lock.acquire(0.0, POLL)
                child = 2  # it got in beside the parent: wrong
            except LockBusy:
                child = 0
            finally:
                os._exit(child)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert lock.depth == 1
    finally:
        lock.release()
        lock.close()
